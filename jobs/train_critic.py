"""Distil a critic: fine-tune a model on labelled trajectories into a single_pass critic
(`srft train-critic`). Library: srft_ray.critic.distill (examples, labels, export).

On one machine (the embedded SmolLM2, trained in this process; labels: replay, then the
scripted teacher's ground truth):

    srft train-critic --store runs/demo/round-0/labelled --out runs/critic

Then serve the export in the critic pool like any critic model, streaming:

    srft critique input_dir=runs/demo/round-1/collect output_dir=runs/demo/round-1/critic \\
        critic.engine.model=runs/critic/distilled-SmolLM2-135M-Instruct \\
        critic.mode=single_pass critic.prompt.version=distilled-v1

On a cluster (Ray Train workers, one per GPU):

    ray job submit --address http://<head>:8265 -- python -m srft_ray.jobs.train_critic \\
        stores='[/shared/round-0/labelled]' output_dir=/shared/critic \\
        critic.train.model_path=/shared/models/base critic.train.resources.num_workers=8 \\
        critic.train.resources.num_gpus=1

Config keys: TrainCriticJobConfig below (critic.* is srft_ray.critic.distill.DistillConfig,
critic.train.* is srft_ray.train.config.TrainConfig).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from srft_ray.critic.distill import DistillConfig
from srft_ray.jobs.common import job_parser, load_job_config
from srft_ray.ray_cluster import RayConfig


@dataclass(kw_only=True)
class TrainCriticJobConfig:
    """`srft train-critic`: one distilled critic from labelled stores."""

    stores: list[str] = field(default_factory=list)
    """Labelled trajectory stores to learn from."""
    output_dir: str = ""
    """Examples, metrics, summary and the export folder go here."""
    critic: DistillConfig = field(default_factory=DistillConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    """Cluster to join or start when critic.train.resources.num_workers > 0."""


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("srft train-critic", __doc__)
    parser.add_argument("--store", action="append", default=[], help="labelled store (repeatable)")
    parser.add_argument("--out", help="output_dir")
    args = parser.parse_args(argv)
    config = load_job_config(parser, TrainCriticJobConfig, args.config, args.overrides)
    if config is None:
        return 2
    config.stores = [*config.stores, *args.store]
    config.output_dir = args.out or config.output_dir
    if not config.stores or not config.output_dir:
        print("srft train-critic: give --store (or stores=[...]) and --out", file=sys.stderr)
        return 2
    from srft_ray.critic.distill import critic_config, train_critic
    from srft_ray.logs import setup_logging
    from srft_ray.train.data import TrainDataError

    setup_logging()  # progress lines on the console
    try:
        if config.critic.train.resources.num_workers > 0:
            from srft_ray.ray_cluster import init_ray

            init_ray(config.ray)
        export = train_critic(config.critic, config.stores, config.output_dir)
    except (TrainDataError, ValueError, FileNotFoundError) as exc:
        print(f"srft train-critic: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a worker's error arrives wrapped by Ray Train
        print(f"srft train-critic: training failed: {exc}", file=sys.stderr)
        return 1
    serve = critic_config(export, config.critic)
    print(
        json.dumps(
            {
                "export_dir": str(export),
                "serve": f"critic.engine.model={export} critic.mode={serve.mode} "
                f"critic.prompt.version={serve.prompt.version}",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
