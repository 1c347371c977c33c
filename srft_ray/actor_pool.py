"""One pool of Ray actors with bounded in-flight work, replace-on-death and retries.

Collection (and evaluation, which is collection), and critique drive their workers through
this one class: at most `max_in_flight_per_actor` calls are in flight on each actor, the driver
waits with `ray.wait` for whichever finishes first, a call whose actor died goes back to the
front of the line on a fresh actor, and a call that fails `max_attempts` times is handed back as
failed. What a finished call means (a trajectory to store, a labelled batch) stays with the
caller, so the pool never writes anything itself: the caller's store refuses duplicate ids, and
a retried item is only ever submitted again after its earlier attempt has ended.
(The shape follows SkyRL's single actor-group abstraction.)
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


def is_actor_death(exc: BaseException) -> bool:
    """The call failed because its actor is gone (not because the work itself raised)."""
    from ray.exceptions import RayActorError

    return isinstance(exc, RayActorError)


@dataclass
class Finished:
    """One call that ended: `result` on success, else `error` (and whether it is retried)."""

    item: Any
    result: Any = None
    error: BaseException | None = None
    attempts: int = 1
    """Attempts so far, this one included."""
    retrying: bool = False
    seconds: float = 0.0
    """From submit to the driver's settling of it: the call plus Ray's scheduling and queueing."""
    """The item failed and waits for another attempt (the caller need not do anything)."""
    actor_lost: bool = False
    """The call failed because its actor died; the actor has been replaced."""


@dataclass
class _Call:
    slot: int
    actor: Any
    item: Any
    attempts: int
    submitted_at: float = field(default_factory=time.monotonic)


class ActorPool:
    """`num_actors` actors made by `start_actor(n)` (n counts up, replacements included) and
    driven with `call(actor, item) -> ObjectRef`; see the module doc."""

    def __init__(
        self,
        start_actor: Callable[[int], Any],
        call: Callable[[Any, Any], Any],
        *,
        num_actors: int,
        max_in_flight_per_actor: int,
        max_attempts: int = 3,
        is_lost: Callable[[BaseException], bool] = is_actor_death,
    ):
        if num_actors < 1 or max_in_flight_per_actor < 1 or max_attempts < 1:
            raise ValueError("an actor pool needs at least one actor, slot and attempt")
        self.start_actor, self.call, self.is_lost = start_actor, call, is_lost
        self.max_in_flight_per_actor, self.max_attempts = max_in_flight_per_actor, max_attempts
        self.num_started = 0
        self.actors: list[Any] = []
        for _ in range(num_actors):
            self.actors.append(self._start())
        self._in_flight: dict[Any, _Call] = {}
        self._retry: deque[tuple[Any, int]] = deque()
        self.num_retries = 0
        self.num_replaced = 0
        self.max_in_flight = 0
        """Most calls that were ever in flight at once (never above `capacity`)."""

    def _start(self) -> Any:
        actor = self.start_actor(self.num_started)
        self.num_started += 1
        return actor

    @property
    def capacity(self) -> int:
        return len(self.actors) * self.max_in_flight_per_actor

    @property
    def num_in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def num_waiting_retry(self) -> int:
        return len(self._retry)

    def is_idle(self) -> bool:
        """Nothing in flight and nothing waiting for a retry."""
        return not self._in_flight and not self._retry

    def has_room(self) -> bool:
        return len(self._in_flight) < self.capacity

    def submit(self, item: Any, *, attempts: int = 0) -> None:
        """Start `item` on the least-loaded actor (the caller checks `has_room()` first)."""
        load = [0] * len(self.actors)
        for entry in self._in_flight.values():
            load[entry.slot] += 1
        slot = load.index(min(load))
        actor = self.actors[slot]
        self._in_flight[self.call(actor, item)] = _Call(slot, actor, item, attempts)
        self.max_in_flight = max(self.max_in_flight, len(self._in_flight))

    def fill(self, items: Iterator[Any] | Callable[[], Any] | None = None) -> None:
        """Submit retries first, then new items (`next(items)`, or `items()` until it returns
        None) while there is room."""
        while self._retry and self.has_room():
            item, attempts = self._retry.popleft()
            self.submit(item, attempts=attempts)
        while items is not None and self.has_room():
            item = items() if callable(items) else next(items, None)
            if item is None:
                return
            self.submit(item)

    def wait(self, timeout_s: float | None = None) -> list[Finished]:
        """Wait up to `timeout_s` for one call to end; return the calls that ended."""
        import ray

        if not self._in_flight:
            return []
        ready, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=timeout_s)
        return [self._settle(ref, self._in_flight.pop(ref)) for ref in ready]

    def _settle(self, ref: Any, entry: _Call) -> Finished:
        import ray

        attempts = entry.attempts + 1
        try:
            result = ray.get(ref)
        except Exception as exc:
            lost = self.is_lost(exc)
            if lost:
                self._replace(entry.slot, entry.actor)
            retrying = attempts < self.max_attempts
            if retrying:
                self.num_retries += 1
                self._retry.append((entry.item, attempts))
            return Finished(
                entry.item,
                error=exc,
                attempts=attempts,
                retrying=retrying,
                actor_lost=lost,
                seconds=time.monotonic() - entry.submitted_at,
            )
        seconds = time.monotonic() - entry.submitted_at
        return Finished(entry.item, result=result, attempts=attempts, seconds=seconds)

    def _replace(self, slot: int, dead: Any) -> None:
        """Start a fresh actor in `slot`; once only, though all the dead one's calls fail."""
        import ray

        if self.actors[slot] is not dead:
            return
        try:
            ray.kill(dead, no_restart=True)
        except Exception:  # already gone
            pass
        self.actors[slot] = self._start()
        self.num_replaced += 1
        logger.warning("actor %d died; started a fresh one in its place", slot)

    def close(self, *, cleanup: str = "", timeout_s: float = 30.0) -> None:
        """Let each actor run its `cleanup` method (ray.kill skips all cleanup), then kill it."""
        import ray

        if cleanup:
            pending = []
            for actor in self.actors:
                try:
                    pending.append(getattr(actor, cleanup).remote())
                except Exception:
                    pass
            if pending:
                ray.wait(pending, num_returns=len(pending), timeout=timeout_s)
        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:
                pass
