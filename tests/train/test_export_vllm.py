"""The exported folder is a real Hugging Face model that vLLM (CPU) loads and generates with."""

from __future__ import annotations

import json
import os

import pytest
import torch
from train_helpers import tiny_config

from srft_ray.train.train_loop import train_loop


@pytest.mark.slow
def test_exported_model_loads_in_vllm_and_matches_hf(tiny_vllm_model_dir, labelled_store, tmp_path):
    out = tmp_path / "policy"
    result = train_loop(
        tiny_config(tiny_vllm_model_dir, labelled_store, tmp_path, max_steps=1, output_dir=str(out))
    )
    assert result.output_dir == str(out.resolve())
    saved = json.loads((out / "config.json").read_text())
    assert "attn_implementation" not in saved and saved["architectures"] == ["LlamaForCausalLM"]
    assert (out / "chat_template.jinja").exists() or "chat_template" in (
        out / "tokenizer_config.json"
    ).read_text()

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import LLM, SamplingParams

    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "List the files."}], tokenize=False, add_generation_prompt=True
    )
    llm = LLM(
        model=str(out),
        enforce_eager=True,
        distributed_executor_backend="uni",
        dtype="float32",
        kv_cache_memory_bytes=512 << 20,
        seed=0,
    )
    try:
        params = SamplingParams(max_tokens=8, temperature=0.0, prompt_logprobs=0)
        (generated,) = llm.generate([prompt], params)
    finally:
        del llm
    assert len(generated.outputs[0].token_ids) > 0
    # vLLM's prompt logprobs equal the HF model's: the exported weights are the trained ones.
    ids = generated.prompt_token_ids
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        logprobs = torch.log_softmax(hf(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    for pos in range(1, len(ids)):
        vllm_lp = generated.prompt_logprobs[pos][ids[pos]].logprob
        assert vllm_lp == pytest.approx(logprobs[pos - 1, ids[pos]].item(), abs=2e-3)
