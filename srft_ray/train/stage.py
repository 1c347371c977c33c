"""One training stage, as the loop, `srft ablate` and the train job all run it: in this process
or on Ray Train workers, every step's metrics appended to a metrics.jsonl, and a summary of what
the optimizer actually consumed (equal budgets compare these) and how rendering changed the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srft_ray.runstate.layout import append_train_metrics
from srft_ray.train.config import TrainConfig
from srft_ray.train.data import RENDER_COUNTERS


def run_training_stage(
    config: TrainConfig,
    metrics_file: Path | None = None,
    *,
    storage_path: str = "",
    run_name: str = "train",
) -> dict[str, Any]:
    """Train in this process (resources.num_workers 0) or on Ray Train workers (their results
    under `storage_path`, by default beside `metrics_file`'s folder); every step's metrics are
    appended to `metrics_file` (when given); returns the stage's summary metrics."""
    losses: list[float] = []
    data: dict[str, Any] = {}
    consumed = {"tokens": 0, "trained_tokens": 0, "documents": 0, "epochs": 0.0}

    def record(metrics: dict[str, Any]) -> None:
        losses.append(float(metrics["loss"]))
        consumed["tokens"] += int(metrics["num_tokens"])
        consumed["trained_tokens"] += int(metrics["num_trained_tokens"])
        consumed["documents"] += int(metrics.get("num_documents", 0))
        consumed["epochs"] = float(metrics.get("epoch", 0.0))
        if metrics_file is None:
            return
        append_train_metrics(
            metrics_file,
            {
                "step": int(metrics["step"]),
                "loss": float(metrics["loss"]),
                "lr": float(metrics["lr"]),
                "tokens_per_s": float(metrics["tokens_per_s"]),
                "trained_tokens": int(metrics["num_trained_tokens"]),
                "tokens": int(metrics["num_tokens"]),
            },
        )

    if config.resources.num_workers == 0:
        from srft_ray.train.train_loop import train_loop

        result = train_loop(config, report=record)
        data, steps = result.data, result.first_step + result.num_steps
    else:
        from srft_ray.train.trainer import run_training

        storage = storage_path
        if not storage and metrics_file is not None:
            storage = str(Path(metrics_file).parent.parent / "ray-train")
        result = run_training(config, storage_path=storage, run_name=run_name)
        if result.error:
            raise RuntimeError(f"training failed: {result.error}")
        final = dict(result.metrics or {})
        frame = getattr(result, "metrics_dataframe", None)
        rows = frame.to_dict("records") if frame is not None else [final]
        for row in rows:
            if "loss" in row:
                record(row)
        data = {k.removeprefix("data/"): v for k, v in final.items() if k.startswith("data/")}
        steps = int(final.get("step", 0))
    tokens, trained = int(data.get("num_tokens", 0)), int(data.get("num_trained_tokens", 0))
    return {
        # what the optimizer actually consumed (equal budgets compare these)
        "num_tokens": consumed["tokens"],
        "num_trained_tokens": consumed["trained_tokens"],
        "num_documents_consumed": consumed["documents"],
        "epochs": round(consumed["epochs"], 3),
        # the dataset the steps were drawn from
        "dataset_tokens": tokens,
        "dataset_trained_tokens": trained,
        "trained_token_share": trained / tokens if tokens else None,
        "final_loss": losses[-1] if losses else None,
        "num_optimizer_steps": steps,
        "num_masked_steps": int(data.get("num_masked_steps", 0)),
        "num_documents": int(data.get("num_documents", 0)),
        # every way rendering changed a trajectory, counted (masking.RenderedExample)
        **{
            key: int(data.get(key, 0))
            for key in ("num_truncated", "num_dropped_too_long", *RENDER_COUNTERS)
        },
        "mode": "/".join(config.dataset_modes) or config.masking.mode,
    }
