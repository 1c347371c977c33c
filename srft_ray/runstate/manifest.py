"""Round manifests: per stage status, input/output hashes, metrics and attempts, so a restarted
loop resumes instead of redoing what finished.

A stage is skipped on restart only when it is done AND the hash of its inputs (config hash, the
content hash of the datasets and checkpoints it reads) equals the hash recorded when it ran.
Inputs chain through outputs (critique's input is collect's output hash), so redoing one stage
invalidates everything downstream of it without any extra bookkeeping.
Manifests are written atomically (temporary file, fsync, rename): a crash mid-write leaves the
previous manifest in place. The directory layout lives in `srft_ray.runstate.layout` and the
hashes in `srft_ray.runstate.hashing`; the names below re-export the ones callers need together.
"""

from __future__ import annotations

import fcntl
import json
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from srft_ray.data.model import DataError
from srft_ray.runstate.hashing import (
    checkpoint_hash,
    content_hash,
    dataset_hash,
    file_hash,
    inputs_hash,
    json_hash,
    read_json,
    write_json_atomic,
)
from srft_ray.runstate.layout import (
    OPTIONAL_STAGES,
    STAGE_METRICS,
    STAGES,
    TRAIN_METRIC_FIELDS,
    RoundPaths,
    append_train_metrics,
    read_train_metrics,
    report_dir,
    round_dir,
    round_paths,
)

__all__ = [
    "OPTIONAL_STAGES",
    "STAGE_METRICS",
    "STAGES",
    "TRAIN_METRIC_FIELDS",
    "RoundManifest",
    "RoundPaths",
    "Stage",
    "StageRecord",
    "append_train_metrics",
    "checkpoint_hash",
    "content_hash",
    "dataset_hash",
    "file_hash",
    "inputs_hash",
    "json_hash",
    "read_train_metrics",
    "report_dir",
    "round_dir",
    "round_paths",
    "write_json_atomic",
]

MANIFEST_VERSION = 1
StageStatus = Literal["pending", "running", "done", "failed"]
STATUSES: tuple[str, ...] = ("pending", "running", "done", "failed")


# ----------------------------------------------------------------------------- round manifest


@dataclass(kw_only=True)
class StageRecord:
    """What one stage of one round did: its status, inputs, outputs, metrics and attempts."""

    status: StageStatus = "pending"
    inputs: dict[str, str] = field(default_factory=dict)
    """Input name -> content hash (config, dataset, checkpoint)."""
    inputs_hash: str = ""
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    """Output name -> {"path": relative to the run dir when inside it, "hash": content hash}."""
    metrics: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    error: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    """One entry per start: {"started_at", "ended_at", "status", "inputs_hash", "error"}."""

    @property
    def wall_s(self) -> float:
        """Seconds spent in this stage over all attempts (interrupted ones count up to now)."""
        total = 0.0
        for attempt in self.attempts:
            end = attempt.get("ended_at")
            if end is None:  # still running (only the last attempt can be)
                end = time.time()
            total += max(0.0, end - attempt["started_at"])
        return total


