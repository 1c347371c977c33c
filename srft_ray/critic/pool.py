"""A streaming critic pool: label trajectories as they arrive, with bounded in-flight work.

A reader thread pulls trajectories from the source (typically `TrajectoryStore.follow()` of a
collection that is still running) into a small bounded queue; when the queue is full the reader
blocks, so a fast producer never builds an unbounded backlog here. The pool keeps at most
`resources.num_workers * max_batches_per_worker` batches in flight across the CriticWorker actors, waits
on them with `ray.wait`, and appends each finished batch to the labelled store at once (one
Parquet part per batch, so a crash loses only work in flight). Ids already in the labelled store
are skipped, so a restarted run resumes. A batch whose worker died is retried on a replacement
worker; the store refuses duplicate ids, so nothing is labelled twice, and a batch that fails
`max_attempts` times is reported (not written) so a later run picks it up.

When the pool is done it checks the whole labelled store: if more than `max_unknown_share` of
its steps ended with no verdict (label unknown: overflowing prompts, unparsable critic replies,
a dead endpoint), it raises UnknownLabelsError rather than let training go on with labels that
say nothing (srft masks unknown steps as `masking.unknown_as`, so it would train on them blind).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from srft_ray.actor_pool import ActorPool
from srft_ray.critic.backends import CriticEngineDied
from srft_ray.critic.llm_critic import CritiqueStats
from srft_ray.data.model import LABELS, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.logs import worker_log_hint
from srft_ray.masking import DEFAULT_LABEL_SOURCES
from srft_ray.resources import Resources

_END = object()
logger = logging.getLogger(__name__)


class UnknownLabelsError(RuntimeError):
    """The critique left too many steps without a verdict for its labels to be worth training on."""


@dataclass(kw_only=True)
class PoolConfig:
    """Shape of the critic pool."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {"num_workers": "resources.num_workers"}

    resources: Resources = field(default_factory=Resources)
    """CriticWorker actors (each hosts or shares one critic engine) and what each reserves
    (it hosts its own vLLM engine unless labels=rules: a GPU on a cluster)."""
    batch_size: int = 4
    """Trajectories per worker call; a partial batch goes out rather than waiting for more."""
    max_batches_per_worker: int = 2
    """Batches in flight per worker: enough to keep its engine busy, few enough to bound work."""
    queue_size: int = 8
    """Trajectories buffered between the source reader and the pool (the backpressure point)."""
    max_attempts: int = 3
    """Tries per batch before it is reported as failed (and left for a later run)."""
    poll_s: float = 0.5
    progress_every_s: float = 10.0
    """Seconds between progress lines in a log file (a terminal shows one live line); 0 prints
    none."""
    max_unknown_share: float = 0.5
    """Fail the stage when more than this share of the labelled store's steps is unknown (no
    verdict); 1.0 turns the check off."""


@dataclass(kw_only=True)
class PoolReport:
    stats: CritiqueStats = field(default_factory=CritiqueStats)
    num_written: int = 0
    num_skipped: int = 0
    """Trajectories not sent: already labelled (resume) or a duplicate id in the source."""
    num_retries: int = 0
    num_worker_restarts: int = 0
    failed_ids: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    """Most batches that were ever in flight at once (never above the configured bound)."""
    wall_s: float = 0.0

    def detail(self, in_flight: int = 0) -> str:
        """What the progress line shows after the trajectory count and rate."""
        rate = self.stats.num_steps / self.wall_s if self.wall_s else 0.0
        bad = {k: v for k, v in self.stats.bad_outputs.items() if v}
        return (
            f"{self.stats.num_steps} steps labelled ({rate:.2f} steps/s), "
            f"{in_flight} batches in flight, skipped {self.num_skipped}, retries "
            f"{self.num_retries}, failed {len(self.failed_ids)}, labels {self.stats.labels}, "
            f"bad outputs {bad or 'none'}"
        )


def _is_lost_worker(exc: BaseException) -> bool:
    from ray.exceptions import RayActorError

    return isinstance(exc, (RayActorError, CriticEngineDied))


