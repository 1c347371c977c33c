"""Typed configs of the critique stage: prompts, the critic itself, its backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from srft_ray.critic.replay_states import ReplayConfig
from srft_ray.vllm_engine import EngineConfig

CritiqueMode = Literal["per_step", "single_pass"]
LabelMode = Literal[
    "critic",
    "rules",
    "critic_and_rules",
    "critic_or_rules",
    "replay",
    "replay_else_critic",
    "consensus",
]


@dataclass(kw_only=True)
class PromptConfig:
    """What the critic is shown; every budget is in characters (cheap, tokenizer-independent)."""

    version: str = "v1"
    """Template version; the full key is f"{mode}/{version}", e.g. "per_step/v1"."""
    max_observation_chars: int = 1200
    """Each observation is cut to this many chars: head + tail with a marker in the middle."""
    max_assistant_chars: int = 2000
    """Each assistant message is cut the same way (long edits rarely need their middle)."""
    max_task_chars: int = 4000
    """The problem statement is cut the same way."""
    max_reference_chars: int = 4000
    """The reference patch a privileged prompt shows is cut the same way."""
    max_test_results: int = 20
    """At most this many per-test results are listed in the outcome section."""


@dataclass(kw_only=True)
class OpenAIConfig:
    """A critic served elsewhere behind an OpenAI-compatible /v1/completions (vLLM's server)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    """Served model name; the tokenizer at `CriticConfig.tokenizer` must match it."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (may be unset for a local server)."""
    timeout_s: float = 300.0
    max_concurrency: int = 16
    """Requests sent to the server at once."""


BACKENDS: dict[str, str] = {
    "vllm": "srft_ray.critic.backends:EngineActorBackend",
    "openai": "srft_ray.critic.backends:OpenAIBackend",
}
"""Critic backends: name -> "module:Class" (imported on use by critic.backends.critic_backend)."""


@dataclass(kw_only=True)
class CriticConfig:
    """How steps are labelled: critic backend, mode, confidence method and bad-output policy."""

    backend: str = "vllm"
    """A name in BACKENDS: vllm (a vLLM engine in a Ray actor) or
    openai (an OpenAI-compatible server)."""
    mode: CritiqueMode = "per_step"
    """per_step: one request per step sharing the history prefix; single_pass: one per trajectory."""
    labels: LabelMode = "critic"
    """Which sources label and how their verdicts combine into the label training uses: critic,
    rules and their combinations (rules.combine); replay, replay_else_critic and consensus
    (label_modes). rules and replay start no critic model."""
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    """The replay source (labels replay, replay_else_critic, consensus)."""
    min_confidence: float = 0.0
    """A critic verdict less sure than this (its renormalised probability) counts as no verdict
    in the combined modes; 0 keeps every verdict."""
    prompt: PromptConfig = field(default_factory=PromptConfig)
    confidence: Literal["logprob", "vote"] = "logprob"
    """logprob: greedy verdict, confidence = its renormalised token probability; vote: k samples."""
    num_votes: int = 3
    """Samples per verdict in vote mode (odd avoids ties; a tie labels the step unknown)."""
    vote_temperature: float = 1.0
    top_logprobs: int = 5
    """Candidates per generated token returned by the engine (for the renormalised confidence)."""
    prefix_warmup: bool = True
    """per_step: send each trajectory's longest prompt first so the others hit the prefix cache."""
    unique_cache_salt: bool = False
    """Give every request its own cache salt: no prefix reuse (the naive baseline for benchmarks)."""
    cache_salt: str = ""
    """One salt for all requests: runs with different salts never share prefix-cache blocks."""
    max_model_len: int = 8192
    """Prompt + reply budget of the critic engine; longer prompts are labelled unknown (overflow)."""
    seed: int = 0
    model_name: str = ""
    """Recorded in each StepLabel.model; empty uses the engine's model path."""
    tokenizer: str = ""
    """Tokenizer folder for rendering prompts; empty uses the engine's model (or embedded model)."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    """The critic engine a worker hosts (backend vllm)."""
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            known = ", ".join(sorted(BACKENDS))
            raise ValueError(f"unknown critic backend {self.backend!r} (known: {known})")

    @property
    def prompt_key(self) -> str:
        return f"{self.mode}/{self.prompt.version}"
