"""Round wall time with and without overlapping stages, side by side in one run.

The loop's stages: collect -> critique (always streaming beside collection) -> train ->
evaluate. With `overlap_evaluation` (the default) round r's evaluation runs beside round r+1's
collection on the same policy engine (both use round r's export), and the base model's
evaluation beside the teacher's round; training waits for it. This runs the same small loop
twice on one Ray cluster, overlap off then on, and reports per round: each stage's wall time,
the slowest stage, their sequential sum, and the round's period (from its collection's start to
the next round's, or to the end of the run for the last), as ratios.

    python benchmarks/overlap_bench.py [--out benchmarks/results/overlap_bench.json] [key=value ...]

Round 0 collects with the teacher, round 1 with round 0's export; rule labels; in-process
training. The goal in the issue: a round period of at most 1.2 x its slowest stage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from srft_ray.config import load_config
from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig

SMALL = [
    "num_rounds=2",
    "teacher_rounds=1",
    "critic.labels=rules",
    "tasks.max_train_tasks=6",
    "tasks.max_eval_tasks=6",
    "collect.num_workers=2",
    "collect.episodes_per_worker=3",
    "evaluate.num_workers=2",
    "evaluate.episodes_per_worker=3",
    "collect.episode.agent.step_limit=4",
    "evaluate.episode.agent.step_limit=4",
    "collect.episode.agent.wall_time_limit_s=3600",
    "evaluate.episode.agent.wall_time_limit_s=3600",
    "collect.episode.policy.sampling.max_tokens=96",
    "evaluate.episode.policy.sampling.max_tokens=96",
    "train.max_steps=2",
    "train.tokens_per_micro_batch=2048",
    "write_report=false",
]
STAGES = ("collect", "critique", "train", "evaluate")


def round_rows(run_dir: Path, num_rounds: int, run_end: float) -> list[dict]:
    """Per round: stage walls, slowest, sequential sum, period, from the round manifests."""
    manifests = [
        json.loads((run_dir / f"round-{i:03d}" / "manifest.json").read_text())
        for i in range(num_rounds)
    ]
    starts = [m["stages"]["collect"]["attempts"][-1]["started_at"] for m in manifests]
    rows = []
    for index, m in enumerate(manifests):
        walls = {}
        for name in STAGES:
            attempt = m["stages"][name]["attempts"][-1]
            walls[name] = round(attempt["ended_at"] - attempt["started_at"], 1)
        end = starts[index + 1] if index + 1 < num_rounds else run_end
        period = end - starts[index]
        slowest = max(walls.values())
        rows.append(
            {
                "round": index,
                "stage_wall_s": walls,
                "slowest_stage_s": slowest,
                "sequential_sum_s": round(sum(walls.values()), 1),
                "period_s": round(period, 1),
                "period_over_slowest": round(period / slowest, 3),
                "period_over_sum": round(period / sum(walls.values()), 3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    from srft_ray.rounds.round_loop import run_loop

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/overlap_bench")
    parser.add_argument("--out", default="benchmarks/results/overlap_bench.json")
    parser.add_argument(
        "--modes", default="sequential,overlap", help="which of sequential,overlap to run"
    )
    parser.add_argument("overrides", nargs="*", help="LoopConfig key=value overrides")
    args = parser.parse_args(argv)
    results: dict = {"command": "python benchmarks/overlap_bench.py " + " ".join(argv or [])}
    for name in [m for m in args.modes.split(",") if m]:
        if name not in ("sequential", "overlap"):
            parser.error(f"--modes: unknown mode {name!r}")
        overlap = name == "overlap"
        run_dir = Path(args.run_dir) / name
        shutil.rmtree(run_dir, ignore_errors=True)
        overrides = [f"run_dir={run_dir}", f"overlap_evaluation={str(overlap).lower()}"]
        config = load_config(LoopConfig, [EMBEDDED_CONFIG], SMALL + overrides + args.overrides)
        started = time.time()
        run_loop(config, log=lambda line: None)
        ended = time.time()
        rows = round_rows(run_dir, config.num_rounds, ended)
        results[name] = {"wall_s": round(ended - started, 1), "rounds": rows}
        print(f"[overlap-bench] {name}: {ended - started:.0f}s")
        for row in rows:
            walls = " ".join(f"{k} {v:.0f}s" for k, v in row["stage_wall_s"].items())
            print(
                f"  round {row['round']}: {walls} | slowest {row['slowest_stage_s']:.0f}s, "
                f"sum {row['sequential_sum_s']:.0f}s, period {row['period_s']:.0f}s "
                f"({row['period_over_slowest']:.2f}x slowest, {row['period_over_sum']:.2f}x sum)"
            )
    if "overlap" in results and "sequential" in results:
        ratio = results["overlap"]["wall_s"] / results["sequential"]["wall_s"]
        results["wall_ratio"] = round(ratio, 3)
        print(f"[overlap-bench] overlap / sequential wall: {ratio:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"[overlap-bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
