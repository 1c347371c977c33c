"""EngineActor: a Ray actor hosting one vLLM engine, shared by many concurrent callers.

Rollout threads and critic pools call `generate` one request at a time; the actor folds the
requests that arrive within a few milliseconds into one engine call, so vLLM batches them, and the
callers never need to know about each other. Policy and critic engines are the same class.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from srft_ray.vllm_engine import EngineConfig, GenerateRequest, GenerateResult, VLLMEngine


class EngineActor:
    def __init__(self, config: EngineConfig):
        self.config = config
        self.engine = VLLMEngine(config)
        self._pending: list[tuple[GenerateRequest, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._batcher: asyncio.Task | None = None
        self._engine_lock: asyncio.Lock | None = None
        self.num_batches = 0

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """One request; concurrent calls are batched into a single engine call."""
        self._ensure_batcher()
        future = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        self._wakeup.set()
        return await future

    async def generate_batch(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        return list(await asyncio.gather(*(self.generate(r) for r in requests)))

    async def reload(self, model_path: str) -> str:
        """Serve a new checkpoint once in-flight batches finish."""
        self._ensure_batcher()
        async with self._engine_lock:
            await asyncio.to_thread(self.engine.reload, model_path)
        return model_path

    async def stats(self) -> dict[str, Any]:
        return {**self.engine.stats(), "num_batches": self.num_batches}

    async def tokenizer_path(self) -> str:
        return self.engine.model_path

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
    if resources:
        options["resources"] = dict(resources)
    if name:
        options["name"] = name
    return ray.remote(EngineActor).options(**options).remote(config)
