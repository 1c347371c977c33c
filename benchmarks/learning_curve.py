"""Held-out resolve rate against optimizer steps: how much training moves the 135M student.

Trains one ablation arm (a method and label source) from the base model on a run's collected
data for each step budget, with everything else as `srft ablate` has it (same rows per step,
k samples per held-out task, failed episodes unresolved, 95% intervals), plus the base model.

    python benchmarks/learning_curve.py --run-dir runs/method_bench --steps 10,30,60
    python benchmarks/learning_curve.py --run-dir runs/method_bench --method all --lr 1e-4

The run directory is one `benchmarks/method_bench.py` (or `srft run last_stage=critique`) wrote.
Results go to RUN_DIR/learning_curve/ (resumable, per budget) and --out as JSON.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import replace
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from srft_ray.config import load_config, to_dict, upgrade_config
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.model_prep import prepare_model
    from srft_ray.ray_cluster import init_ray
    from srft_ray.rounds import stats
    from srft_ray.rounds.ablate import AblateConfig, Arm, run_arm
    from srft_ray.rounds.config import LoopConfig, split_tasks
    from srft_ray.rounds.stages import PolicyEngines
    from srft_ray.runstate.hashing import (
        checkpoint_hash,
        dataset_hash,
        json_hash,
        write_json_atomic,
    )
    from srft_ray.runstate.run_manifest import RunManifest
    from srft_ray.tasks.source import load_task_source

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--method", default="srft", choices=("all", "rft", "srft"))
    parser.add_argument("--label-source", default="scripted")
    parser.add_argument("--steps", default="10,30,60")
    parser.add_argument("--lr", type=float, default=0.0, help="0: the run's train.lr")
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--out", default="benchmarks/results/learning_curve.json")
    args = parser.parse_args(argv)
    started = time.monotonic()
    run_dir = Path(args.run_dir).resolve()
    run = RunManifest.load(run_dir)
    base_config = upgrade_config(LoopConfig, copy.deepcopy(run.config or {}))
    base_config.pop("run_dir", None)
    config = load_config(LoopConfig, [], [], base=base_config)
    if args.lr:
        config.train.lr = args.lr
    stores = [m.paths.labelled for m in run.rounds() if any(m.paths.labelled.glob("part-*"))]
    trajs = [t for s in stores for t in TrajectoryStore(s)]
    source = load_task_source(config.tasks.source, repos_dir=config.tasks.repos_dir)
    _, eval_tasks = split_tasks(source.tasks(), config.tasks)
    base = str(Path(config.train.model_path or prepare_model(quiet=True)).resolve())
    init_ray(config.ray)
    cfg = AblateConfig(samples_per_task=args.samples, temperature=args.temperature)
    evaluate = replace(config.evaluate, samples_per_task=args.samples, temperature=args.temperature)
    common = {
        "data": json_hash({str(s): dataset_hash(s) for s in stores}),
        "base": checkpoint_hash(base),
        "evaluate": json_hash(to_dict(evaluate)),
        "tasks": json_hash(sorted(t.instance_id for t in eval_tasks)),
    }
    engines = PolicyEngines(
        config.collect.episode.policy.engine,
        num_cpus=config.collect.episode.policy.resources.num_cpus,
        num_gpus=config.collect.episode.policy.resources.num_gpus,
        resources=config.collect.episode.policy.resources.custom,
    )
    variant = args.label_source if args.method == "srft" else ""
    name = f"srft[{variant}]" if variant else args.method
    points = []
    try:
        budgets = [0] + [int(s) for s in args.steps.split(",") if s.strip()]
        for steps in budgets:
            arm = (
                Arm(name="base")
                if steps == 0
                else Arm(name=name, mode=args.method, variant=variant)
            )
            train = replace(config.train, max_steps=max(steps, 1))
            loop = replace(config, train=train)
            row = run_arm(
                arm,
                loop,
                evaluate,
                common,
                base,
                trajs,
                eval_tasks,
                run_dir / "learning_curve" / f"steps-{steps}",
                engines,
                cfg,
                print,
            )
            rate, ci = stats.resolve_rate_ci({"0": row["outcomes"]})
            point = {
                "steps": steps,
                "resolve_rate": round(rate, 4),
                "ci95": [round(ci[0], 4), round(ci[1], 4)],
                "num_episodes": row["num_episodes"],
                "epochs": row.get("epochs"),
                "final_loss": row.get("final_loss"),
                "trained_tokens": row.get("num_trained_tokens"),
            }
            points.append(point)
            print(f"[curve] {name} {steps} steps: {point}", flush=True)
    finally:
        engines.release()
    result = {
        "method": name,
        "lr": config.train.lr,
        "tokens_per_micro_batch": config.train.tokens_per_micro_batch,
        "num_trajectories": len(trajs),
        "eval_tasks": len(eval_tasks),
        "samples_per_task": args.samples,
        "points": points,
        "command": "python benchmarks/learning_curve.py " + " ".join(argv or sys.argv[1:]),
        "wall_s": round(time.monotonic() - started, 1),
    }
    write_json_atomic(args.out, result)
    print(f"[curve] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
