"""One real TorchTrainer.fit: 2 CPU workers (gloo) on the session's local Ray cluster."""

from __future__ import annotations

import pytest
from train_helpers import tiny_config

from srft_ray.resources import Resources
from srft_ray.train.trainer import run_training


@pytest.mark.slow
def test_torch_trainer_fit_two_workers(ray_cluster, tiny_model_dir, labelled_store, tmp_path):
    config = tiny_config(
        tiny_model_dir,
        labelled_store,
        tmp_path,
        max_steps=2,
        output_dir=str(tmp_path / "policy"),
        resources=Resources(num_workers=2, num_cpus=1.0),
    )
    result = run_training(config)
    assert result.error is None
    metrics = result.metrics
    assert metrics["step"] == 2
    for key in ("loss", "num_trained_tokens", "num_masked_steps", "tokens_per_s", "lr"):
        assert key in metrics
    assert metrics["num_trained_tokens"] > 0 and 0 < metrics["loss"] < 20
    assert metrics["data/num_documents"] == 12
    assert (tmp_path / "policy" / "model.safetensors").exists()
