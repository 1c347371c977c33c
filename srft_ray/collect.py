"""Collection: N RolloutWorker actors run agent episodes; trajectories stream into the store.

The driver keeps at most `episodes_per_worker` episodes in flight on each worker and waits with
`ray.wait` for whichever finishes first; each finished trajectory is appended to the round's
TrajectoryStore at once (a crash loses only the episodes in flight). Ids are deterministic
(round/instance/sample), so ids already in the store are skipped (resume) and a retried episode
can never be written twice. When a worker dies, its in-flight episodes go back to the queue and
a fresh worker takes its place.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from srft_ray.agent.episode import EpisodeConfig
from srft_ray.agent.loop import trajectory_id
from srft_ray.config import config_hash as hash_config
from srft_ray.data.model import Task
from srft_ray.data.store import TrajectoryStore
from srft_ray.ray_cluster import RayConfig


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
    attempts: int = 0


class _Pool:
    """The worker actors, replaced when one dies."""

    def __init__(self, config: CollectConfig, start: Callable[[], Any]):
        self.start = start
        self.workers: dict[int, Any] = {}
        self.in_flight: dict[int, int] = {}
        self.next_id = 0
        for _ in range(config.num_workers):
            self.add()

    def add(self) -> None:
        self.workers[self.next_id] = self.start(self.next_id)
        self.in_flight[self.next_id] = 0
        self.next_id += 1

    def replace(self, worker_id: int) -> bool:
        """Drop a dead worker and start another; False if it was already replaced."""
        if worker_id not in self.workers:
            return False
        del self.workers[worker_id], self.in_flight[worker_id]
        self.add()
        return True


def collect(
    config: CollectConfig,
    tasks: list[Task],
    store: TrajectoryStore,
    *,
    engine: Any = None,
    config_hash: str = "",
    log: Callable[[str], None] = print,
    worker_name_prefix: str = "",
) -> CollectSummary:
    """Run every (task, sample) episode not yet in `store` on Ray workers; see the module doc.

    `engine`: an EngineActor for policy kind "vllm" (else one is started and stopped here).
    `worker_name_prefix`: name the worker actors `<prefix><n>` (find them in the dashboard).
    """
    import ray

    from srft_ray.actors.rollout_worker import start_rollout_worker

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

    own_engine = None
    if config.episode.policy.kind == "vllm" and engine is None:
        from srft_ray.actors.engine import start_engine_actor

        policy = config.episode.policy
        own_engine = engine = start_engine_actor(
            policy.engine, num_cpus=policy.engine_num_cpus, num_gpus=policy.engine_num_gpus
        )
    worker_kwargs = {
        "task_source": config.tasks,
        "repos_dir": config.repos_dir,
        "round_index": config.round,
        "config_hash": config_hash or hash_config(config),
        "engine": engine,
    }
    pool = _Pool(
        config,
        lambda name: start_rollout_worker(
            config.episode,
            name=f"{worker_name_prefix}{name}" if worker_name_prefix else None,
            episodes_per_worker=config.episodes_per_worker,
            num_cpus=config.worker_num_cpus,
            resources=config.worker_resources,
            **worker_kwargs,
        ),
    )
    refs: dict[Any, tuple[int, _Episode]] = {}
    last_progress = time.monotonic()
    try:
        while queue or refs:
            for worker_id in list(pool.workers):
                while queue and pool.in_flight[worker_id] < config.episodes_per_worker:
                    episode = queue.popleft()
                    ref = pool.workers[worker_id].run_episode.remote(
                        episode.task, episode.sample_index
                    )
                    refs[ref] = (worker_id, episode)
                    pool.in_flight[worker_id] += 1
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=config.progress_every_s)
            for ref in ready:
                worker_id, episode = refs.pop(ref)
                if worker_id in pool.in_flight:
                    pool.in_flight[worker_id] -= 1
                _settle(ref, worker_id, episode, pool, queue, store, summary, config, log)
            if ready or time.monotonic() - last_progress >= config.progress_every_s:
                summary.seconds = time.monotonic() - started
                log(_progress_line(config, summary, len(refs), len(queue)))
                last_progress = time.monotonic()
    finally:
        # Let workers delete their checkouts (ray.kill skips all cleanup), then stop them.
        closing = [worker.close.remote() for worker in pool.workers.values()]
        ray.wait(closing, num_returns=len(closing), timeout=30)
        for worker in pool.workers.values():
            ray.kill(worker)
        if own_engine is not None:
            ray.kill(own_engine)
    summary.seconds = time.monotonic() - started
    store.mark_complete()
    log(_progress_line(config, summary, 0, 0) + " (complete)")
    return summary


def _settle(ref, worker_id, episode, pool, queue, store, summary, config, log) -> None:
    """Store a finished episode, or requeue it (worker death / error) within its attempts."""
    import ray
    from ray.exceptions import RayActorError

    name = trajectory_id(config.round, episode.task.instance_id, episode.sample_index)
    try:
        traj = ray.get(ref)
    except RayActorError as exc:
        if pool.replace(worker_id):
            summary.num_worker_deaths += 1
            log(f"[collect] worker {worker_id} died ({type(exc).__name__}); starting another")
        error = f"{name}: worker died: {type(exc).__name__}"
    except Exception as exc:  # the episode itself raised inside the worker
        error = f"{name}: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
    else:
        summary.num_written += store.append([traj])
        summary.num_resolved += bool(traj.outcome.resolved)
        return
    episode.attempts += 1
    if episode.attempts < config.max_attempts:
        summary.num_retries += 1
        queue.append(episode)
        log(f"[collect] retrying {error}")
    else:
        summary.num_failed += 1
        summary.errors.append(error)
        log(f"[collect] giving up on {error}")


def _progress_line(config: CollectConfig, s: CollectSummary, in_flight: int, queued: int) -> str:
    finished = s.num_written + s.num_failed
    todo = s.num_planned - s.num_skipped
    return (
        f"[collect] round {config.round}: {finished}/{todo} episodes"
        f" (written {s.num_written}, resolved {s.num_resolved}, failed {s.num_failed},"
        f" retries {s.num_retries}, skipped {s.num_skipped}) in flight {in_flight},"
        f" queued {queued}, {s.seconds:.0f}s, {s.episodes_per_minute:.1f} episodes/min"
    )


@dataclass(kw_only=True)
class CollectJobConfig:
    """`srft collect` / `python -m srft_ray.jobs.collect`: one collection round into a store."""

    ray: RayConfig = field(default_factory=RayConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    output_dir: str = "runs/collect/round-000"
    """The round's TrajectoryStore folder (Parquet parts); re-running resumes into it."""
