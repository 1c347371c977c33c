"""EngineActor: a Ray actor hosting one vLLM engine, shared by many concurrent callers.

Rollout threads and critic pools call `generate` one request at a time and never need to know
about each other. With `continuous_batching` (the default) one stepping thread owns the engine: a
request joins the running batch at the next engine step, and each caller is answered the step its
request finishes. Without it, the requests that arrive within a few milliseconds are folded into
one blocking engine call, which later callers wait out. Policy and critic engines are the same class.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from typing import Any

import ray

from srft_ray.vllm_engine import (
    EngineConfig,
    GenerateRequest,
    GenerateResult,
    VLLMEngine,
    cpu_thread_info,
)

_RELOAD = object()  # inbox marker: finish what is in flight, then serve another checkpoint


def _is_reload(item: Any) -> bool:
    return isinstance(item, tuple) and item[0] is _RELOAD


class EngineActor:
    def __init__(self, config: EngineConfig):
        self.config = config
        self.engine = VLLMEngine(config)
        self._pending: list[tuple[GenerateRequest, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._batcher: asyncio.Task | None = None
        self._engine_lock: asyncio.Lock | None = None
        self.num_batches = 0  # blocking engine calls (continuous_batching off)
        self.num_steps = 0  # engine steps (continuous_batching on)
        self.max_in_flight = 0  # most requests sharing one step
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._stepper: threading.Thread | None = None

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """One request; concurrent calls share engine steps (or a single engine call)."""
        if self.config.continuous_batching:
            return await self._via_stepper(request)
        self._ensure_batcher()
        future = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        self._wakeup.set()
        return await future

    async def generate_batch(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        return list(await asyncio.gather(*(self.generate(r) for r in requests)))

    async def reload(self, model_path: str) -> str:
        """Serve a new checkpoint once in-flight batches finish."""
        if self.config.continuous_batching:
            await self._via_stepper((_RELOAD, model_path))
            return model_path
        self._ensure_batcher()
        async with self._engine_lock:
            await asyncio.to_thread(self.engine.reload, model_path)
        return model_path

    async def stats(self) -> dict[str, Any]:
        return {
            **self.engine.stats(),
            "num_batches": self.num_batches,
            "num_steps": self.num_steps,
            "max_in_flight": self.max_in_flight,
        }

    async def tokenizer_path(self) -> str:
        return self.engine.model_path

    async def thread_info(self) -> dict[str, Any]:
        """The threads and cores this engine's process computes with (srft_ray.vllm_engine)."""
        return cpu_thread_info()

    async def _via_stepper(self, item: Any) -> Any:
        if self._stepper is None:
            self._stepper = threading.Thread(
                target=self._step_loop, args=(asyncio.get_running_loop(),), daemon=True
            )
            self._stepper.start()
        future = asyncio.get_running_loop().create_future()
        self._inbox.put((item, future))
        return await future

    def _step_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The one thread that touches the engine: admit new requests, step, answer finished
        ones; it blocks on the inbox while nothing is in flight, so an idle engine holds no core."""

        def answer(future: asyncio.Future, result: Any = None, error: Any = None) -> None:
            def settle() -> None:
                if future.done():
                    return
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

            loop.call_soon_threadsafe(settle)

        in_flight: dict[str, asyncio.Future] = {}
        waiting: collections.deque = collections.deque()
        while True:
            if not in_flight and not waiting:
                waiting.append(self._inbox.get())
            while not self._inbox.empty():
                waiting.append(self._inbox.get())
            requests = []  # everything up to a reload marker joins the running batch
            while waiting and not _is_reload(waiting[0][0]):
                requests.append(waiting.popleft())
            try:
                ids = self.engine.submit([request for request, _ in requests])
                in_flight.update(zip(ids, (future for _, future in requests)))
            except Exception as exc:  # a malformed request fails only its own batch
                for _, future in requests:
                    answer(future, error=exc)
            if not in_flight and waiting:  # a reload, and what it waited for has finished
                (_, model_path), future = waiting.popleft()
                try:
                    self.engine.reload(model_path)
                    answer(future, model_path)
                except Exception as exc:
                    answer(future, error=exc)
                continue
            if not in_flight:
                continue
            try:
                finished = self.engine.step()
            except Exception as exc:  # one bad step must not wedge every caller
                self.engine.abort(list(in_flight))
                for future in in_flight.values():
                    answer(future, error=exc)
                in_flight.clear()
                continue
            self.num_steps += 1
            self.max_in_flight = max(self.max_in_flight, len(in_flight))
            for request_id, result in finished:
                answer(in_flight.pop(request_id), result)
            if in_flight and not self.engine.has_unfinished():  # never spin on lost requests
                lost = RuntimeError(f"the engine dropped {len(in_flight)} request(s)")
                for future in in_flight.values():
                    answer(future, error=lost)
                in_flight.clear()

    def _ensure_batcher(self) -> None:
        if self._batcher is None:
            self._wakeup = asyncio.Event()
            self._engine_lock = asyncio.Lock()
            self._batcher = asyncio.get_running_loop().create_task(self._batch_loop())

    async def _batch_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(self.config.batch_window_s)  # let concurrent callers join
            batch = self._pending[: self.config.max_batch_size]
            self._pending = self._pending[self.config.max_batch_size :]
            if self._pending:
                self._wakeup.set()
            if not batch:
                continue
            async with self._engine_lock:
                try:
                    results = await asyncio.to_thread(
                        self.engine.generate, [request for request, _ in batch]
                    )
                except Exception as exc:  # one bad batch must not wedge every caller
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
            self.num_batches += 1
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)


def start_engine_actor(
    config: EngineConfig,
    *,
    name: str | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: dict[str, float] | None = None,
):
    """Start one EngineActor; a GPU machine gives it `num_gpus`, a CPU one a CPU share;
    `resources`: Ray custom resources (srft_ray.resources.Resources.custom)."""
    options: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_concurrency": 1000}
    if config.num_threads > 0 and not num_gpus:
        # Set before the process starts, so every thread of it (OpenMP keeps a count per
        # thread) computes on the budget; Ray would otherwise set it to the CPUs reserved.
        options["runtime_env"] = {"env_vars": {"OMP_NUM_THREADS": str(config.num_threads)}}
    if resources:
        options["resources"] = dict(resources)
    if name:
        options["name"] = name
    return ray.remote(EngineActor).options(**options).remote(config)
