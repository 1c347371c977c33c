"""One way to call an engine, whatever it is: a Ray handle of an EngineActor, an EngineActor
object living in this event loop (a critic worker hosting its own engine), or an in-process
VLLMEngine. Policies and critic backends talk to this and never ask which one they hold."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from srft_ray.vllm_engine import GenerateRequest, GenerateResult


def _is_actor_handle(engine: Any) -> bool:
    try:
        from ray.actor import ActorHandle
    except ImportError:  # no Ray here: it cannot be a handle
        return False
    return isinstance(engine, ActorHandle)


class EngineClient:
    """Sync `generate` (policies, from worker threads) and async `agenerate` (critics)."""

    def __init__(self, engine: Any):
        if isinstance(engine, EngineClient):
            engine = engine.engine
        self.engine = engine
        self.is_remote = _is_actor_handle(engine)
        batch = getattr(engine, "generate_batch", None)
        self._async_local = not self.is_remote and inspect.iscoroutinefunction(batch)

    def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        """Results in request order; blocks the calling thread."""
        if self.is_remote:
            import ray

            return list(ray.get(self.engine.generate_batch.remote(requests)))
        if self._async_local:
            raise TypeError("an EngineActor object in this process is async: use agenerate")
        return list(self.engine.generate(requests))

    async def agenerate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        if self.is_remote:
            return list(await self.engine.generate_batch.remote(requests))
        if self._async_local:
            return list(await self.engine.generate_batch(requests))
        return list(await asyncio.to_thread(self.engine.generate, requests))

    def model_path(self) -> str:
        """The checkpoint the engine serves now (its tokenizer lives there too)."""
        if self.is_remote:
            import ray

            return str(ray.get(self.engine.tokenizer_path.remote()))
        inner = getattr(self.engine, "engine", self.engine)  # an EngineActor object wraps one
        return str(inner.model_path)

    def local_tokenizer(self) -> Any:
        """The engine's own tokenizer when it lives in this process, else None."""
        if self.is_remote:
            return None
        inner = getattr(self.engine, "engine", self.engine)
        return getattr(inner, "tokenizer", None)