class CritiquePool:
    """Labels a stream of trajectories with `start_worker(n)` actors into a store.

    The actors live in an srft_ray.actor_pool.ActorPool (the pool collection uses too): bounded
    in-flight batches, a dead worker replaced and its batch retried.
    """

    def __init__(self, config: PoolConfig, start_worker: Callable[[int], Any]):
        self.config = config
        self.actors = ActorPool(
            start_worker,
            lambda worker, batch: worker.label.remote(batch),
            num_actors=config.resources.num_workers,
            max_in_flight_per_actor=config.max_batches_per_worker,
            max_attempts=config.max_attempts,
            is_lost=_is_lost_worker,
        )

    @property
    def workers(self) -> list[Any]:
        """The worker actors now (a dead one's slot holds its replacement)."""
        return self.actors.actors

    def close(self) -> None:
        self.actors.close()

    def _reader(self, source: Iterable[Trajectory], buffer: queue.Queue) -> None:
        try:
            for traj in source:
                buffer.put(traj)  # blocks while the pool is saturated: backpressure
        except BaseException as exc:  # surfaced by the pool loop
            buffer.put(exc)
        buffer.put(_END)

    def _take(self, buffer: queue.Queue, block: bool) -> list[Any]:
        items: list[Any] = []
        try:
            items.append(buffer.get(timeout=self.config.poll_s) if block else buffer.get_nowait())
            while len(items) < self.config.batch_size and items[-1] is not _END:
                items.append(buffer.get_nowait())
        except queue.Empty:
            pass
        return items

    def run(self, source: Iterable[Trajectory], out: TrajectoryStore) -> PoolReport:
        cfg = self.config
        pool = self.actors
        report = PoolReport()
        started = time.monotonic()
        bar = None
        if cfg.progress_every_s:
            from srft_ray.present.progress import Progress, ProgressConfig

            config = ProgressConfig(line_interval_s=cfg.progress_every_s)
            bar = Progress("[critique]", unit="trajectories", log=logger.info, config=config)
        buffer: queue.Queue = queue.Queue(maxsize=cfg.queue_size)
        threading.Thread(target=self._reader, args=(source, buffer), daemon=True).start()
        seen = set(out.ids())
        source_done = False

        def next_batch() -> list[Trajectory] | None:
            nonlocal source_done
            if source_done:
                return None
            batch = []
            for item in self._take(buffer, block=pool.num_in_flight == 0):
                if item is _END:
                    source_done = True
                elif isinstance(item, BaseException):
                    raise RuntimeError(f"critique source failed: {item}") from item
                elif item.trajectory_id in seen:
                    report.num_skipped += 1
                else:
                    seen.add(item.trajectory_id)
                    batch.append(item)
            return batch or None

        try:
            while True:
                pool.fill(next_batch)
                if source_done and pool.is_idle():
                    break
                num_before = report.num_written
                for finished in pool.wait(timeout_s=cfg.poll_s):
                    self._finish(finished, out, report)
                report.num_retries = pool.num_retries
                report.num_worker_restarts = pool.num_replaced
                report.max_in_flight = pool.max_in_flight
                report.wall_s = time.monotonic() - started
                if bar is not None:
                    bar.update(
                        report.num_written - num_before, detail=report.detail(pool.num_in_flight)
                    )
        finally:
            report.wall_s = time.monotonic() - started
            if bar is not None:  # the stage's summary line, also when it failed
                bar.detail = report.detail()
                bar.close()
        if cfg.max_unknown_share < 1.0:
            check_unknown_share(final_label_counts(out), cfg.max_unknown_share, out.path)
        return report

    def _finish(self, finished, out: TrajectoryStore, report: PoolReport) -> None:
        if finished.error is not None:
            if not finished.retrying:
                report.failed_ids += [t.trajectory_id for t in finished.item]
                logger.error(
                    "critique: batch failed %d times, left for a later run: %s%s",
                    finished.attempts,
                    finished.error,
                    worker_log_hint(finished.error),
                )
            return
        report.num_written += out.append(finished.result.trajectories)
        report.stats.add(finished.result.stats)


def final_label_counts(store: TrajectoryStore) -> dict[str, int]:
    """Steps of the store per final label (the label training reads: masking's source order)."""
    counts = dict.fromkeys(LABELS, 0)
    for traj in store:
        for step in traj.steps:
            found = step.label_from(*DEFAULT_LABEL_SOURCES)
            counts[found.label if found else "unknown"] += 1
    return counts


def check_unknown_share(counts: dict[str, int], limit: float, where: Any) -> None:
    """Raise UnknownLabelsError when the unknown share of `counts` is above `limit`."""
    num_steps = sum(counts.values())
    share = counts.get("unknown", 0) / num_steps if num_steps else 0.0
    if share > limit:
        known = ", ".join(f"{kind} {n}" for kind, n in counts.items() if kind != "unknown")
        raise UnknownLabelsError(
            f"{where}: {share:.1%} of the labelled steps are unknown ({counts.get('unknown', 0)} "
            f"of {num_steps}; {known}), above "
            f"max_unknown_share={limit:g}. The critic gave no verdict for them (see the bad "
            "outputs above: overflow, unparsable replies, a failing backend). Fix the critic, "
            "or raise the limit: critique_pool.max_unknown_share=... (srft run) or "
            "pool.max_unknown_share=... (srft critique); 1.0 turns the check off."
        )


def critique(
    critic: Any,
    pool: PoolConfig,
    source: Iterable[Trajectory],
    labelled: TrajectoryStore,
    *,
    start_worker: Callable[..., Any] | None = None,
) -> PoolReport:
    """Label `source` into `labelled` with a pool of critic workers, as the loop and the critique
    job both do; `start_worker(critic, **actor_options)` defaults to the registry's
    critic_worker (a Ray actor hosting `critic`, a CriticConfig)."""
    from srft_ray.registry import actor_factory

    start = start_worker or actor_factory("critic_worker")
    workers = CritiquePool(pool, lambda slot: start(critic, **pool.resources.actor_options()))
    try:
        return workers.run(source, labelled)
    finally:
        workers.close()
