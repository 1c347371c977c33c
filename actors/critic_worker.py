"""CriticWorker: a Ray actor that labels batches of trajectories with an LLMCritic.

It either talks to an existing EngineActor handle (several workers, or tests, sharing one engine)
or hosts its own engine: the EngineActor class runs inside this actor's event loop, so concurrent
`label` calls are still folded into shared vLLM batches. The pool starts, watches and replaces
these actors; a dead worker's batch is retried on another.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ray

from srft_ray.critic.backends import critic_backend, critic_backend_class
from srft_ray.critic.config import CriticConfig
from srft_ray.critic.llm_critic import LabelledBatch, LLMCritic
from srft_ray.data.model import Trajectory
from srft_ray.engine_client import EngineClient


class CriticWorker:
    def __init__(self, config: CriticConfig, engine: Any = None):
        from transformers import AutoTokenizer

        from srft_ray.model_prep import default_model_dir

        tokenizer_path = config.tokenizer
        backend_cls = critic_backend_class(config)
        if backend_cls is not None and backend_cls.needs_engine:
            if engine is None:
                from srft_ray.actors.engine import EngineActor

                engine = EngineActor(config.engine)
                # Our own engine: its context is the limit (over-long prompts are overflow).
                limit = min(config.max_model_len, config.engine.max_model_len)
                config = dataclasses.replace(config, max_model_len=limit)
            else:
                tokenizer_path = tokenizer_path or EngineClient(engine).model_path()
        backend = critic_backend(config, engine)
        self.config = config
        tokenizer_path = tokenizer_path or config.engine.model or str(default_model_dir())
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        self.critic = LLMCritic(config, tokenizer, backend)
        self.num_started = 0
        self.num_finished = 0

    async def label(self, trajectories: list[Trajectory]) -> LabelledBatch:
        self.num_started += 1
        batch = await self.critic.label_batch(trajectories)
        self.num_finished += 1
        return batch

    async def ping(self) -> dict[str, int]:
        return {"num_started": self.num_started, "num_finished": self.num_finished}

    async def thread_info(self) -> dict[str, Any]:
        """The threads and cores this worker (and an engine it hosts) computes with: the
        critic engine's `num_threads`, else Ray's budget (OMP_NUM_THREADS = its CPUs)."""
        from srft_ray.vllm_engine import cpu_thread_info

        return cpu_thread_info()


def start_critic_worker(
    config: CriticConfig,
    *,
    engine: Any = None,
    num_cpus: float = 0.25,
    num_gpus: float = 0,
    resources: dict[str, float] | None = None,
    max_concurrency: int = 8,
):
    """One CriticWorker; with `engine=None` and backend vllm it hosts its own engine (give it
    a GPU on a cluster). `resources`: Ray custom resources (srft_ray.resources.Resources)."""
    options: dict[str, Any] = {
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "max_concurrency": max_concurrency,
    }
    if resources:
        options["resources"] = dict(resources)
    return ray.remote(CriticWorker).options(**options).remote(config, engine)
