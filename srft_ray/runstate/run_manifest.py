"""RUN_DIR/run.json: the run's config (with a history of changes) and the rounds it started."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError
from srft_ray.runstate.hashing import json_hash, read_json, write_json_atomic
from srft_ray.runstate.layout import round_paths
from srft_ray.runstate.manifest import MANIFEST_VERSION, RoundManifest


class RunManifest:
    """RUN_DIR/run.json: the run's config (and earlier configs, if it changed) and its rounds."""

    def __init__(self, run_dir: Path, data: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.data = data

    @property
    def path(self) -> Path:
        return self.run_dir / "run.json"

    @classmethod
    def load_or_create(cls, run_dir: str | Path, config: Any = None) -> RunManifest:
        """Open a run; `config` (a dataclass or dict) is recorded, and a change is kept in history."""
        run_dir = Path(run_dir)
        path = run_dir / "run.json"
        if path.exists():
            data = read_json(path, "run manifest")
        else:
            data = {"version": MANIFEST_VERSION, "created_at": time.time(), "rounds": []}
            data.update(config=None, config_hash="", config_history=[])
        manifest = cls(run_dir, data)
        if config is not None:
            manifest.set_config(config)
        elif not path.exists():
            manifest.save()
        return manifest

    @classmethod
    def load(cls, run_dir: str | Path) -> RunManifest:
        run_dir = Path(run_dir)
        if not (run_dir / "run.json").exists():
            raise DataError(f"{run_dir}: not a run directory (no run.json)")
        return cls(run_dir, read_json(run_dir / "run.json", "run manifest"))

    def set_config(self, config: Any) -> bool:
        """Record the run config; returns True when it differs from the recorded one."""
        plain = json.loads(
            json.dumps(asdict(config) if is_dataclass(config) else config, default=str)
        )
        new_hash = json_hash(plain)
        changed = bool(self.data["config_hash"]) and self.data["config_hash"] != new_hash
        if changed:
            self.data["config_history"].append(
                {"config_hash": self.data["config_hash"], "replaced_at": time.time()}
            )
        if new_hash != self.data["config_hash"]:
            self.data.update(config=plain, config_hash=new_hash)
            self.save()
        return changed

    @property
    def config(self) -> dict[str, Any] | None:
        return self.data.get("config")

    def round(self, index: int) -> RoundManifest:
        """The manifest of round `index`, created (and listed here) on first use."""
        if index not in self.data["rounds"]:
            self.data["rounds"] = sorted({*self.data["rounds"], index})
            self.save()
        return RoundManifest.load_or_create(self.run_dir, index)

    def round_indices(self) -> list[int]:
        """Rounds listed here or found on disk (a crash can leave one unlisted)."""
        found = {
            int(p.parent.name.split("-")[1]) for p in self.run_dir.glob("round-*/manifest.json")
        }
        return sorted(found | set(self.data["rounds"]))

    def rounds(self) -> Iterator[RoundManifest]:
        """Every round's manifest, read only (a listed round without a file reads as pending)."""
        for index in self.round_indices():
            path = round_paths(self.run_dir, index).manifest
            if path.exists():
                yield RoundManifest.load(path, run_dir=self.run_dir)
            else:
                yield RoundManifest.empty(self.run_dir, index)

    def save(self) -> None:
        write_json_atomic(self.path, self.data)