class Stage:
    """A handle on one stage of a round manifest; every change is saved at once."""

    def __init__(self, manifest: RoundManifest, name: str):
        self.manifest = manifest
        self.name = name

    @property
    def record(self) -> StageRecord:
        return self.manifest.stages[self.name]

    def is_done(self, current_inputs_hash: str) -> bool:
        return self.manifest.is_done(self.name, current_inputs_hash)

    def should_resume(self, current_inputs_hash: str) -> bool:
        """True when an earlier attempt on the same inputs did not finish: keep its partial output."""
        rec = self.record
        return rec.status in ("running", "failed") and rec.inputs_hash == current_inputs_hash

    def start(self, inputs: Mapping[str, str]) -> Stage:
        rec = self.record
        now = time.time()
        if rec.attempts and rec.attempts[-1].get("ended_at") is None:
            # The previous attempt died with the driver. It ended some time after its last
            # heartbeat; counting up to now would add the downtime to the stage's wall time.
            last = rec.attempts[-1]
            last.update(ended_at=last.get("last_seen_at", last["started_at"]), status="interrupted")
        rec.inputs = dict(inputs)
        rec.inputs_hash = inputs_hash(inputs)
        rec.status, rec.started_at, rec.finished_at, rec.error = "running", now, None, ""
        rec.attempts.append(
            {
                "started_at": now,
                "ended_at": None,
                "status": "running",
                "inputs_hash": rec.inputs_hash,
            }
        )
        self.manifest.save_stage(self.name)
        return self

    def heartbeat(self, metrics: Mapping[str, Any] | None = None) -> None:
        """Record that the stage is alive (and its partial metrics); call every few seconds."""
        rec = self._require_running("heartbeat")
        rec.attempts[-1]["last_seen_at"] = time.time()
        if metrics:
            rec.metrics = json.loads(json.dumps(dict(metrics), default=str))
        self.manifest.save_stage(self.name)

    def finish(
        self,
        outputs: Mapping[str, str | Path] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> Stage:
        """Mark done; each output path is content-hashed so downstream stages can key on it."""
        rec = self._require_running("finish")
        rec.outputs = {
            name: {"path": self.manifest.relative(path), "hash": content_hash(path)}
            for name, path in (outputs or {}).items()
        }
        rec.metrics = json.loads(json.dumps(dict(metrics or {}), default=str))
        self._end("done")
        return self

    def fail(self, error: BaseException | str) -> Stage:
        rec = self._require_running("fail")
        if isinstance(error, BaseException):
            error = "".join(traceback.format_exception_only(type(error), error)).strip()
        rec.error = str(error)[-4000:]
        self._end("failed")
        return self

    def output_hash(self, name: str) -> str:
        try:
            return self.record.outputs[name]["hash"]
        except KeyError:
            raise DataError(
                f"{self.manifest.path}: stage {self.name!r} has no output {name!r} "
                f"(status {self.record.status})"
            ) from None

    def output_path(self, name: str) -> Path:
        self.output_hash(name)
        return self.manifest.absolute(self.record.outputs[name]["path"])

    def _require_running(self, action: str) -> StageRecord:
        rec = self.record
        if rec.status != "running":
            raise RuntimeError(f"stage {self.name!r}: {action}() before start() (is {rec.status})")
        return rec

    def _end(self, status: StageStatus) -> None:
        rec = self.record
        rec.status, rec.finished_at = status, time.time()
        rec.attempts[-1].update(ended_at=rec.finished_at, status=status, error=rec.error)
        self.manifest.save_stage(self.name)


class RoundManifest:
    """RUN_DIR/round-NNN/manifest.json: the state of one round's four stages."""

    def __init__(self, run_dir: Path, round_index: int, stages: dict[str, StageRecord]):
        self.run_dir = Path(run_dir)
        self.round_index = round_index
        self.paths = round_paths(run_dir, round_index)
        self.stages = stages
        self._thread_lock = threading.RLock()
        self._lock_file: Any = None  # the open lock file while this object holds the lock

    @property
    def path(self) -> Path:
        return self.paths.manifest

    @classmethod
    def load_or_create(cls, run_dir: str | Path, round_index: int) -> RoundManifest:
        path = round_paths(run_dir, round_index).manifest
        if path.exists():
            return cls.load(path, run_dir=run_dir)
        manifest = cls.empty(run_dir, round_index)
        with manifest._locked():
            if path.exists():  # another process created it meanwhile
                return cls.load(path, run_dir=run_dir)
            manifest.save()
        return manifest

    @classmethod
    def empty(cls, run_dir: str | Path, round_index: int) -> RoundManifest:
        """A manifest with every stage pending, not yet written."""
        return cls(Path(run_dir), round_index, {name: StageRecord() for name in STAGES})

    @classmethod
    def load(cls, path: str | Path, run_dir: str | Path | None = None) -> RoundManifest:
        path = Path(path)
        run_dir = Path(run_dir) if run_dir else path.parent.parent
        return cls(run_dir, *cls._parse(read_json(path, "round manifest"), path))

    @staticmethod
    def _parse(data: dict[str, Any], path: Path) -> tuple[int, dict[str, StageRecord]]:
        if data.get("version") != MANIFEST_VERSION:
            raise DataError(f"{path}: manifest version {data.get('version')!r} is not supported")
        stages: dict[str, StageRecord] = {}
        recorded = data.get("stages", {})
        for name in (*STAGES, *(s for s in OPTIONAL_STAGES if s in recorded)):
            raw = recorded.get(name, {})
            try:
                stages[name] = StageRecord(**raw)
            except TypeError as exc:
                raise DataError(f"{path}: stage {name!r}: {exc}") from None
            if stages[name].status not in STATUSES:
                raise DataError(f"{path}: stage {name!r}: unknown status {stages[name].status!r}")
        return int(data["round"]), stages

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "round": self.round_index,
            "stages": {name: asdict(rec) for name, rec in self.stages.items()},
        }

    def save(self) -> None:
        """Write every stage as this object holds it."""
        with self._locked():
            write_json_atomic(self.path, self.to_dict())

    def save_stage(self, name: str) -> None:
        """Write this stage's record, keeping what other writers recorded for the other stages.

        Collect and critique overlap and may run in different processes (separate jobs): each
        re-reads the file under a lock and replaces only its own stage, so neither update is lost.
        """
        with self._locked():
            if self.path.exists():
                _, on_disk = self._parse(read_json(self.path, "round manifest"), self.path)
                for other, record in on_disk.items():
                    if other != name:
                        self.stages[other] = record
            write_json_atomic(self.path, self.to_dict())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across threads and processes; re-entrant within one thread.

        flock belongs to an open file: a nested open()+flock in the same process would wait on
        itself forever, so only the outermost level takes the file lock.
        """
        with self._thread_lock:
            if self._lock_file is not None:
                yield
                return
            self.paths.root.mkdir(parents=True, exist_ok=True)
            with open(self.paths.root / ".manifest.lock", "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                self._lock_file = lock_file
                try:
                    yield
                finally:
                    self._lock_file = None
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def stage(self, name: str) -> Stage:
        if name in OPTIONAL_STAGES and name not in self.stages:  # recorded from now on
            with self._thread_lock:
                self.stages.setdefault(name, StageRecord())
        if name not in self.stages:
            raise KeyError(f"unknown stage {name!r}; stages are {STAGES + OPTIONAL_STAGES}")
        return Stage(self, name)

    def is_done(self, name: str, current_inputs_hash: str) -> bool:
        """Done, on the same inputs, and its outputs are still on disk."""
        rec = self.stage(name).record
        return (
            rec.status == "done"
            and rec.inputs_hash == current_inputs_hash
            and all(self.absolute(out["path"]).exists() for out in rec.outputs.values())
        )

    @property
    def status(self) -> StageStatus:
        statuses = [rec.status for rec in self.stages.values()]
        if all(s == "done" for s in statuses):
            return "done"
        for status in ("failed", "running"):
            if status in statuses:
                return status  # type: ignore[return-value]
        return "running" if "done" in statuses else "pending"

    def relative(self, path: str | Path) -> str:
        path = Path(path).resolve()
        try:
            return path.relative_to(self.run_dir.resolve()).as_posix()
        except ValueError:
            return str(path)

    def absolute(self, path: str) -> Path:
        return Path(path) if Path(path).is_absolute() else self.run_dir / path


# ----------------------------------------------------------------------------- run manifest
