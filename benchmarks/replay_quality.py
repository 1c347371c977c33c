"""Replay labels against the teacher's ground truth on held-out repositories, with their cost.

Collects imitable-teacher episodes (the embedded profile) on the held-out split of the task
family (whole repositories no training task comes from), labels them with the replay source
and with the rules, and scores both against the teacher's ground truth (bad = mistake):
precision, recall, F1, a kind-by-kind confusion matrix, and the cost: sandbox-seconds and wall
seconds per labelled trajectory, test runs and cache hits; plus what recording the tree costs
a step during collection (the same episodes with and without recording, side by side).

    python benchmarks/replay_quality.py --num-episodes 60 --out benchmarks/results/replay_quality.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from srft_ray.agent.config import AgentConfig
from srft_ray.agent.episode import EpisodeConfig, EpisodeRunner
from srft_ray.agent.policies import PolicyConfig
from srft_ray.agent.scripted import ScriptedConfig
from srft_ray.agent.teacher import TeacherProfile
from srft_ray.critic.replay import ReplayLabeller
from srft_ray.critic.replay_states import ReplayConfig
from srft_ray.critic.rules import combine, rule_labels
from srft_ray.data.model import canonical_label
from srft_ray.rounds.config import TaskSplitConfig, split_tasks
from srft_ray.tasks.source import load_task_source

KINDS = ("good", "unnecessary", "mistake", "recover", "unknown")


def scores(pairs: list[tuple[str, str]]) -> dict:
    """Binary P/R/F1 with bad = mistake, and the confusion matrix truth -> predicted -> count."""
    tp = sum(t == "mistake" and p == "mistake" for t, p in pairs)
    fp = sum(t != "mistake" and p == "mistake" for t, p in pairs)
    fn = sum(t == "mistake" and p != "mistake" for t, p in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    matrix: dict[str, dict[str, int]] = {}
    for truth, predicted in pairs:
        row = matrix.setdefault(truth, {})
        row[predicted] = row.get(predicted, 0) + 1
    return {
        "num_steps": len(pairs),
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "confusion": matrix,
    }


def collect(source, tasks, record_trees: bool, profile: TeacherProfile):
    scripted = ScriptedConfig(mode="imitable", profile=profile)
    config = EpisodeConfig(
        agent=AgentConfig(templates="compact", step_limit=14, record_trees=record_trees),
        policy=PolicyConfig(kind="scripted", scripted=scripted),
    )
    runner = EpisodeRunner(config, task_source=source, config_hash="replay-quality")
    try:
        for task in tasks:  # checkouts first: their cost is not a step's
            runner.checkout(task)
        return [runner.run(task, 0) for task in tasks]
    finally:
        runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="generated:400:0:1")
    parser.add_argument("--num-episodes", type=int, default=60)
    parser.add_argument("--resolve-probability", type=float, default=0.7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    source = load_task_source(args.tasks)
    split = TaskSplitConfig(source=args.tasks, split_by="repo", eval_fraction=0.3)
    _, held_out = split_tasks(source.tasks(), split)
    tasks = held_out[: args.num_episodes]
    profile = TeacherProfile(resolve_probability=args.resolve_probability)

    started = time.monotonic()
    plain = collect(source, tasks, False, profile)
    recorded = collect(source, tasks, True, profile)
    exec_ms = {
        name: [1000 * s.exec_seconds for t in trajs for s in t.steps if s.command]
        for name, trajs in (("without", plain), ("with", recorded))
    }
    print(f"[replay-quality] {len(recorded)} held-out teacher episodes", file=sys.stderr)

    labeller = ReplayLabeller(ReplayConfig(tasks=args.tasks), task_source=source)
    label_started = time.monotonic()
    labelled = labeller.label_trajectories(recorded)
    label_wall = time.monotonic() - label_started
    labeller.close()

    pairs: dict[str, list[tuple[str, str]]] = {"replay": [], "rules": []}
    for traj in labelled:
        fired = rule_labels(traj)
        for step, rules in zip(traj.steps, fired):
            truth = canonical_label(step.label_from("scripted").label)
            replay = step.label_from("replay")
            pairs["replay"].append((truth, replay.label if replay else "unknown"))
            pairs["rules"].append((truth, combine("rules", None, rules)))
    stats = labeller.stats
    result = {
        "command": " ".join(["python", *sys.argv]),
        "tasks": args.tasks,
        "split": "held-out repositories (split_by=repo, eval_fraction=0.3)",
        "num_trajectories": len(labelled),
        "num_resolved": sum(bool(t.outcome.resolved) for t in labelled),
        "teacher_kinds": dict(Counter(p[0] for p in pairs["replay"])),
        "sources": {name: scores(found) for name, found in pairs.items()},
        "cost": {
            "replay_sandbox_s_per_trajectory": round(stats.sandbox_seconds / len(labelled), 2),
            "replay_wall_s_per_trajectory": round(label_wall / len(labelled), 2),
            "replay_test_runs": stats.num_test_runs,
            "replay_cache_hits": stats.num_cache_hits,
            "step_exec_ms_median": {k: round(statistics.median(v), 1) for k, v in exec_ms.items()},
            "step_exec_ms_mean": {k: round(statistics.mean(v), 1) for k, v in exec_ms.items()},
        },
        "wall_s": round(time.monotonic() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
