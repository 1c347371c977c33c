"""Resolution from a SWE-bench harness report, joined to trajectories by instance id.

Two report shapes are read: the run summary `swebench.harness.run_evaluation` writes
(`<model>.<run_id>.json`: `resolved_ids`, `unresolved_ids`, `error_ids`, `empty_patch_ids`, ...)
and a per-instance report (`{instance_id: {"resolved": bool, ...}}`, the harness's
`report.json`). Only the report decides `resolved`: an agent's own exit status ("Submitted" in
mini-swe-agent) says the agent stopped, not that the tests pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError, Trajectory
from srft_ray.formats.fields import read_json

UNRESOLVED_KEYS = ("unresolved_ids", "error_ids", "empty_patch_ids", "incomplete_ids")


@dataclass(kw_only=True)
class ReportJoin:
    num_resolved: int = 0
    num_unresolved: int = 0
    unmatched: list[str] = field(default_factory=list)
    """Instance ids of trajectories the report does not mention (their `resolved` is kept)."""


def read_resolution(path: str | Path) -> dict[str, bool]:
    """instance_id -> resolved, from either report shape; DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such report file")
    data, _ = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: a harness report is a JSON object")
    if "resolved_ids" in data:
        out: dict[str, bool] = {}
        for key in ("resolved_ids", *UNRESOLVED_KEYS):
            ids = data.get(key, [])
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise DataError(f"{path}: field '{key}' is not a list of instance ids")
            for iid in ids:
                out.setdefault(iid, key == "resolved_ids")
        return out
    out = {}
    for iid, entry in data.items():
        resolved = entry.get("resolved") if isinstance(entry, dict) else None
        if not isinstance(resolved, bool):
            raise DataError(f"{path}: field '{iid}.resolved' missing or not true/false")
        out[iid] = resolved
    return out


def join_resolution(trajs: list[Trajectory], resolution: dict[str, Any]) -> ReportJoin:
    """Set `outcome.resolved` of every trajectory whose instance the report graded."""
    join = ReportJoin()
    for traj in trajs:
        if traj.instance_id not in resolution:
            join.unmatched.append(traj.instance_id)
            continue
        traj.outcome.resolved = bool(resolution[traj.instance_id])
        if traj.outcome.resolved:
            join.num_resolved += 1
        else:
            join.num_unresolved += 1
    return join
