"""RolloutWorker: a Ray actor that runs several agent episodes at once, each in its own sandbox.

Thin by design: all logic is in srft_ray.agent.episode.EpisodeRunner, which plain tests reach
directly. The actor is threaded (max_concurrency = episodes per worker + 1 for control calls);
episodes block on sandbox commands and model calls, so threads overlap them well.
"""

from __future__ import annotations

import os
import time
from typing import Any

import ray

from srft_ray.agent.episode import EpisodeConfig, EpisodeRunner
from srft_ray.data.model import Task, Trajectory


class RolloutWorker:
    def __init__(
        self,
        config: EpisodeConfig,
        *,
        task_source: str,
        repos_dir: str = "",
        round_index: int = 0,
        config_hash: str = "",
        engine: Any = None,
    ):
        from srft_ray.tasks.source import load_task_source

        # A worker SIGKILLed mid-episode cannot clean up its sandboxes and checkouts; its
        # successor does.
        self.sandbox_config = config.sandbox
        self.remove_orphans()
        self.runner = EpisodeRunner(
            config,
            task_source=load_task_source(task_source, repos_dir=repos_dir),
            round_index=round_index,
            config_hash=config_hash,
            engine=engine,
        )

    def run_episode(self, task: Task, sample_index: int) -> Trajectory:
        started = time.monotonic()
        traj = self.runner.run(task, sample_index)
        # Checkout, sandbox, agent loop and grading: wall_seconds (the agent loop) subtracted,
        # what is left is grading and setup (the driver adds Ray's share: collect._settle).
        traj.extra["worker_seconds"] = round(time.monotonic() - started, 3)
        return traj

    def pid(self) -> int:
        return os.getpid()

    def remove_orphans(self) -> None:
        from srft_ray.agent.episode import remove_orphaned_workspaces
        from srft_ray.sandbox import remove_orphaned_sandboxes

        remove_orphaned_sandboxes(self.sandbox_config)
        remove_orphaned_workspaces()

    def close(self) -> None:
        self.runner.close()
        # A lost worker's process can outlive the start of its successor (Ray declares a
        # node dead before its workers have exited), and that sweep keeps what a live owner
        # holds; by the end of the stage the owner is gone, so the survivors sweep again.
        self.remove_orphans()


def start_rollout_worker(
    config: EpisodeConfig,
    *,
    episodes_per_worker: int,
    num_cpus: float = 1.0,
    resources: dict[str, float] | None = None,
    name: str | None = None,
    **kwargs: Any,
):
    """One RolloutWorker actor able to run `episodes_per_worker` episodes concurrently."""
    options: dict[str, Any] = {
        "num_cpus": num_cpus,
        "resources": dict(resources or {}),
        "max_concurrency": episodes_per_worker + 1,
        "max_restarts": 0,  # the driver replaces dead workers and retries their episodes
    }
    if name:
        options["name"] = name
    return ray.remote(RolloutWorker).options(**options).remote(config, **kwargs)
