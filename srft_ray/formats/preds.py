"""SWE-bench predictions: `preds.json` ({instance_id: {instance_id, model_name_or_path,
model_patch}}, what mini-swe-agent and SWE-agent write and swebench's harness reads) or its
JSONL variant (one such record per line), chosen by the output file's suffix.

One prediction per instance. When several trajectories share an instance, the pick is: a
resolved one first, then any with a non-empty patch, then the first seen; the rest are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srft_ray.data.model import Trajectory
from srft_ray.data.store import TrajectoryStore

DEFAULT_MODEL_NAME = "srft-ray"


@dataclass(kw_only=True)
class PredsReport:
    """What an export wrote."""

    path: Path
    num_predictions: int
    num_empty_patches: int
    num_duplicates_skipped: int


def predictions(
    trajs: Iterable[Trajectory], *, model_name: str | None = None
) -> tuple[dict[str, dict[str, Any]], int]:
    """`{instance_id: prediction}` and how many trajectories lost to another of their instance."""
    chosen: dict[str, Trajectory] = {}
    num_seen = 0
    for traj in trajs:
        num_seen += 1
        best = chosen.get(traj.instance_id)
        if best is None or _rank(traj) < _rank(best):
            chosen[traj.instance_id] = traj
    preds = {
        iid: {
            "instance_id": iid,
            "model_name_or_path": model_name or traj.provenance.policy_model or DEFAULT_MODEL_NAME,
            "model_patch": traj.outcome.patch,
        }
        for iid, traj in sorted(chosen.items())
    }
    return preds, num_seen - len(chosen)


def write_preds(
    source: TrajectoryStore | Iterable[Trajectory],
    out: str | Path,
    *,
    model_name: str | None = None,
) -> PredsReport:
    """Write `out` as preds.json, or JSONL when `out` ends in `.jsonl`."""
    out = Path(out)
    preds, num_dupes = predictions(source, model_name=model_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".jsonl":
        lines = [json.dumps(pred, ensure_ascii=False) for pred in preds.values()]
        out.write_text("".join(line + "\n" for line in lines))
    else:
        out.write_text(json.dumps(preds, indent=2, ensure_ascii=False) + "\n")
    num_empty = sum(1 for pred in preds.values() if not pred["model_patch"])
    return PredsReport(
        path=out,
        num_predictions=len(preds),
        num_empty_patches=num_empty,
        num_duplicates_skipped=num_dupes,
    )


def _rank(traj: Trajectory) -> int:
    # Lower is better; ties keep the first seen (strict < above), so the order is stable.
    if traj.outcome.resolved:
        return 0
    return 1 if traj.outcome.patch.strip() else 2
