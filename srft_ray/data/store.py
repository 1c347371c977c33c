"""Arrow schema for trajectories and a Parquet store that appends incrementally.

A store is a directory of Parquet part files. Each `append` writes one new part atomically
(temporary name, fsync, hard link to its final name, fsync of the folder), so a crash loses at
most the batch in flight and never leaves a half-written file that readers would trip on. Part
names carry the writer (host, pid, random), so several writers on one folder never pick the same
name, and the link refuses to replace a part that exists. The store refuses to write a
trajectory id twice, whoever wrote it first: an append re-reads the ids of parts other writers
added, under a lock on the folder, before it decides; so retries after a crash or a dead worker,
or a second process on the same store, cannot duplicate data.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from srft_ray.data.model import (
    DataError,
    Outcome,
    Provenance,
    Step,
    StepLabel,
    ToolCall,
    Trajectory,
)

# 2: tool calls, raw outputs, tool schemas and the observation template (all nullable; parts
# written at version 1 read with empty tool calls and an unknown template).
# 3: each step's working tree (tree id and diff against base_commit; nullable, unrecorded).
SCHEMA_VERSION = 3
COMPLETE_MARKER = "_COMPLETE"

LABEL_TYPE = pa.struct(
    [
        ("label", pa.string()),
        ("source", pa.string()),
        ("confidence", pa.float64()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("rationale", pa.string()),
    ]
)
TOOL_CALL_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("name", pa.string()),
        ("arguments", pa.string()),  # JSON text as the model wrote it
        ("output", pa.string()),
        ("raw_output", pa.string()),
        ("returncode", pa.int32()),
    ]
)
STEP_TYPE = pa.struct(
    [
        ("index", pa.int32()),
        ("assistant", pa.string()),
        ("token_ids", pa.list_(pa.int32())),
        ("logprobs", pa.list_(pa.float64())),
        ("command", pa.string()),
        ("observation", pa.string()),
        ("returncode", pa.int32()),
        ("end_reason", pa.string()),
        ("model_seconds", pa.float64()),
        ("exec_seconds", pa.float64()),
        ("labels", pa.list_(LABEL_TYPE)),
        ("tool_calls", pa.list_(TOOL_CALL_TYPE)),
        ("output", pa.string()),
        ("tree", pa.string()),
        ("tree_diff", pa.string()),
    ]
)
OUTCOME_TYPE = pa.struct(
    [
        ("exit_status", pa.string()),
        ("patch", pa.string()),
        ("resolved", pa.bool_()),
        ("test_results", pa.string()),  # JSON object: test name -> status
        ("grading_log", pa.string()),
    ]
)
PROVENANCE_TYPE = pa.struct(
    [
        ("policy_model", pa.string()),
        ("policy_version", pa.string()),
        ("round", pa.int32()),
        ("sampling_params", pa.string()),  # JSON object
        ("config_hash", pa.string()),
        ("agent", pa.string()),
        ("created_at", pa.float64()),
        ("source_file", pa.string()),
    ]
)
TRAJECTORY_SCHEMA = pa.schema(
    [
        ("trajectory_id", pa.string()),
        ("instance_id", pa.string()),
        ("system_prompt", pa.string()),
        ("task_prompt", pa.string()),
        ("steps", pa.list_(STEP_TYPE)),
        ("outcome", OUTCOME_TYPE),
        ("provenance", PROVENANCE_TYPE),
        ("observation_role", pa.string()),
        ("extra", pa.string()),  # JSON object
        ("tools", pa.string()),  # JSON list of tool schemas
        ("observation_template", pa.string()),
    ],
    metadata={"srft_ray.schema_version": str(SCHEMA_VERSION)},
)


# The version-1 columns every readable part has.
OLD_SCHEMA_COLUMNS = (
    "trajectory_id",
    "instance_id",
    "system_prompt",
    "task_prompt",
    "steps",
    "outcome",
    "provenance",
    "observation_role",
    "extra",
)


def trajectory_to_record(traj: Trajectory) -> dict[str, Any]:
    """A plain dict matching TRAJECTORY_SCHEMA (dict-valued fields become JSON text)."""
    record = asdict(traj)
    record["outcome"]["test_results"] = json.dumps(traj.outcome.test_results, sort_keys=True)
    record["provenance"]["sampling_params"] = json.dumps(
        traj.provenance.sampling_params, sort_keys=True
    )
    record["extra"] = json.dumps(traj.extra, sort_keys=True)
    record["tools"] = json.dumps(traj.tools, sort_keys=True)
    return record


def trajectory_from_record(record: dict[str, Any]) -> Trajectory:
    """Inverse of `trajectory_to_record`."""
    extra = json.loads(record["extra"] or "{}")
    steps = [_step_from_record(s, extra) for s in record["steps"] or []]
    outcome = dict(record["outcome"])
    outcome["test_results"] = json.loads(outcome["test_results"] or "{}")
    provenance = dict(record["provenance"])
    provenance["sampling_params"] = json.loads(provenance["sampling_params"] or "{}")
    return Trajectory(
        trajectory_id=record["trajectory_id"],
        instance_id=record["instance_id"],
        system_prompt=record["system_prompt"],
        task_prompt=record["task_prompt"],
        steps=steps,
        outcome=Outcome(**outcome),
        provenance=Provenance(**provenance),
        observation_role=record["observation_role"],
        tools=json.loads(record.get("tools") or "[]"),
        observation_template=record.get("observation_template") or "",
        extra=extra,
    )


def _step_from_record(record: dict[str, Any], extra: dict[str, Any]) -> Step:
    fields = {k: v for k, v in record.items() if k not in ("labels", "tool_calls")}
    calls = [ToolCall(**call) for call in record.get("tool_calls") or []]
    if not calls:  # imported before schema 2: the raw OpenAI calls were kept in extra
        calls = _legacy_tool_calls(extra.get("tool_calls", {}).get(str(record["index"])))
    labels = [StepLabel(**lab) for lab in record["labels"] or []]
    return Step(**fields, tool_calls=calls, labels=labels)


def _legacy_tool_calls(raw: Any) -> list[ToolCall]:
    calls = []
    for call in raw if isinstance(raw, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments or {})
        calls.append(
            ToolCall(
                id=str(call.get("id") or ""),
                name=str(function.get("name") or ""),
                arguments=arguments,
            )
        )
    return calls


def trajectories_to_table(trajs: Iterable[Trajectory]) -> pa.Table:
    return pa.Table.from_pylist([trajectory_to_record(t) for t in trajs], schema=TRAJECTORY_SCHEMA)


def trajectories_from_table(table: pa.Table) -> list[Trajectory]:
    return [trajectory_from_record(r) for r in table.to_pylist()]


class TrajectoryStore:
    """An append-only directory of Parquet parts holding trajectories, unique by trajectory_id."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._ids: set[str] = set()
        self._scanned: set[str] = set()
        """Names of the parts whose ids are in `_ids` (parts are immutable once named)."""
        self._lock = threading.Lock()

    def parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    def ids(self) -> set[str]:
        """Trajectory ids stored so far by any writer (parts new since the last call are read)."""
        for part in self.parts():
            if part.name not in self._scanned:
                column = _read_part(part, columns=["trajectory_id"]).column(0)
                self._ids.update(column.to_pylist())
                self._scanned.add(part.name)
        return self._ids

    def __len__(self) -> int:
        return len(self.ids())

    def append(self, trajs: Iterable[Trajectory]) -> int:
        """Write the trajectories not yet stored as one new part; returns how many were written."""
        trajs = list(trajs)
        if not trajs:
            return 0
        with self._lock, _folder_lock(self.path):
            ids = self.ids()  # under the lock: what other writers stored counts
            fresh: dict[str, Trajectory] = {}
            for traj in trajs:
                if traj.trajectory_id not in ids:
                    fresh.setdefault(traj.trajectory_id, traj)
            if not fresh:
                return 0
            table = trajectories_to_table(fresh.values())
            next_index = max((_part_index(p) for p in self.parts()), default=-1) + 1
            final = self.path / f"part-{next_index:06d}-{_writer_id()}.parquet"
            tmp = self.path / f".tmp-{final.name}"
            pq.write_table(table, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            _publish(tmp, final)
            ids.update(fresh)
            self._scanned.add(final.name)
            return len(fresh)

    def __iter__(self) -> Iterator[Trajectory]:
        for part in self.parts():
            yield from trajectories_from_table(_read_part(part))

    def read_all(self) -> list[Trajectory]:
        return list(self)

    # A producer marks the store complete when it will write no more; consumers that stream
    # (critique tailing collection) stop once the store is complete and fully read.
    def mark_complete(self) -> None:
        (self.path / COMPLETE_MARKER).write_text("complete\n")

    def is_complete(self) -> bool:
        return (self.path / COMPLETE_MARKER).exists()

    def follow(self, poll_s: float = 0.5, timeout_s: float | None = None) -> Iterator[Trajectory]:
        """Yield trajectories as new parts appear, until the store is complete and drained."""
        seen: set[Path] = set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            complete = self.is_complete()  # read before listing parts, so no part is missed
            new = [part for part in self.parts() if part not in seen]
            for part in new:
                seen.add(part)
                yield from trajectories_from_table(_read_part(part))
            if complete and not new:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.path}: not complete after {timeout_s}s")
            if not new:
                time.sleep(poll_s)


