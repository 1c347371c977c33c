"""Episodes per minute of a collection round: ScriptedTeacher, embedded pack, real bwrap + grading.

    python benchmarks/collect_bench.py --concurrency 1,2,4 --samples 2 --workers 1

Runs one real round per concurrency level (episodes per worker) on a local Ray cluster, each into
a fresh store, and prints a table plus one JSON line. The time includes starting the worker actors
(~1-3 s) and grading every patch in its own sandbox, i.e. what `srft collect` costs end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,2,4", help="episodes per worker, comma list")
    parser.add_argument("--samples", type=int, default=2, help="episodes per task")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-grade", action="store_true", help="skip grading the patches")
    args = parser.parse_args()

    from srft_ray.agent.episode import EpisodeConfig
    from srft_ray.collect import CollectConfig, collect
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.ray_cluster import init_ray, shutdown_ray
    from srft_ray.tasks.source import load_task_source

    tasks = load_task_source("embedded").tasks()
    init_ray()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="srft-collect-bench-") as tmp:
            for level in [int(c) for c in args.concurrency.split(",")]:
                episode = EpisodeConfig()
                episode.agent.grade = not args.no_grade
                config = CollectConfig(
                    round=level,
                    samples_per_task=args.samples,
                    num_workers=args.workers,
                    episodes_per_worker=level,
                    worker_num_cpus=0.5,
                    episode=episode,
                    progress_every_s=60,
                )
                store = TrajectoryStore(Path(tmp) / f"c{level}")
                started = time.monotonic()
                summary = collect(config, tasks, store, log=lambda line: None)
                seconds = time.monotonic() - started
                steps = sum(t.num_steps for t in store.read_all())
                results.append(
                    {
                        "episodes_per_worker": level,
                        "workers": args.workers,
                        "episodes": summary.num_written,
                        "resolved": summary.num_resolved,
                        "steps": steps,
                        "seconds": round(seconds, 1),
                        "episodes_per_minute": round(60 * summary.num_written / seconds, 1),
                        "steps_per_second": round(steps / seconds, 2),
                    }
                )
                print(
                    f"concurrency {level}: {summary.num_written} episodes ({steps} steps, "
                    f"{summary.num_resolved} resolved) in {seconds:.1f}s = "
                    f"{results[-1]['episodes_per_minute']} episodes/min"
                )
    finally:
        shutdown_ray()
    print(json.dumps({"cpus": os.cpu_count(), "graded": not args.no_grade, "results": results}))


if __name__ == "__main__":
    main()
