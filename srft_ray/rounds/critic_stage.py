"""The loop's critic distillation (LoopConfig.train_critic): after round 0's critique, train a
critic on round 0's labels with `srft train-critic`'s own function, and label every later round
with it, served by vLLM in the critique pool like any critic model.

Round 0 labels with replay (what the critic learns from: replay, then the teacher's ground
truth, DistillConfig.label_sources); later rounds label with `critic.labels`, the critic being
the distilled one (single_pass, the prompt it was trained with). The stage is `distil` in round
0's manifest, keyed on the labelled store's content, the distillation config and the base
weights; a later round's critique keys on the export's weights, so a retrained critic relabels.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from srft_ray.config import to_dict
from srft_ray.critic.config import CriticConfig
from srft_ray.rounds.stages import RunContext, begin_stage, fail_stage, finish_stage
from srft_ray.runstate.hashing import checkpoint_hash, dataset_hash, json_hash
from srft_ray.runstate.manifest import RoundManifest

DISTIL_ROUND = 0
"""The round whose labels teach the critic (the teacher's, labelled by replay)."""


def critic_export(ctx: RunContext) -> Path:
    """Where round 0's distilled critic is exported (RUN_DIR/round-000/critic/<model name>)."""
    from srft_ray.runstate.layout import round_paths

    distill = ctx.config.critic_distill
    name = distill.model_name or f"distilled-{Path(ctx.base_model).name}"
    return round_paths(ctx.run.run_dir, DISTIL_ROUND).critic / name


def critic_of_round(ctx: RunContext, round_index: int, critic: CriticConfig) -> CriticConfig:
    """The critic config round `round_index` labels with: `critic` itself, unless the loop trains
    a critic (round 0: replay alone; later rounds: the distilled critic under critic.labels)."""
    if not ctx.config.train_critic:
        return critic
    if round_index <= DISTIL_ROUND:
        return dataclasses.replace(critic, labels="replay")
    export = critic_export(ctx)
    if not export.is_dir():
        raise FileNotFoundError(
            f"{export}: round {round_index} labels with the critic distilled in round "
            f"{DISTIL_ROUND}, which is not there (rerun the run to redo that stage)"
        )
    return dataclasses.replace(
        critic,
        mode="single_pass",
        prompt=dataclasses.replace(ctx.config.critic_distill.prompt),
        engine=dataclasses.replace(critic.engine, model=str(export)),
        model_name="",
        tokenizer="",
    )


def critic_inputs(ctx: RunContext, round_index: int, critic: CriticConfig) -> dict[str, str]:
    """What a round's critique keys on besides collection: the critic config, and with a trained
    critic the round's own config (replay in round 0) and, later, the critic's weights."""
    inputs = {"config": json_hash({"critic": to_dict(ctx.config.critic)})}
    if ctx.config.train_critic:
        inputs["round_critic"] = json_hash(to_dict(critic))
        if round_index > DISTIL_ROUND:
            inputs["critic_model"] = checkpoint_hash(critic.engine.model)
    return inputs


def distil_critic(ctx: RunContext, manifest: RoundManifest) -> Path | None:
    """Round 0's `distil` stage: the critic trained on its labelled store (skipped when done on
    the same inputs). Returns the export, or None when the loop trains no critic."""
    from srft_ray.critic.distill import train_critic

    if not ctx.config.train_critic or manifest.round_index != DISTIL_ROUND:
        return None
    distill = dataclasses.replace(
        ctx.config.critic_distill,
        train=dataclasses.replace(
            ctx.config.critic_distill.train,
            model_path=ctx.config.critic_distill.train.model_path or ctx.base_model,
        ),
    )
    labelled, out_dir, export = manifest.paths.labelled, manifest.paths.critic, critic_export(ctx)
    inputs = {
        "config": json_hash(to_dict(distill)),
        "model": checkpoint_hash(distill.train.model_path),
        "data": dataset_hash(labelled),
    }
    stage = manifest.stage("distil")
    if not begin_stage(ctx, stage, inputs, [out_dir]):
        return export
    ctx.engines.release()  # training wants the cores (and the accelerator)
    ctx.log(f"[distil] round {DISTIL_ROUND}: a critic from {labelled} -> {export}")
    try:
        trained = train_critic(distill, [labelled], out_dir)
        summary = json.loads((out_dir / "train_critic.json").read_text())
    except BaseException as exc:
        fail_stage(ctx, stage, exc)
        raise
    metrics = {
        "model_name": trained.name,
        "num_examples": summary["examples"]["num_examples"],
        "num_skipped": summary["examples"]["num_skipped_unknown"],
        "kinds": summary["examples"]["kinds"],
        "num_optimizer_steps": summary["train"].get("num_optimizer_steps"),
        "final_loss": summary["train"].get("final_loss"),
        "train_seconds": summary["train_seconds"],
    }
    finish_stage(ctx, stage, {"critic": trained}, metrics)
    return trained
