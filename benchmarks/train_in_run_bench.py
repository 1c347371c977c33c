"""Training inside `srft run` against training alone: the same TrainConfig, the same store, the
same steps, side by side in one run, each in a fresh process.

- alone: a process that only trains (what `srft train` with resources.num_workers=0 does).
- in_run: a process in the state `srft run` trains in: the local Ray cluster up, the policy
  engine started, a held-out evaluation run through it (Ray rollout workers, bwrap, swebench
  grading), the engine released, then the loop's own training stage in the driver.

    python benchmarks/train_in_run_bench.py --run-dir /tmp/tirb --steps 6 \\
        --out benchmarks/results/train_in_run_bench.json

The store is the scripted teacher's episodes on the embedded defaults' training tasks (collected
into RUN_DIR/teacher on first use). The first step of each phase (allocator, thread pools) is not
timed. Prints and writes {"train_tokens_per_s": {"in_run": x, "alone": y}, "ratio": x / y, ...}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from srft_ray.config import load_config
from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig


def embedded() -> LoopConfig:
    return load_config(LoopConfig, [EMBEDDED_CONFIG], [])


def teacher_store(run_dir: Path, num_tasks: int) -> Path:
    """The scripted teacher's episodes on the first `num_tasks` training tasks (resumable)."""
    from srft_ray.collect import collect
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.ray_cluster import shutdown_ray
    from srft_ray.rounds.config import split_tasks
    from srft_ray.tasks.source import load_task_source

    config = embedded()
    store = TrajectoryStore(run_dir / "teacher")
    tasks, _ = split_tasks(load_task_source(config.tasks.source).tasks(), config.tasks)
    agent = replace(config.collect.episode.agent, step_limit=config.teacher_step_limit)
    episode = replace(config.collect.episode, policy=config.teacher, agent=agent)
    teacher = replace(
        config.collect, tasks=config.tasks.source, repos_dir=config.tasks.repos_dir, episode=episode
    )
    try:
        collect(teacher, tasks[:num_tasks], store, log=print)
    finally:
        shutdown_ray()  # the phases start from a machine with no Ray on it
    return store.path


def train_rates(store: Path, out_dir: Path, steps: int) -> dict:
    """Train the embedded TrainConfig on `store` in this process; per-step tokens/s."""
    from srft_ray.model_prep import prepare_model
    from srft_ray.train.stage import run_training_stage

    train = embedded().train
    config = replace(
        train,
        model_path=str(prepare_model(quiet=True)),
        dataset_dirs=[str(store)],
        max_steps=steps,
        output_dir=str(out_dir / "export"),
        masking=replace(train.masking, mode="all"),
    )
    metrics_file = out_dir / "metrics.jsonl"
    metrics_file.unlink(missing_ok=True)
    run_training_stage(config, metrics_file)
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    timed = [row["tokens_per_s"] for row in rows[1:]]  # the first step warms up
    return {"tokens_per_s": statistics.median(timed), "per_step": timed}


def phase_alone(args: argparse.Namespace) -> dict:
    return train_rates(Path(args.store), Path(args.run_dir) / "alone", args.steps)


def phase_in_run(args: argparse.Namespace) -> dict:
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.model_prep import prepare_model
    from srft_ray.ray_cluster import init_ray
    from srft_ray.rounds.config import split_tasks
    from srft_ray.rounds.evaluation import evaluate_policy
    from srft_ray.rounds.stages import PolicyEngines
    from srft_ray.tasks.source import load_task_source

    config = embedded()
    run_dir = Path(args.run_dir) / "in_run"
    init_ray(config.ray)
    policy = config.collect.episode.policy
    engines = PolicyEngines(
        policy.engine, num_cpus=policy.resources.num_cpus, num_gpus=policy.resources.num_gpus
    )
    base = str(prepare_model(quiet=True))
    _, eval_tasks = split_tasks(load_task_source(config.tasks.source).tasks(), config.tasks)
    began = time.monotonic()
    evaluation = evaluate_policy(
        config.evaluate,
        base,
        eval_tasks[: args.eval_tasks],
        TrajectoryStore(run_dir / "eval"),
        source=config.tasks.source,
        engine=engines.get(base),
        log=lambda line: None,
    )
    evaluate_s = time.monotonic() - began
    engines.release()  # as the loop's train stage does
    rates = train_rates(Path(args.store), run_dir, args.steps)
    return {**rates, "evaluate_s": evaluate_s, "evaluated": evaluation.get("num_episodes")}


def run_phase(args: argparse.Namespace, phase: str) -> dict:
    """`phase` in a fresh Python process (nothing inherited: threads, allocator, Ray)."""
    command = [
        sys.executable, __file__, "--phase", phase, "--run-dir", args.run_dir,
        "--store", args.store, "--steps", str(args.steps), "--eval-tasks", str(args.eval_tasks),
    ]  # fmt: skip
    log = Path(args.run_dir) / f"{phase}.log"
    with log.open("w") as sink:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=sink, text=True)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}); see {log}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/train_in_run_bench")
    parser.add_argument("--store", default="", help="a trajectory store (default: collect one)")
    parser.add_argument("--teacher-tasks", type=int, default=48)
    parser.add_argument("--steps", type=int, default=6, help="training steps per phase")
    parser.add_argument("--eval-tasks", type=int, default=8, help="episodes before in_run trains")
    parser.add_argument("--phase", choices=["alone", "in_run"], help=argparse.SUPPRESS)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    Path(args.run_dir).mkdir(parents=True, exist_ok=True)
    if args.phase:
        result = phase_alone(args) if args.phase == "alone" else phase_in_run(args)
        print(json.dumps(result))
        return 0
    if not args.store:
        args.store = str(teacher_store(Path(args.run_dir), args.teacher_tasks))
    began = time.time()
    alone = run_phase(args, "alone")
    in_run = run_phase(args, "in_run")
    result = {
        "command": "python "
        + " ".join(shlex.quote(a) for a in [__file__, *(argv or sys.argv[1:])]),
        "train_tokens_per_s": {"in_run": in_run["tokens_per_s"], "alone": alone["tokens_per_s"]},
        "ratio": in_run["tokens_per_s"] / alone["tokens_per_s"],
        "per_step": {"in_run": in_run["per_step"], "alone": alone["per_step"]},
        "in_run_evaluate_s": in_run["evaluate_s"],
        "steps": args.steps,
        "wall_s": time.time() - began,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
