"""Policies the agent can sample from, chosen by name: "vllm", "openai" or "scripted".

A `PolicyProvider` lives once per rollout worker (it holds what episodes share: an engine
handle, a tokenizer, a concurrency bound) and hands each episode its own PolicyClient via
`for_episode(task, sample_index)`, so per-episode state (sampling seeds, the ScriptedTeacher's
plan) never leaks between concurrent episodes. Each kind is one provider class, named in the
POLICIES map; `policy_provider(config)` builds the one `config.kind` names.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from srft_ray.agent.agent_loop import ContextLimitExceeded
from srft_ray.agent.scripted import ScriptedConfig, scripted_teacher
from srft_ray.data.model import Task
from srft_ray.engine_client import EngineClient
from srft_ray.protocols import PolicyClient, PolicyReply
from srft_ray.registry import resolve
from srft_ray.resources import Resources
from srft_ray.vllm_engine import EngineConfig

_TOKENIZER_LOCK = threading.Lock()


@dataclass(kw_only=True)
class SamplingConfig:
    """How replies are sampled (vllm and openai policies)."""

    max_tokens: int = 1024
    """Most tokens per reply."""
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int | None = 0
    """Base seed; each request gets seed + 1000 * sample_index + step (None: unseeded)."""
    logprobs: bool = True
    """Ask for the logprob of each sampled token."""


@dataclass(kw_only=True)
class OpenAIPolicyConfig:
    """An OpenAI-compatible chat-completions endpoint (kind openai; PolicyConfig.model names the
    model)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    """The endpoint's base URL (…/v1)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (unset: no Authorization header)."""
    request_timeout_s: float = 600.0
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Extra request fields (e.g. {"return_token_ids": true} on a vLLM server)."""


@dataclass(kw_only=True)
class PolicyConfig:
    """Which policy the agent samples from, and how."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "engine_num_cpus": "resources.num_cpus",
        "engine_num_gpus": "resources.num_gpus",
        "base_url": "openai.base_url",
        "api_key_env": "openai.api_key_env",
        "request_timeout_s": "openai.request_timeout_s",
        "extra_body": "openai.extra_body",
    }

    kind: str = "scripted"
    """Backend, a name in POLICIES: scripted (ScriptedTeacher), vllm (EngineActor /
    in-process engine), openai (an OpenAI-compatible endpoint)."""
    version: str = ""
    """Policy version recorded in provenance (e.g. the checkpoint or round it came from)."""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    max_concurrency: int = 16
    """Most requests one worker has in flight to the model at once."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    """vllm: the engine collect starts when it is not given an engine actor."""
    resources: Resources = field(default_factory=Resources)
    """vllm: what the policy engine reserves (one engine: num_workers stays 1). The loop's engine
    that serves collect and evaluate reads collect.episode.policy.resources."""
    model: str = ""
    """openai: model name sent with each request (vllm: reported name; empty = engine model)."""
    openai: OpenAIPolicyConfig = field(default_factory=OpenAIPolicyConfig)
    """kind openai: the endpoint."""
    scripted: ScriptedConfig = field(default_factory=ScriptedConfig)
    """kind scripted: the ScriptedTeacher."""

    def __post_init__(self) -> None:
        if self.kind not in POLICIES:
            known = ", ".join(sorted(POLICIES))
            raise ValueError(f"unknown policy kind {self.kind!r} (known: {known})")
        if self.resources.num_workers != 1:
            raise ValueError("resources.num_workers: a policy runs on one engine (1)")


def _seed(base: int | None, sample_index: int, step: int) -> int | None:
    return None if base is None else base + 1000 * sample_index + step


def _chat(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Only role and content go to the model (trajectory messages carry step indices too)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


class VLLMPolicy:
    """Renders the chat with the tokenizer's template and samples from a vLLM engine (exact ids)."""

    def __init__(
        self,
        *,
        engine: Any,
        tokenizer: Any,
        sampling: SamplingConfig,
        model_name: str,
        version: str = "",
        sample_index: int = 0,
        max_model_len: int = 0,
        semaphore: threading.Semaphore | None = None,
    ):
        self.engine = EngineClient(engine)
        self.tokenizer, self.sampling = tokenizer, sampling
        self.model_name, self.version = model_name, version
        self.sample_index, self.max_model_len = sample_index, max_model_len
        self.semaphore = semaphore or threading.Semaphore(1)

    def prompt_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        rendered = self.tokenizer.apply_chat_template(
            _chat(messages), add_generation_prompt=True, tokenize=True
        )
        return list(rendered["input_ids"] if hasattr(rendered, "keys") else rendered)

    def generate(self, messages: list[dict[str, Any]]) -> PolicyReply:
        from srft_ray.vllm_engine import GenerateRequest

        started = time.monotonic()
        prompt = self.prompt_ids(messages)
        max_tokens = self.sampling.max_tokens
        if self.max_model_len:
            room = self.max_model_len - len(prompt)
            if room <= 0:
                raise ContextLimitExceeded(f"prompt of {len(prompt)} tokens fills the context")
            max_tokens = min(max_tokens, room)
        step = sum(1 for m in messages if m["role"] == "assistant")
        request = GenerateRequest(
            prompt_token_ids=prompt,
            max_tokens=max_tokens,
            temperature=self.sampling.temperature,
            top_p=self.sampling.top_p,
            seed=_seed(self.sampling.seed, self.sample_index, step),
            logprobs=0 if self.sampling.logprobs else None,
        )
        with self.semaphore:
            (result,) = self.engine.generate([request])
        return PolicyReply(
            text=result.text,
            token_ids=list(result.token_ids),
            logprobs=result.logprobs,
            finish_reason=result.finish_reason,
            num_prompt_tokens=result.num_prompt_tokens,
            seconds=time.monotonic() - started,
        )


