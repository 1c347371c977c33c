"""Collection: N RolloutWorker actors run agent episodes; trajectories stream into the store.

The driver keeps at most `episodes_per_worker` episodes in flight on each worker and waits with
`ray.wait` for whichever finishes first; each finished trajectory is appended to the round's
TrajectoryStore at once (a crash loses only the episodes in flight). Ids are deterministic
(round/instance/sample), so ids already in the store are skipped (resume) and a retried episode
can never be written twice. When a worker dies, its in-flight episodes go back to the queue and
a fresh worker takes its place (srft_ray.actor_pool.ActorPool, shared with critique).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from srft_ray.agent.agent_loop import trajectory_id
from srft_ray.agent.episode import EpisodeConfig
from srft_ray.config import config_hash as hash_config
from srft_ray.data.model import Task
from srft_ray.data.store import TrajectoryStore
from srft_ray.logs import worker_log_hint
from srft_ray.ray_cluster import RayConfig

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class CollectConfig:
    """One collection round: which tasks, how many samples, how many workers."""

    round: int = 0
    """Round index (part of every trajectory id)."""
    tasks: str = "embedded"
    """Task source: a registered name ("embedded"), a pack folder, or a file of SWE-bench rows."""
    repos_dir: str = ""
    """For row files: folder of local clones (owner__name) the bwrap sandbox checks out from."""
    instance_ids: list[str] = field(default_factory=list)
    """Only these tasks (empty: all)."""
    max_tasks: int = 0
    """Only the first N tasks after filtering (0: all)."""
    samples_per_task: int = 1
    """Episodes per task (sample_index 0..N-1)."""
    num_workers: int = 2
    episodes_per_worker: int = 2
    """Episodes one worker runs at once (each with its own sandbox)."""
    worker_num_cpus: float = 1.0
    """Ray CPUs reserved per worker."""
    worker_resources: dict[str, float] = field(default_factory=dict)
    """Custom Ray resources per worker, e.g. {"sandbox": 1} to land on nodes with Docker."""
    max_attempts: int = 3
    """Tries per episode when its worker dies or it raises; then it is reported as failed."""
    progress_every_s: float = 15.0
    """Seconds between progress lines in a log file (a terminal shows one live line)."""
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)


@dataclass(kw_only=True)
class CollectSummary:
    num_planned: int = 0
    num_skipped: int = 0
    """Already in the store (resumed round)."""
    num_written: int = 0
    num_resolved: int = 0
    num_failed: int = 0
    num_retries: int = 0
    num_worker_deaths: int = 0
    seconds: float = 0.0
    store_write_seconds: float = 0.0
    """Driver time spent appending finished episodes to the store."""
    errors: list[str] = field(default_factory=list)

    @property
    def episodes_per_minute(self) -> float:
        return 60.0 * self.num_written / self.seconds if self.seconds else 0.0


def select_tasks(config: CollectConfig, tasks: list[Task]) -> list[Task]:
    if config.instance_ids:
        known = {t.instance_id for t in tasks}
        missing = sorted(set(config.instance_ids) - known)
        if missing:
            raise ValueError(f"collect.instance_ids: not in {config.tasks!r}: {missing}")
        tasks = [t for t in tasks if t.instance_id in set(config.instance_ids)]
    return tasks[: config.max_tasks] if config.max_tasks else tasks


@dataclass
class _Episode:
    task: Task
    sample_index: int


WorkerFactory = Callable[..., Any]
"""Starts one rollout worker actor, shaped like srft_ray.actors.rollout_worker
.start_rollout_worker: (episode_config, *, name, episodes_per_worker, num_cpus, resources,
task_source, repos_dir, round_index, config_hash, engine) -> a handle with run_episode/close."""
EngineFactory = Callable[..., Any]
"""Starts one policy engine actor, shaped like srft_ray.actors.engine.start_engine_actor:
(engine_config, *, num_cpus, num_gpus) -> a handle serving generate/generate_batch."""


def collect(
    config: CollectConfig,
    tasks: list[Task],
    store: TrajectoryStore,
    *,
    engine: Any = None,
    start_worker: WorkerFactory | None = None,
    start_engine: EngineFactory | None = None,
    config_hash: str = "",
    log: Callable[[str], None] | None = None,
    worker_name_prefix: str = "",
    label: str = "collect",
    heartbeat: Callable[[], None] | None = None,
) -> CollectSummary:
    """Run every (task, sample) episode not yet in `store` on Ray workers; see the module doc.

    `engine`: a policy engine for kind "vllm" (else one is started with `start_engine` and
    stopped here). `start_worker` / `start_engine`: the actor factories (default: the Ray actors
    srft_ray.registry.ACTOR_FACTORIES names). `log`: where progress lines go (default: this
    module's logger). `worker_name_prefix`: name the worker actors `<prefix><n>` (dashboard).
    `label`: the progress line's name. `heartbeat`: called each time an episode ends or
    `progress_every_s` passes (a caller recording that the stage is alive).
    """
    from srft_ray.actor_pool import ActorPool
    from srft_ray.present.progress import Progress, ProgressConfig
    from srft_ray.registry import actor_factory

    log = log or logger.info
    started = time.monotonic()
    summary = CollectSummary()
    tasks = select_tasks(config, tasks)
    queue: deque[_Episode] = deque()
    done_ids = store.ids()
    for task in tasks:
        for sample in range(config.samples_per_task):
            summary.num_planned += 1
            if trajectory_id(config.round, task.instance_id, sample) in done_ids:
                summary.num_skipped += 1
            else:
                queue.append(_Episode(task, sample))
    if not queue:
        store.mark_complete()
        log(f"[collect] round {config.round}: all {summary.num_planned} episodes already stored")
        return summary

    start_worker = start_worker or actor_factory("rollout_worker")
    own_engine = None
    if config.episode.policy.kind == "vllm" and engine is None:
        policy = config.episode.policy
        own_engine = engine = (start_engine or actor_factory("engine"))(
            policy.engine, **policy.resources.actor_options()
        )
    worker_kwargs = {
        "task_source": config.tasks,
        "repos_dir": config.repos_dir,
        "round_index": config.round,
        "config_hash": config_hash or hash_config(config),
        "engine": engine,
    }
    pool = ActorPool(
        lambda n: start_worker(
            config.episode,
            name=f"{worker_name_prefix}{n}" if worker_name_prefix else None,
            episodes_per_worker=config.episodes_per_worker,
            num_cpus=config.worker_num_cpus,
            resources=config.worker_resources,
            **worker_kwargs,
        ),
        lambda worker, episode: worker.run_episode.remote(episode.task, episode.sample_index),
        num_actors=config.num_workers,
        max_in_flight_per_actor=config.episodes_per_worker,
        max_attempts=config.max_attempts,
    )
    bar = Progress(
        f"[{label}] round {config.round}",
        total=len(queue),
        unit="episodes",
        per_minute=True,  # as CollectSummary.episodes_per_minute
        log=log,
        config=ProgressConfig(line_interval_s=config.progress_every_s),
    )
    try:
        while True:
            pool.fill(lambda: queue.popleft() if queue else None)
            if pool.is_idle():
                bar.detail = _progress_detail(summary, 0, 0) + " (complete)"
                break
            ended = pool.wait(timeout_s=config.progress_every_s)
            for finished in ended:
                _settle(finished, store, summary, config, log)
            summary.num_worker_deaths = pool.num_replaced
            settled = sum(finished.error is None or not finished.retrying for finished in ended)
            bar.update(settled, detail=_progress_detail(summary, pool.num_in_flight, len(queue)))
            if heartbeat is not None:
                heartbeat()
    finally:
        bar.close()  # the stage's summary line, also when it failed
        # Let workers delete their checkouts (ray.kill skips all cleanup), then stop them.
        pool.close(cleanup="close")
        if own_engine is not None:
            import ray

            ray.kill(own_engine)
    summary.seconds = time.monotonic() - started
    store.mark_complete()
    return summary


def _settle(finished, store: TrajectoryStore, summary: CollectSummary, config, log) -> None:
    """Store a finished episode, or count its failure (the pool retries within attempts)."""
    episode = finished.item
    name = trajectory_id(config.round, episode.task.instance_id, episode.sample_index)
    if finished.error is None:
        traj = finished.result
        if "worker_seconds" in traj.extra:  # submit -> settled, less the worker's own time
            traj.extra["ray_seconds"] = round(finished.seconds - traj.extra["worker_seconds"], 3)
        began = time.monotonic()
        summary.num_written += store.append([traj])
        summary.store_write_seconds += time.monotonic() - began
        summary.num_resolved += bool(traj.outcome.resolved)
        return
    exc = finished.error
    if finished.actor_lost:
        log(f"[collect] a worker died ({type(exc).__name__}); started another")
        error = f"{name}: worker died: {type(exc).__name__}"
    else:  # the episode itself raised inside the worker
        error = f"{name}: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
    error += worker_log_hint(exc)
    if finished.retrying:
        summary.num_retries += 1
        log(f"[collect] retrying {error}")
    else:
        summary.num_failed += 1
        summary.errors.append(error)
        log(f"[collect] giving up on {error}")


def _progress_detail(s: CollectSummary, in_flight: int, queued: int) -> str:
    return (
        f"(written {s.num_written}, resolved {s.num_resolved}, failed {s.num_failed},"
        f" retries {s.num_retries}, skipped {s.num_skipped}) in flight {in_flight},"
        f" queued {queued}"
    )


@dataclass(kw_only=True)
class CollectJobConfig:
    """`srft collect` / `python -m srft_ray.jobs.collect`: one collection round into a store."""

    ray: RayConfig = field(default_factory=RayConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    output_dir: str = "runs/collect/round-000"
    """The round's TrajectoryStore folder (Parquet parts); re-running resumes into it."""
