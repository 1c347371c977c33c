"""Label sources against the hand-labelled student steps (benchmarks/data/hand_labels.jsonl).

The student episodes are in benchmarks/data/hand_labelled_episodes, in four sets: `greedy` (19
greedy held-out episodes of a round-0 policy) and `sampled` (24 episodes sampled at temperature
0.7 in round 1), which shaped replay's rules, and two labelled after replay's rules were frozen,
the held-out figures: `heldout-rft` (30 episodes of an RFT-trained policy at temperature 0.7 on
held-out tasks -3 and -4 of each held-out repository) and `heldout-rounds` (30 greedy episodes
of the round-2 srft policy of the rounds run, `rounds_bench.py`, on held-out tasks -1 and -2). The labels were given by reading each step against the reference
patch (benchmarks/data/LABELLING_GUIDE.md). This labels them with the rules and the replay
source (replaying every command in a fresh checkout where an episode was collected before trees
were recorded) and scores both per set (bad = mistake), with `srft critic-eval`'s own function.

    python benchmarks/hand_label_eval.py --out benchmarks/results/hand_label_eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from srft_ray.critic.critic_eval import evaluate, load_reference_jsonl
from srft_ray.critic.replay import ReplayLabeller
from srft_ray.critic.replay_states import ReplayConfig
from srft_ray.data.store import TrajectoryStore

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=DATA / "hand_labelled_episodes")
    parser.add_argument("--labels", type=Path, default=DATA / "hand_labels.jsonl")
    parser.add_argument("--tasks", default="generated:400:0:1")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.labels.read_text().splitlines() if line.strip()]
    sets = sorted({row["set"] for row in rows})
    labeller = ReplayLabeller(ReplayConfig(tasks=args.tasks))
    started = time.monotonic()
    labelled = labeller.label_trajectories(list(TrajectoryStore(args.store)))
    wall = time.monotonic() - started
    labeller.close()
    reference = load_reference_jsonl(args.labels)
    result = {"command": " ".join(["python", *sys.argv]), "sets": {}}
    for name in [*sets, "all"]:
        ids = {r["trajectory_id"] for r in rows if name in ("all", r["set"])}
        chosen = [t for t in labelled if t.trajectory_id in ids]
        scores = {}
        for m in evaluate(chosen, reference):
            if m.mode in ("replay", "rules"):
                scores[m.mode] = {
                    "num_steps": m.num_steps,
                    "precision": round(m.precision, 3),
                    "recall": round(m.recall, 3),
                    "f1": round(m.f1, 3),
                    "confusion": m.confusion,
                }
        kinds: dict[str, int] = {}
        for row in rows:
            if name in ("all", row["set"]):
                kinds[row["label"]] = kinds.get(row["label"], 0) + 1
        result["sets"][name] = {"num_episodes": len(chosen), "hand_kinds": kinds, **scores}
    stats = labeller.stats
    result["replay_cost"] = {
        "sandbox_s_per_trajectory": round(stats.sandbox_seconds / max(1, len(labelled)), 2),
        "wall_s_per_trajectory": round(wall / max(1, len(labelled)), 2),
        "num_replayed": stats.num_replayed,
        "num_diverged_steps": stats.num_diverged_steps,
        "num_test_runs": stats.num_test_runs,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
