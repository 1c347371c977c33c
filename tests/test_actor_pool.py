"""The one actor pool, on the session's real Ray cluster with small real actors."""

from __future__ import annotations

import collections
import os
import time

import pytest

from srft_ray.actor_pool import ActorPool


class Worker:  # shipped by value: the workers cannot import this test module
    """Squares numbers slowly; records how many calls overlapped; dies or raises on demand."""

    def __init__(self, name: int):
        self.name, self.running, self.most_running = name, 0, 0

    def square(self, x: int) -> tuple[int, int, int]:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            time.sleep(0.05)
            if x < 0:
                raise ValueError(f"negative {x}")
            return self.name, x * x, self.most_running
        finally:
            self.running -= 1

    def pid(self) -> int:
        return os.getpid()


def _pool(**kwargs) -> ActorPool:
    import sys

    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])

    remote = ray.remote(Worker).options(num_cpus=0, max_concurrency=4, max_restarts=0)
    return ActorPool(lambda n: remote.remote(n), lambda actor, x: actor.square.remote(x), **kwargs)


def _drain(pool: ActorPool, items) -> list:
    source = iter(items)
    ended = []
    while True:
        pool.fill(source)
        if pool.is_idle():
            return ended
        ended += pool.wait(timeout_s=30)


@pytest.mark.slow
def test_bounded_in_flight_and_each_item_once(ray_cluster):
    pool = _pool(num_actors=2, max_in_flight_per_actor=2)
    try:
        ended = _drain(pool, range(12))
    finally:
        pool.close()
    assert sorted(f.item for f in ended) == list(range(12))  # every item, once
    assert all(f.error is None and f.result[1] == f.item**2 for f in ended)
    assert pool.max_in_flight == 4 and pool.capacity == 4
    assert max(f.result[2] for f in ended) <= 2  # never more than 2 calls on one actor
    assert {f.result[0] for f in ended} == {0, 1}  # both actors worked


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_its_work_retried(ray_cluster):
    import ray

    pool = _pool(num_actors=2, max_in_flight_per_actor=2)
    victim = pool.actors[0]
    source = iter(range(10))
    try:
        pool.fill(source)
        ray.kill(victim)  # both of its calls are in flight
        ended = _drain(pool, source)
    finally:
        pool.close()
    done = [f.item for f in ended if f.error is None]
    assert collections.Counter(done) == collections.Counter(range(10))  # none lost, none twice
    lost = [f for f in ended if f.actor_lost]
    assert len(lost) == 2 and all(f.retrying for f in lost)
    assert pool.num_replaced == 1 and pool.num_started == 3 and pool.actors[0] is not victim
    assert pool.num_retries == 2


@pytest.mark.slow
def test_an_item_that_keeps_failing_is_given_back_after_max_attempts(ray_cluster):
    pool = _pool(num_actors=1, max_in_flight_per_actor=1, max_attempts=3)
    try:
        ended = _drain(pool, [-1, 2])
    finally:
        pool.close()
    failures = [f for f in ended if f.item == -1]
    assert [f.attempts for f in failures] == [1, 2, 3]
    assert [f.retrying for f in failures] == [True, True, False]
    assert isinstance(failures[-1].error, Exception) and not failures[-1].actor_lost
    assert pool.num_replaced == 0  # the work failed, not the actor
    assert [f.result[1] for f in ended if f.item == 2] == [4]


def test_pool_shape_is_checked():
    with pytest.raises(ValueError):
        ActorPool(lambda n: None, lambda a, x: None, num_actors=0, max_in_flight_per_actor=1)