def _part_index(part: Path) -> int:
    """The sequence number of `part-000012[-writer].parquet` (sorting by name keeps it)."""
    try:
        return int(part.stem.split("-")[1])
    except (IndexError, ValueError):
        return -1


def _writer_id() -> str:
    """host-pid-random: unique per part, so two writers cannot clash on a number."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


def _publish(tmp: Path, final: Path) -> None:
    """Give the written file its final name without ever replacing a part, then make it durable."""
    try:
        try:
            os.link(tmp, final)  # exclusive: fails if `final` exists
        except OSError as exc:
            no_links = exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)
            if not no_links and not isinstance(exc, FileExistsError):
                raise
            if isinstance(exc, FileExistsError) or final.exists():  # no links: check, rename
                raise DataError(
                    f"{final}: a part of that name exists; not overwriting it"
                ) from None
            os.rename(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(final.parent)


def fsync_dir(path: Path) -> None:
    """fsync a folder so a rename or link in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _folder_lock(path: Path):
    """An exclusive lock on the store across processes (flock on `.lock`; none where unsupported)."""
    with open(path / ".lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without flock: the unique part names still never clash
        yield


def _read_part(part: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        if columns:
            return pq.read_table(part, columns=columns)
        table = pq.read_table(part)
        # Parts of an older schema lack the newer (nullable) columns: read them as written.
        missing = [name for name in OLD_SCHEMA_COLUMNS if name not in table.column_names]
        if missing:
            raise DataError(f"{part}: not a trajectory part (no column(s) {missing})")
        if table.schema.metadata and table.schema.metadata.get(b"srft_ray.schema_version") == (
            str(SCHEMA_VERSION).encode()
        ):
            return table.cast(TRAJECTORY_SCHEMA)
        return table
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        raise DataError(f"{part}: not a readable trajectory part: {exc}") from exc


def read_part(part: str | Path) -> pa.Table:
    """One Parquet part of any schema version; DataError naming the file when unreadable."""
    return _read_part(Path(part))
