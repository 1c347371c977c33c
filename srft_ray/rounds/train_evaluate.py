"""The loop's train and evaluate stages: one round's TrainConfig, training from the base (on all
data so far) or the last policy, and the held-out evaluation of the base model and each round.

Each is a manifest stage (srft_ray.runstate.manifest): skipped when it finished on the same
inputs (train keys on the labelled data's content and the starting weights, evaluate on the
exported weights and the held-out task ids), otherwise redone with its stale outputs removed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from srft_ray.config import to_dict
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.stages import RunContext, begin_stage, fail_stage, finish_stage
from srft_ray.runstate.hashing import (
    checkpoint_hash,
    dataset_hash,
    json_hash,
    run_relative_hash,
)
from srft_ray.runstate.layout import round_paths
from srft_ray.runstate.manifest import RoundManifest
from srft_ray.train.data import untrainable_stores
from srft_ray.train.stage import run_training_stage

# ----------------------------------------------------------------------------- train


def train_config_for(ctx: RunContext, manifest: RoundManifest, policy: str):
    """This round's TrainConfig: from the base on all data so far (the teacher's rounds weighted
    by teacher_weight once the student collects), or from the last policy on this round's data;
    each round's store masked in its own mode (LoopConfig.masking_mode_of_round)."""
    paths, loop = manifest.paths, ctx.config
    weights: list[float] = []
    if loop.train_from == "base":
        start, rounds = ctx.base_model, list(range(manifest.round_index + 1))
        if manifest.round_index >= loop.teacher_rounds and loop.teacher_weight != 1.0:
            if loop.teacher_weight == 0:  # teacher-free from the first student round on
                rounds = [i for i in rounds if i >= loop.teacher_rounds]
            else:
                weights = [loop.teacher_weight if i < loop.teacher_rounds else 1.0 for i in rounds]
    else:
        start, rounds = policy, [manifest.round_index]
    modes = [loop.masking_mode_of_round(i) for i in rounds]
    masking, per_store = loop.train.masking, []
    if len(set(modes)) == 1:
        masking = replace(masking, mode=modes[0])
    else:
        per_store = modes
    return replace(
        ctx.config.train,
        model_path=start,
        dataset_dirs=[str(round_paths(ctx.run.run_dir, i).labelled) for i in rounds],
        dataset_modes=per_store,
        dataset_weights=weights,
        masking=masking,
        output_dir=str(paths.export),
        # Optimizer-state checkpoints cost more than a few tiny steps: only when asked for.
        checkpoint_dir=str(paths.checkpoint) if ctx.config.train.checkpoint_every else "",
    )


def train(ctx: RunContext, manifest: RoundManifest, policy: str) -> str:
    paths = manifest.paths
    config = train_config_for(ctx, manifest, policy)
    inputs = {
        "config": run_relative_hash(to_dict(config.without_resources()), ctx.run.run_dir),
        "model": checkpoint_hash(config.model_path),
        **{f"data:{Path(d).parent.name}": dataset_hash(d) for d in config.dataset_dirs},
    }
    stage = manifest.stage("train")
    stale = [paths.checkpoint, paths.export, paths.train_metrics.parent]
    if not begin_stage(ctx, stage, inputs, stale):
        return str(stage.output_path("export"))
    empty = untrainable_stores(config)
    if len(empty) == len(config.dataset_dirs):  # a round must not crash on data it cannot use
        modes = "/".join(config.dataset_modes) or config.masking.mode
        why = f"nothing trainable in {', '.join(empty)} (mode {modes})"
        ctx.log(f"[train] round {manifest.round_index}: {why}; keeping the policy {policy}")
        finish_stage(ctx, stage, {"export": Path(policy)}, {"skipped": why, "kept_policy": policy})
        return policy
    ctx.engines.release()  # training wants the accelerator (and on CPU, the cores)
    ctx.log(
        f"[train] round {manifest.round_index}: {'/'.join(config.dataset_modes) or config.masking.mode}"
        f" from {Path(config.model_path).name}"
        f" on {len(config.dataset_dirs)} labelled store(s)"
    )
    try:
        metrics = run_training_stage(config, paths.train_metrics)
    except BaseException as exc:
        fail_stage(ctx, stage, exc)
        raise
    finish_stage(ctx, stage, {"export": paths.export}, metrics)
    return str(paths.export)


# ----------------------------------------------------------------------------- evaluate


def evaluate_base(ctx: RunContext) -> dict[str, Any]:
    """The untrained base model on the held-out tasks: the point every round is measured from.

    Kept in RUN_DIR/base/ (result.json + the eval store); redone only when the base weights,
    the evaluation config or the held-out tasks change.
    """
    import shutil

    from srft_ray.present.progress import stage_line
    from srft_ray.rounds.evaluation import evaluate_policy
    from srft_ray.runstate.hashing import read_json, write_json_atomic

    folder = ctx.run.run_dir / "base"
    inputs = {
        "model": checkpoint_hash(ctx.base_model),
        "evaluate": json_hash(to_dict(ctx.config.evaluate)),
        "tasks": json_hash(sorted(t.instance_id for t in ctx.eval_tasks)),
    }
    result = folder / "result.json"
    if result.exists() and read_json(result, "base evaluation").get("inputs") == inputs:
        metrics = read_json(result, "base evaluation")["metrics"]
    else:
        shutil.rmtree(folder, ignore_errors=True)
        ctx.log(f"[evaluate] base model: {len(ctx.eval_tasks)} held-out tasks")
        metrics = evaluate_policy(
            ctx.config.evaluate,
            ctx.base_model,
            ctx.eval_tasks,
            TrajectoryStore(folder / "eval"),
            round_index=0,
            source=ctx.config.tasks.source,
            engine=ctx.engines.get(ctx.base_model, ctx.log),
            log=ctx.log,
        )
        write_json_atomic(result, {"inputs": inputs, "metrics": metrics})
    ctx.log(f"[evaluate] base model: {stage_line('evaluate', metrics, None)}")
    return metrics


def evaluate(ctx: RunContext, manifest: RoundManifest, export: str) -> dict[str, Any]:
    from srft_ray.rounds.evaluation import evaluate_policy

    paths = manifest.paths
    inputs = {
        "config": json_hash(to_dict(ctx.config.evaluate)),
        "policy": checkpoint_hash(export),
        "tasks": json_hash(sorted(t.instance_id for t in ctx.eval_tasks)),
    }
    stage = manifest.stage("evaluate")
    if not begin_stage(ctx, stage, inputs, [paths.eval]):
        return stage.record.metrics
    ctx.log(f"[evaluate] round {manifest.round_index}: {len(ctx.eval_tasks)} held-out tasks")
    try:
        engine = ctx.engines.get(export, ctx.log)
        metrics = evaluate_policy(
            ctx.config.evaluate,
            export,
            ctx.eval_tasks,
            TrajectoryStore(paths.eval),
            round_index=manifest.round_index,
            source=ctx.config.tasks.source,
            engine=engine,
            log=ctx.log,
        )
    except BaseException as exc:
        fail_stage(ctx, stage, exc)
        raise
    finish_stage(ctx, stage, {"eval": paths.eval}, metrics)
    return metrics
