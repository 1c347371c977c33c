"""Fixtures for the trainer: a tiny random-weight Llama with the real SmolLM2 tokenizer, and
labelled trajectory stores written with the real TrajectoryStore."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import make_trajectory, tiny_llama, write_store


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A 2-layer random Llama with SmolLM2's vocabulary, saved as a normal HF folder."""
    path = tmp_path_factory.mktemp("tiny-llama")
    return tiny_llama(path, tokenizer, hidden=64, heads=4, kv_heads=2)


@pytest.fixture(scope="session")
def tiny_vllm_model_dir(tmp_path_factory, tokenizer) -> Path:
    """Like tiny_model_dir with head_dim 64, a size vLLM's CPU attention kernels support."""
    path = tmp_path_factory.mktemp("tiny-llama-hd64")
    return tiny_llama(path, tokenizer, hidden=128, heads=2, kv_heads=1)


@pytest.fixture
def labelled_store(tmp_path) -> Path:
    """12 trajectories: half resolved, varied lengths, some steps labelled bad."""
    trajs = []
    for i in range(12):
        labels = ["good", "bad", "good", "good"][: 2 + i % 3]
        trajs.append(make_trajectory(i, resolved=i % 2 == 0, labels=labels, words=4 + 3 * i))
    return write_store(tmp_path / "labelled", trajs)
