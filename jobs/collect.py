"""Collect agent trajectories for one round with Ray rollout workers (`srft collect`).

On a cluster (sandbox workers on CPU nodes, the policy engine on a GPU node):

    ray job submit --address http://<head>:8265 -- \\
        python -m srft_ray.jobs.collect -c collect.yaml \\
        collect.round=1 collect.tasks=/shared/swe-gym.jsonl collect.episode.sandbox.backend=docker \\
        collect.episode.policy.kind=vllm collect.episode.policy.engine.model=/shared/round-0/policy \\
        collect.num_workers=32 collect.episodes_per_worker=4 output_dir=/shared/round-1/collect

On one machine (a local Ray cluster, the embedded task pack, bwrap, the ScriptedTeacher):

    srft collect output_dir=runs/demo/collect collect.samples_per_task=2

Config keys: srft_ray.collect.CollectJobConfig (collect.episode.* is srft_ray.agent.episode
.EpisodeConfig: agent limits, policy "scripted" | "vllm" | "openai", sandbox). Re-running with the
same output_dir resumes: episodes already stored are skipped.
"""

from __future__ import annotations

import json
import sys

from srft_ray.collect import CollectJobConfig, collect
from srft_ray.config import config_hash
from srft_ray.jobs.common import job_parser, load_job_config


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("srft collect", __doc__)
    args = parser.parse_args(argv)
    config = load_job_config(parser, CollectJobConfig, args.config, args.overrides)
    if config is None:
        return 2

    from srft_ray.actors.engine import start_engine_actor
    from srft_ray.actors.rollout_worker import start_rollout_worker
    from srft_ray.data.model import DataError
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.logs import setup_logging
    from srft_ray.ray_cluster import init_ray
    from srft_ray.tasks.source import load_task_source

    try:
        tasks = load_task_source(config.collect.tasks, repos_dir=config.collect.repos_dir).tasks()
    except (DataError, OSError) as exc:
        print(f"srft collect: collect.tasks={config.collect.tasks!r}: {exc}", file=sys.stderr)
        return 2
    setup_logging()  # progress lines on the console
    info = init_ray(config.ray)
    print(f"[collect] ray {info['address']} dashboard {info['dashboard_url'] or '-'}")
    store = TrajectoryStore(config.output_dir)
    summary = collect(
        config.collect,
        tasks,
        store,
        start_worker=start_rollout_worker,
        start_engine=start_engine_actor,
        config_hash=config_hash(config.collect),
    )
    print(
        json.dumps(
            {
                "store": str(store.path),
                "written": summary.num_written,
                "skipped": summary.num_skipped,
                "resolved": summary.num_resolved,
                "failed": summary.num_failed,
                "retries": summary.num_retries,
                "worker_deaths": summary.num_worker_deaths,
                "seconds": round(summary.seconds, 1),
                "episodes_per_minute": round(summary.episodes_per_minute, 2),
                "errors": summary.errors[:10],
            }
        )
    )
    return 0 if summary.num_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
