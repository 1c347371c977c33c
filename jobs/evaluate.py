"""Resolve rate of a policy checkpoint on held-out tasks (`srft evaluate`).

Runs the vllm policy on the held-out split (a stable hash of instance_id, the same split
`srft run` holds out), grades every patch, and prints the resolve rate as JSON.

    srft evaluate model=runs/embedded/round-001/export

On a cluster (the engine on a GPU worker, sandboxes on CPU workers):

    ray job submit --address http://127.0.0.1:8265 -- \\
        python -m srft_ray.jobs.evaluate -c eval.yaml model=/shared/runs/x/round-002/export \\
        output_dir=/shared/runs/x/eval-round-002

Config keys: EvaluateJobConfig below (evaluate.* is srft_ray.rounds.config.EvaluateConfig).
Re-running with the same output_dir resumes: episodes already stored are skipped.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from srft_ray.jobs.common import job_parser, load_job_config
from srft_ray.ray_cluster import RayConfig
from srft_ray.rounds.config import EvaluateConfig, TaskSplitConfig


@dataclass(kw_only=True)
class EvaluateJobConfig:
    """`srft evaluate`: which checkpoint, on which held-out tasks, written where."""

    model: str = ""
    """Hugging Face folder of the policy; empty means the embedded SmolLM2 (the base model)."""
    output_dir: str = ""
    """TrajectoryStore of the evaluation episodes (empty: <model>/../eval-<model name>)."""
    tasks: TaskSplitConfig = field(default_factory=TaskSplitConfig)
    """The task source and its held-out split (only the held-out tasks are run)."""
    all_tasks: bool = False
    """Evaluate on every task of the source instead of the held-out split."""
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    ray: RayConfig = field(default_factory=RayConfig)


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("srft evaluate", __doc__)
    args = parser.parse_args(argv)
    config = load_job_config(parser, EvaluateJobConfig, args.config, args.overrides)
    if config is None:
        return 2

    from srft_ray.data.store import TrajectoryStore
    from srft_ray.model_prep import prepare_model
    from srft_ray.ray_cluster import init_ray
    from srft_ray.rounds.config import split_tasks
    from srft_ray.rounds.evaluation import evaluate_policy
    from srft_ray.tasks.source import load_task_source

    model = Path(config.model or prepare_model(quiet=True)).resolve()
    if not model.is_dir():
        print(f"srft evaluate: model={config.model!r}: not a folder", file=sys.stderr)
        return 2
    tasks = load_task_source(config.tasks.source, repos_dir=config.tasks.repos_dir).tasks()
    if not config.all_tasks:
        _, tasks = split_tasks(tasks, config.tasks)
    output = Path(config.output_dir or model.parent / f"eval-{model.name}")
    init_ray(config.ray)
    print(f"[evaluate] {model} on {len(tasks)} tasks -> {output}", flush=True)
    metrics = evaluate_policy(
        config.evaluate, model, tasks, TrajectoryStore(output), source=config.tasks.source
    )
    print(json.dumps({"model": str(model), "store": str(output), **metrics}))
    return 0 if not metrics["num_failed_episodes"] else 1


if __name__ == "__main__":
    sys.exit(main())
