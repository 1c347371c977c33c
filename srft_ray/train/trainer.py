"""Ray Train launch: `run_training` runs `train_loop` on N workers with TorchTrainer.

The loop itself knows nothing of Ray: each worker converts the config dict back to a
TrainConfig and calls `train_loop` with `ray.train.report` as its metrics sink. Ray Train has
already initialized the process group (gloo on CPU, nccl on GPU), which train_loop joins.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from srft_ray.ray_cluster import RayConfig
from srft_ray.resources import Resources
from srft_ray.train.config import TrainConfig


@dataclass(kw_only=True)
class TrainJobConfig:
    """`srft train` / `python -m srft_ray.jobs.train`: the run plus where and how wide to run it."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "num_workers": "train.resources.num_workers",
        "use_gpu": "train.resources.num_gpus",
        "cpus_per_worker": "train.resources.num_cpus",
    }

    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(resources=Resources(num_workers=1))
    )
    """The fine-tuning run itself; train.resources: Ray Train workers (default 1; 0 runs
    train_loop in this process), CPUs and GPUs each."""
    storage_path: str = ""
    """Ray Train run storage (absolute; shared storage on a multi-node cluster); empty: next to
    the output directory."""
    run_name: str = "srft-train"
    """Name of the Ray Train run (a folder under storage_path)."""
    ray: RayConfig = field(default_factory=RayConfig)
    """Cluster to join or local cluster to start."""


def _absolute(config: TrainConfig) -> TrainConfig:
    """Workers run in another working directory: make every path absolute before shipping."""

    def fix(path: str) -> str:
        return str(Path(path).expanduser().resolve()) if path else path

    return replace(
        config,
        model_path=fix(config.model_path),
        dataset_dirs=[fix(p) for p in config.dataset_dirs],
        checkpoint_dir=fix(config.checkpoint_dir),
        output_dir=fix(config.output_dir),
    )


def ray_train_worker(config: dict[str, Any]) -> None:
    """TorchTrainer's per-worker function."""
    import ray.train

    from srft_ray.train.train_loop import train_loop

    rank = ray.train.get_context().get_world_rank()

    def report(metrics: dict) -> None:
        if not metrics.get("final") or rank != 0:
            ray.train.report(metrics)
            return
        # Ray Train keeps only metrics that come with a checkpoint: the final report carries a
        # small summary folder (not the model: the export already sits in output_dir).
        with tempfile.TemporaryDirectory() as tmp:
            summary = {"metrics": metrics, "output_dir": config.get("output_dir", "")}
            (Path(tmp) / "summary.json").write_text(json.dumps(summary, indent=2))
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))

    train_loop(config, report=report)


def run_training(config: TrainConfig, *, storage_path: str = "", run_name: str = "srft-train"):
    """Fit `config` on its `resources.num_workers` Ray Train workers; returns ray.train.Result."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from srft_ray.config import to_dict

    config = _absolute(config)
    if not storage_path:
        anchor = config.output_dir or config.checkpoint_dir
        if not anchor:
            raise ValueError("set storage_path or train.output_dir: Ray Train needs a run folder")
        storage_path = str(Path(anchor).parent / "ray-train")
    spec = config.resources
    if spec.num_workers < 1:
        raise ValueError("run_training needs train.resources.num_workers >= 1 (0: call train_loop)")
    use_gpu = spec.num_gpus > 0
    resources = {"CPU": spec.num_cpus, **spec.custom}
    if use_gpu:
        resources["GPU"] = spec.num_gpus
    trainer = TorchTrainer(
        ray_train_worker,
        train_loop_config=to_dict(config),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=spec.num_workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=run_name,
            storage_path=str(Path(storage_path).resolve()),
            failure_config=FailureConfig(max_failures=config.max_failures),
        ),
    )
    return trainer.fit()
