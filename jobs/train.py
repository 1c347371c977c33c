"""Step-masked fine-tuning (RFT / SRFT) with Ray Train + FSDP2.

On a cluster (one worker per GPU):

    ray job submit --address http://<head>:8265 -- \\
        python -m srft_ray.jobs.train -c train.yaml \\
        train.dataset_dirs='[/shared/round-1/labelled]' train.output_dir=/shared/round-1/policy \\
        train.resources.num_workers=8 train.resources.num_gpus=1

On one machine: `srft train train.dataset_dirs='[runs/labelled]' train.output_dir=runs/policy`
(a local Ray cluster with CPU workers), or `train.resources.num_workers=0` to run in this
process without Ray.
Config keys: srft_ray.train.trainer.TrainJobConfig (train.* is srft_ray.train.config.TrainConfig).
"""

from __future__ import annotations

import sys

from srft_ray.jobs.common import job_parser, load_job_config
from srft_ray.train.trainer import TrainJobConfig


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("srft train", __doc__)
    args = parser.parse_args(argv)
    config = load_job_config(parser, TrainJobConfig, args.config, args.overrides)
    if config is None:
        return 2
    from srft_ray.logs import setup_logging
    from srft_ray.train.data import TrainDataError
    from srft_ray.train.stage import run_training_stage

    setup_logging()  # progress lines on the console
    try:
        if config.train.resources.num_workers > 0:
            from srft_ray.ray_cluster import init_ray

            init_ray(config.ray)
        metrics = run_training_stage(
            config.train, storage_path=config.storage_path, run_name=config.run_name
        )
    except (TrainDataError, ValueError, FileNotFoundError) as exc:
        print(f"srft train: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a worker's error arrives wrapped by Ray Train
        print(f"srft train: training failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"[train] done: {metrics['num_optimizer_steps']} steps, final loss {metrics['final_loss']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
