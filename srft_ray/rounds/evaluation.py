"""Held-out evaluation: run the policy checkpoint on tasks it never trained on and grade it.

Evaluation is collection with the vllm policy pointed at the checkpoint, on the held-out split,
greedy by default, into its own store (so it resumes like collection does), then a count.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srft_ray.collect import CollectConfig, collect
from srft_ray.data.model import Task
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.config import EvaluateConfig


def eval_collect_config(
    config: EvaluateConfig, model_path: str, tasks: list[Task], *, round_index: int, source: str
) -> CollectConfig:
    """The CollectConfig that evaluates `model_path` on `tasks`."""
    episode = copy.deepcopy(config.episode)
    episode.policy.kind = "vllm"
    episode.policy.engine.model = str(model_path)
    episode.policy.version = Path(model_path).name
    episode.policy.sampling.temperature = config.temperature
    return CollectConfig(
        round=round_index,
        tasks=source,
        instance_ids=[t.instance_id for t in tasks],
        samples_per_task=config.samples_per_task,
        num_workers=config.num_workers,
        episodes_per_worker=config.episodes_per_worker,
        worker_num_cpus=config.worker_num_cpus,
        episode=episode,
    )


def resolve_metrics(
    store: TrajectoryStore, tasks: list[Task], samples_per_task: int = 1
) -> dict[str, Any]:
    """Resolve rate over every (task, sample) episode asked for, with a 95% bootstrap interval
    over tasks; an episode that failed (no trajectory) counts as unresolved."""
    from srft_ray.rounds.stats import resolve_rate_ci

    found: dict[tuple[str, int], bool] = {}
    ended: dict[str, int] = {}
    for traj in store:
        sample = int(traj.trajectory_id.rsplit("/", 1)[-1])
        found[(traj.instance_id, sample)] = bool(traj.outcome.resolved)
        status = traj.outcome.exit_status or "unknown"
        ended[status] = ended.get(status, 0) + 1
    outcomes = {
        t.instance_id: [found.get((t.instance_id, i), False) for i in range(samples_per_task)]
        for t in tasks
    }
    num_episodes = sum(len(v) for v in outcomes.values())
    resolved = sum(sum(v) for v in outcomes.values())
    rate, ci = resolve_rate_ci({"0": outcomes}) if tasks else (0.0, (0.0, 0.0))
    return {
        "num_tasks": len(tasks),
        "num_episodes": num_episodes,
        "num_resolved": resolved,
        "resolve_rate": resolved / num_episodes if num_episodes else 0.0,
        "ci95": [round(ci[0], 4), round(ci[1], 4)],
        "resolved_ids": sorted(i for i, v in outcomes.items() if any(v)),
        # how the episodes ended (submitted, step_limit, time_limit, ...): a time_limit count
        # says the wall clock of a loaded machine, not the policy, decided some outcomes
        "ended": dict(sorted(ended.items())),
        "outcomes": outcomes,
    }


def evaluate_policy(
    config: EvaluateConfig,
    model_path: str | Path,
    tasks: list[Task],
    store: TrajectoryStore,
    *,
    round_index: int = 0,
    source: str = "embedded",
    engine: Any = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Episodes of `model_path` on `tasks` into `store`; returns STAGE_METRICS["evaluate"]."""
    collect_config = eval_collect_config(
        config, str(model_path), tasks, round_index=round_index, source=source
    )
    summary = collect(
        collect_config,
        tasks,
        store,
        engine=engine,
        log=lambda line: log(line.replace("[collect]", "[evaluate]", 1)),
        label="evaluate",
    )
    metrics = resolve_metrics(store, tasks, config.samples_per_task)
    metrics["num_failed_episodes"] = summary.num_failed
    return metrics
