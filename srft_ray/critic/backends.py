"""Critic backends, chosen by name from BACKENDS (srft_ray.critic.config): "vllm" (an EngineActor or in-process engine)
and "openai". `critic_backend(config, engine)` builds the one `config.backend` names; a backend
with `needs_engine` is handed the engine its worker holds (or hosts).

A backend turns GenerateRequests into GenerateResults; a request the engine rejects (a prompt
longer than its context, say) comes back as that exception in its slot, so one bad request never
costs the others their verdicts. An engine that died raises `CriticEngineDied` instead: that is
not a bad output but a lost worker, and the pool retries the whole batch elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from typing import Any, Protocol

from srft_ray.critic.config import BACKENDS, CriticConfig, OpenAIConfig
from srft_ray.engine_client import EngineClient
from srft_ray.registry import resolve
from srft_ray.vllm_engine import GenerateRequest, GenerateResult


class CriticEngineDied(RuntimeError):
    """The engine behind a critic is gone; the caller should retry on another worker."""


class CriticBackend(Protocol):
    async def generate(
        self, requests: list[GenerateRequest]
    ) -> list[GenerateResult | Exception]: ...


def _is_actor_death(exc: BaseException) -> bool:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return isinstance(exc, (RayActorError, ActorDiedError, ActorUnavailableError))


class EngineActorBackend:
    """Calls an `EngineActor` (a Ray handle, or the class itself living in this event loop)."""

    needs_engine = True

    def __init__(self, engine: Any):
        self.engine = EngineClient(engine)

    @classmethod
    def from_config(cls, config: CriticConfig, engine: Any = None) -> EngineActorBackend:
        if engine is None:
            raise ValueError("critic backend 'vllm' needs an engine (EngineActor handle or object)")
        return cls(engine)

    async def _call(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        return await self.engine.agenerate(requests)

    async def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult | Exception]:
        if not requests:
            return []
        try:
            return list(await self._call(requests))
        except Exception as exc:
            if _is_actor_death(exc):
                raise CriticEngineDied(str(exc)) from exc
            if len(requests) == 1:
                return [exc]
        # The engine rejected the batch: find out which requests it rejects, one by one.
        out: list[GenerateResult | Exception] = []
        for request in requests:
            out.extend(await self.generate([request]))
        return out


class OpenAIBackend:
    """POSTs token-id prompts to an OpenAI-compatible /v1/completions (vLLM's server).

    Uses vLLM's extensions: `structured_outputs` for choice / JSON schema, `cache_salt`, and
    `return_tokens_as_token_ids` so logprob tokens map back to ids.
    """

    needs_engine = False

    def __init__(self, config: OpenAIConfig):
        self.config = config
        self._limit = asyncio.Semaphore(config.max_concurrency)

    @classmethod
    def from_config(cls, config: CriticConfig, engine: Any = None) -> OpenAIBackend:
        return cls(config.openai)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(
            self.config.base_url.rstrip("/") + "/completions",
            data=json.dumps(body).encode(),
            headers=headers,
        )
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400 carries the reason (e.g. prompt too long)
            raise RuntimeError(f"HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise CriticEngineDied(f"{self.config.base_url}: {exc}") from exc

    def _body(self, req: GenerateRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "prompt": list(req.prompt_token_ids),
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "n": req.n,
            "return_tokens_as_token_ids": True,
        }
        if req.seed is not None:
            body["seed"] = req.seed
        if req.logprobs is not None:
            body["logprobs"] = max(req.logprobs, 1)
        if req.stop:
            body["stop"] = req.stop
        if req.choice is not None:
            body["structured_outputs"] = {"choice": list(req.choice)}
        elif req.json_schema is not None:
            body["structured_outputs"] = {"json": req.json_schema}
        if req.cache_salt:
            body["cache_salt"] = req.cache_salt
        return body

    async def _one(self, req: GenerateRequest) -> GenerateResult | Exception:
        async with self._limit:
            try:
                reply = await asyncio.to_thread(self._post, self._body(req))
            except CriticEngineDied:
                raise
            except Exception as exc:
                return exc
        usage = reply.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        results = [_choice_result(c, usage, details) for c in reply.get("choices", [])]
        if not results:
            return RuntimeError(f"no choices in reply: {str(reply)[:200]}")
        first = results[0]
        first.samples = results[1:]
        return first

    async def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult | Exception]:
        return list(await asyncio.gather(*(self._one(r) for r in requests)))


def critic_backend_class(config: CriticConfig) -> Any:
    """The class `config.backend` names, or None when the labels need no model (rules, replay)."""
    from srft_ray.critic.label_modes import CRITIC_FREE_MODES

    if config.labels in CRITIC_FREE_MODES:
        return None
    return resolve(BACKENDS, config.backend, "critic backend")


def critic_backend(config: CriticConfig, engine: Any = None) -> CriticBackend | None:
    """The backend `config.backend` names, built from `config` (and `engine` when it needs one)."""
    cls = critic_backend_class(config)
    return None if cls is None else cls.from_config(config, engine)


def _token_id(token: str) -> int:
    return int(token.split(":", 1)[1]) if token.startswith("token_id:") else -1


def _choice_result(choice: dict, usage: dict, details: dict) -> GenerateResult:
    logprobs = choice.get("logprobs") or {}
    tokens = logprobs.get("tokens") or []
    return GenerateResult(
        token_ids=[_token_id(t) for t in tokens],
        text=choice.get("text", ""),
        finish_reason=choice.get("finish_reason") or "",
        num_prompt_tokens=int(usage.get("prompt_tokens") or 0),
        num_cached_tokens=int(details.get("cached_tokens") or 0),
        logprobs=logprobs.get("token_logprobs") if tokens else None,
        top_logprobs=logprobs.get("top_logprobs") if tokens else None,
    )
