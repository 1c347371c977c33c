"""Write student episodes as plain text for hand labelling (benchmarks/data/LABELLING_GUIDE.md).

Each episode shows the issue, the task's reference patch, and every step's reply and
observation (long observations cut in the middle); no label of any source is shown.

    python benchmarks/hand_label_dump.py --store RUN/round-000/eval/trajectories --set greedy \
        --tasks generated:400:0:1 --out /tmp/greedy.md [--max-episodes 20]

--instances REGEX keeps the episodes of the matching tasks only. --id-prefix P renames the
episodes P/TRAJECTORY_ID (episodes of another run may carry the same ids as those already
labelled) and --copy-to STORE appends them, so renamed, to the store the labels are scored on
(benchmarks/data/hand_labelled_episodes).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path

from srft_ray.data.store import TrajectoryStore
from srft_ray.tasks.source import load_task_source


def _cut(text: str, limit: int = 1500) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


def chosen(store: Path, max_episodes: int, id_prefix: str = "", instances: str = "") -> list:
    """The first `max_episodes` episodes by id, of the tasks whose instance id matches the regex
    `instances` (all tasks when empty)."""
    found = [t for t in TrajectoryStore(store) if re.search(instances, t.instance_id)]
    trajectories = sorted(found, key=lambda t: t.trajectory_id)[:max_episodes]
    if id_prefix:
        trajectories = [
            replace(t, trajectory_id=f"{id_prefix}/{t.trajectory_id}") for t in trajectories
        ]
    return trajectories


def dump(trajectories: list, tasks: str, label_set: str) -> str:
    by_id = {task.instance_id: task for task in load_task_source(tasks).tasks()}
    parts = []
    for traj in trajectories:
        task = by_id[traj.instance_id]
        parts.append(
            f"# EPISODE {traj.trajectory_id}  (set: {label_set})\n\n## Issue\n"
            f"{task.problem_statement}\n\n## Reference patch\n```diff\n{task.patch}```\n\n"
            f"## Outcome: exit {traj.outcome.exit_status}, "
            f"resolved={traj.outcome.resolved}\n"
        )
        for step in traj.steps:
            observation = step.observation if step.observation is not None else step.output
            parts.append(
                f"\n### step {step.index}\n[reply]\n{_cut(step.assistant, 1200)}\n"
                f"[environment answered]\n{_cut(observation or '(nothing: episode ended)')}\n"
            )
        parts.append("\n")
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--set", dest="label_set", required=True)
    parser.add_argument("--max-episodes", type=int, default=1000)
    parser.add_argument("--id-prefix", default="")
    parser.add_argument("--instances", default="", help="regex on instance ids, e.g. '-[12]$'")
    parser.add_argument("--copy-to", type=Path, default=None)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    trajectories = chosen(args.store, args.max_episodes, args.id_prefix, args.instances)
    args.out.write_text(dump(trajectories, args.tasks, args.label_set))
    if args.copy_to is not None:
        TrajectoryStore(args.copy_to).append(trajectories)
    print(f"wrote {args.out} ({len(trajectories)} episodes)")


if __name__ == "__main__":
    main()
