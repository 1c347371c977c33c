"""What the report shows about a run, read from its files: per round, the label counts, the
resolve rates (collected and held-out, with the held-out 95% CI), the trained-token share and the
loss curve (RoundData, load_round), and the base model's evaluation (base_metrics)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srft_ray.data.model import LABELS, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.runstate.layout import read_train_metrics
from srft_ray.runstate.manifest import RoundManifest

LABEL_SOURCES = ("human", "replay", "critic", "rule", "outcome", "scripted")


@dataclass
class RoundData:
    """What the page shows about one round."""

    manifest: RoundManifest
    label_counts: dict[str, int] = field(default_factory=dict)
    collect_resolved: tuple[int, int] | None = None
    eval_resolved: tuple[int, int] | None = None
    eval_ci95: tuple[float, float] | None = None
    trained_token_share: float | None = None
    losses: list[tuple[float, float]] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)
    num_trajectories: int = 0


def step_label(step: Any) -> str:
    found = step.label_from(*LABEL_SOURCES)
    return found.label if found else "unknown"


def _resolved(store_path: Path) -> tuple[int, int] | None:
    if not store_path.is_dir() or not any(store_path.glob("part-*.parquet")):
        return None
    trajs = TrajectoryStore(store_path).read_all()
    return sum(bool(t.outcome.resolved) for t in trajs), len(trajs)


def load_round(manifest: RoundManifest, max_trajectories: int) -> RoundData:
    paths, stages = manifest.paths, manifest.stages
    data = RoundData(manifest=manifest)
    store = paths.labelled if any(paths.labelled.glob("part-*.parquet")) else paths.collected
    counts = dict.fromkeys(LABELS, 0)
    if store.is_dir():
        for traj in TrajectoryStore(store):
            data.num_trajectories += 1
            if len(data.trajectories) < max_trajectories:
                data.trajectories.append(traj)
            if store == paths.labelled:
                for step in traj.steps:
                    counts[step_label(step)] += 1
    if sum(counts.values()):
        data.label_counts = counts
    elif "num_steps" in stages["critique"].metrics:
        metrics = dict(stages["critique"].metrics)
        metrics.setdefault("num_mistake", metrics.get("num_bad", 0))  # runs before the 4 kinds
        data.label_counts = {k: int(metrics.get(f"num_{k}", 0)) for k in counts}
    data.collect_resolved = _resolved(paths.collected)
    evaluate = stages["evaluate"].metrics
    if "num_tasks" in evaluate and "num_resolved" in evaluate:
        episodes = evaluate.get("num_episodes", evaluate["num_tasks"])  # older runs: per task
        data.eval_resolved = (int(evaluate["num_resolved"]), int(episodes))
        data.eval_ci95 = ci95_of(evaluate)
    else:
        data.eval_resolved = _resolved(paths.eval)
    records = read_train_metrics(paths.train_metrics)
    data.losses = [(r["step"], float(r["loss"])) for r in records if "loss" in r]
    share = stages["train"].metrics.get("trained_token_share")
    if share is None and records and all("tokens" in r for r in records):
        total = sum(r["tokens"] for r in records)
        share = sum(r["trained_tokens"] for r in records) / total if total else None
    data.trained_token_share = share
    return data


def ci95_of(metrics: dict[str, Any]) -> tuple[float, float] | None:
    ci = metrics.get("ci95")
    return (float(ci[0]), float(ci[1])) if ci and len(ci) == 2 else None


def base_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The evaluation metrics of the untrained base model (RUN_DIR/base/result.json), if any."""
    result = Path(run_dir) / "base" / "result.json"
    if not result.exists():
        return None
    return json.loads(result.read_text()).get("metrics", {})