class OpenAIPolicy:
    """Any OpenAI-compatible chat-completions endpoint (stdlib HTTP; logprobs when offered)."""

    def __init__(
        self,
        config: PolicyConfig,
        *,
        sample_index: int = 0,
        semaphore: threading.Semaphore | None = None,
    ):
        if not config.model:
            raise ValueError("policy.model must name the endpoint's model for kind=openai")
        self.config = config
        self.model_name, self.version = config.model, config.version
        self.sample_index = sample_index
        self.semaphore = semaphore or threading.Semaphore(1)

    def generate(self, messages: list[dict[str, Any]]) -> PolicyReply:
        started = time.monotonic()
        sampling = self.config.sampling
        step = sum(1 for m in messages if m["role"] == "assistant")
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": _chat(messages),
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            **({"logprobs": True} if sampling.logprobs else {}),
            **self.config.openai.extra_body,
        }
        seed = _seed(sampling.seed, self.sample_index, step)
        if seed is not None:
            body["seed"] = seed
        with self.semaphore:
            data = self._post(body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise RuntimeError(
                f"{self.config.openai.base_url}: unexpected reply {data!r:.300}"
            ) from exc
        content_logprobs = (choice.get("logprobs") or {}).get("content") or None
        token_ids = choice.get("token_ids")  # vLLM servers add these when asked to
        return PolicyReply(
            text=text,
            token_ids=list(token_ids) if token_ids else None,
            logprobs=[float(t["logprob"]) for t in content_logprobs] if content_logprobs else None,
            finish_reason=choice.get("finish_reason") or "stop",
            num_prompt_tokens=int((data.get("usage") or {}).get("prompt_tokens") or 0),
            seconds=time.monotonic() - started,
        )

    def _post(self, body: dict[str, Any], attempts: int = 4) -> dict[str, Any]:
        endpoint = self.config.openai
        url = endpoint.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(endpoint.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        payload = json.dumps(body).encode()
        for attempt in range(attempts):
            request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=endpoint.request_timeout_s) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                if exc.code == 400 and "context" in detail.lower():
                    raise ContextLimitExceeded(detail[:300]) from None
                if exc.code < 500 and exc.code != 429 or attempt == attempts - 1:
                    raise RuntimeError(f"{url}: HTTP {exc.code}: {detail[:500]}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == attempts - 1:
                    raise RuntimeError(f"{url}: {exc}") from exc
            time.sleep(min(2**attempt, 10))  # transient: back off and retry
        raise AssertionError("unreachable")


class ScriptedPolicies:
    """kind "scripted": a fresh ScriptedTeacher per episode (its plan is per-episode state)."""

    def __init__(self, config: PolicyConfig, *, engine: Any = None, round_index: int = 0):
        self.config = config
        self.round_index = round_index
        """Enters the scripted teacher's seed, so later teacher rounds are not copies."""

    def sampling_params(self) -> dict[str, Any]:
        return {"scripted": asdict(self.config.scripted)}

    def for_episode(self, task: Task, sample_index: int) -> PolicyClient:
        return scripted_teacher(
            task, seed=sample_index, round_index=self.round_index, config=self.config.scripted
        )


class VLLMPolicies:
    """kind "vllm": VLLMPolicy clients sharing one engine, tokenizer and concurrency bound."""

    def __init__(self, config: PolicyConfig, *, engine: Any = None, round_index: int = 0):
        if engine is None:
            raise ValueError(
                "policy kind 'vllm' needs an engine (EngineActor handle or VLLMEngine)"
            )
        self.config = config
        self.engine = EngineClient(engine)
        self.semaphore = threading.Semaphore(max(1, config.max_concurrency))
        self._tokenizer = None
        self._served_path: str | None = None

    @property
    def model_name(self) -> str:
        return self.config.model or self.served_model_path().rstrip("/").rsplit("/", 1)[-1]

    @property
    def version(self) -> str:
        """The configured version, else the checkpoint path the engine serves."""
        return self.config.version or self.served_model_path()

    def sampling_params(self) -> dict[str, Any]:
        return asdict(self.config.sampling)

    def served_model_path(self) -> str:
        """The checkpoint the vllm engine serves (asked once; the actor may have reloaded)."""
        if self._served_path is None:
            self._served_path = self.engine.model_path()
        return self._served_path

    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = self.engine.local_tokenizer()
            if self._tokenizer is None:
                # Episodes call this from several threads at once; a lazy transformers import
                # racing itself raises ImportError, so one thread loads and the rest wait.
                with _TOKENIZER_LOCK:
                    if self._tokenizer is None:
                        from transformers import AutoTokenizer

                        path = self.served_model_path()
                        self._tokenizer = AutoTokenizer.from_pretrained(path)
        return self._tokenizer

    def for_episode(self, task: Task, sample_index: int) -> PolicyClient:
        return VLLMPolicy(
            engine=self.engine,
            tokenizer=self.tokenizer(),
            sampling=self.config.sampling,
            model_name=self.model_name,
            version=self.version,
            sample_index=sample_index,
            max_model_len=self.config.engine.max_model_len,
            semaphore=self.semaphore,
        )


class OpenAIPolicies:
    """kind "openai": OpenAIPolicy clients sharing one concurrency bound."""

    def __init__(self, config: PolicyConfig, *, engine: Any = None, round_index: int = 0):
        self.config = config
        self.semaphore = threading.Semaphore(max(1, config.max_concurrency))

    def sampling_params(self) -> dict[str, Any]:
        return asdict(self.config.sampling)

    def for_episode(self, task: Task, sample_index: int) -> PolicyClient:
        return OpenAIPolicy(self.config, sample_index=sample_index, semaphore=self.semaphore)


POLICIES: dict[str, str] = {
    "scripted": "srft_ray.agent.policies:ScriptedPolicies",
    "vllm": "srft_ray.agent.policies:VLLMPolicies",
    "openai": "srft_ray.agent.policies:OpenAIPolicies",
}
"""Policy kinds: name -> "module:Class" of its PolicyProvider (imported on use)."""


class PolicyProvider(Protocol):
    """Per-worker policy factory (see the module doc); one class per kind in POLICIES, built as
    `Class(config, engine=..., round_index=...)`."""

    def sampling_params(self) -> dict[str, Any]:
        """What provenance records as the sampling parameters."""
        ...

    def for_episode(self, task: Task, sample_index: int) -> PolicyClient: ...


def policy_provider(config: PolicyConfig, *, engine: Any = None, round_index: int = 0):
    """The PolicyProvider of `config.kind` (ValueError naming the known kinds)."""
    cls = resolve(POLICIES, config.kind, "policy kind")
    return cls(config, engine=engine, round_index=round_index)
