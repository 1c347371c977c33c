"""`train_loop(config)`: step-masked fine-tuning, one function for 1 process, torchrun or Ray Train.

Per optimizer step each rank runs grad_accum_steps packed micro-batches; the loss of each is
(sum of masked token losses) x world_size / (trained tokens in the GLOBAL batch). FSDP2 averages
gradients over ranks, so the update is exactly d/dw [sum of token losses / global token count],
whatever the split into ranks and micro-batches. Imports only torch + transformers (Ray and
Parquet are imported lazily, only where data is read). Rank 0 logs its progress lines through
stdlib logging (srft_ray.logs: a console handler with a rank-0 filter).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from srft_ray.train.attention import register_packed_attention
from srft_ray.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from srft_ray.train.config import TrainConfig
from srft_ray.train.data import PackedSchedule, load_documents
from srft_ray.train.distributed import (
    DistContext,
    all_reduce_sum,
    compute_dtype,
    setup_distributed,
    shard_model,
    teardown_distributed,
)
from srft_ray.train.export import export_hf_folder
from srft_ray.train.loss import CausalLMWithMaskedLoss
from srft_ray.train.packing import MicroBatch

Reporter = Callable[[dict], None]
logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class TrainResult:
    """What a run did (identical on every rank)."""

    losses: list[float] = field(default_factory=list)
    """Global per-token loss of each step run by THIS call (resumed steps excluded)."""
    first_step: int = 0
    num_steps: int = 0
    data: dict = field(default_factory=dict)
    output_dir: str = ""
    stopped_early: bool = False


def lr_lambda(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """Linear warmup to 1, then cosine decay to min_lr_ratio at total_steps."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        span = max(1, total_steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine

    return factor


def wrap_for_training(
    causal_lm: torch.nn.Module,
    *,
    ctx: DistContext,
    dtype: torch.dtype,
    gradient_checkpointing: bool,
    loss_chunk_tokens: int,
) -> CausalLMWithMaskedLoss:
    """Packed attention, optional activation checkpointing, FSDP2 sharding on ctx.device."""
    causal_lm.set_attn_implementation(register_packed_attention())
    causal_lm.config.use_cache = False
    if gradient_checkpointing:
        causal_lm.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    causal_lm.train()
    wrapper = CausalLMWithMaskedLoss(causal_lm, chunk_tokens=loss_chunk_tokens)
    shard_model(wrapper, causal_lm.model.layers, ctx, dtype)
    return wrapper.to(ctx.device)


def build_optimizer(wrapper: torch.nn.Module, config: TrainConfig, device: torch.device):
    return torch.optim.AdamW(
        [p for p in wrapper.parameters() if p.requires_grad],
        lr=config.lr,
        betas=tuple(config.betas),
        weight_decay=config.weight_decay,
        fused=device.type == "cuda",
    )


def run_step(
    wrapper: CausalLMWithMaskedLoss,
    optimizer: torch.optim.Optimizer,
    micro_batches: list[MicroBatch],
    ctx: DistContext,
    max_grad_norm: float,
) -> dict[str, float]:
    """Forward/backward every micro-batch, clip, step. Returns global step statistics."""
    local = [
        sum(mb.num_trained_tokens for mb in micro_batches),
        sum(mb.num_tokens for mb in micro_batches),
        sum(mb.num_masked_steps for mb in micro_batches),
        sum(mb.num_documents for mb in micro_batches),
    ]
    trained, tokens, masked, documents = all_reduce_sum(local, ctx.device)
    scale = ctx.world_size / max(trained, 1.0)
    loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
    for index, mb in enumerate(micro_batches):
        # Reduce-scatter gradients once per step, not once per micro-batch.
        wrapper.set_requires_gradient_sync(index == len(micro_batches) - 1)
        token_loss_sum = wrapper(mb.to(ctx.device))
        (token_loss_sum * scale).backward()
        loss_sum += token_loss_sum.detach().double()
    limit = max_grad_norm if max_grad_norm > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(wrapper.parameters(), limit)
    if hasattr(grad_norm, "full_tensor"):
        grad_norm = grad_norm.full_tensor()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    (global_loss_sum,) = all_reduce_sum([loss_sum.item()], ctx.device)
    return {
        "loss": global_loss_sum / max(trained, 1.0),
        "num_trained_tokens": trained,
        "num_tokens": tokens,
        "num_masked_steps": masked,
        "num_documents": documents,
        "grad_norm": float(grad_norm),
    }


def _progress_detail(metrics: dict) -> str:
    return (
        f"loss {metrics['loss']:.4f} lr {metrics['lr']:.2e} gnorm {metrics['grad_norm']:.2f} "
        f"trained {int(metrics['num_trained_tokens'])} masked_steps {int(metrics['num_masked_steps'])} "
        f"tok/s {metrics['tokens_per_s']:.0f} trained_tok/s {metrics['trained_tokens_per_s']:.0f}"
    )


def _load_model_and_tokenizer(config: TrainConfig):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # transformers 5 draws a "Loading weights" bar on stderr, which tears the console's one
    # live progress line; the stage's own log says when the model is loaded.
    hf_logging.disable_progress_bar()
    path = config.model_path
    if not path:
        from srft_ray.model_prep import prepare_model as prepare_embedded

        path = str(prepare_embedded(quiet=True))
    tokenizer = AutoTokenizer.from_pretrained(path)
    causal_lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    vocab = causal_lm.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > vocab:
        raise ValueError(
            f"{path}: tokenizer has {len(tokenizer)} tokens but the model's embedding has {vocab} "
            "rows: tokenizer and model do not match"
        )
    return path, tokenizer, causal_lm, vocab


def train_loop(config: TrainConfig | dict, *, report: Reporter | None = None) -> TrainResult:
    """Run (or resume) one fine-tuning run; every rank calls it. See the module docstring."""
    if isinstance(config, dict):
        from srft_ray.config import from_dict

        config = from_dict(TrainConfig, config)
    from srft_ray.logs import ensure_console_logging  # stdlib only; the GPU bench skips it

    ensure_console_logging()
    ctx = setup_distributed()
    try:
        return _train(config, ctx, report)
    finally:
        teardown_distributed(ctx)


def _train(config: TrainConfig, ctx: DistContext, report: Reporter | None) -> TrainResult:
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model_path, tokenizer, causal_lm, vocab = _load_model_and_tokenizer(config)
    if config.freeze_embeddings:
        causal_lm.get_input_embeddings().weight.requires_grad_(False)
    layers = causal_lm.model.layers
    if config.freeze_layers > len(layers):
        raise ValueError(
            f"train.freeze_layers={config.freeze_layers}: {model_path} has {len(layers)} layers"
        )
    for layer in layers[: config.freeze_layers]:
        layer.requires_grad_(False)
    source_dtype = causal_lm.config.dtype
    docs, stats = load_documents(config, tokenizer, vocab)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    schedule = PackedSchedule(docs, config, ctx.world_size, pad_id, stats.untrainable_lengths)
    if ctx.is_main:
        logger.info(
            f"[train] {model_path}: {stats.num_documents}/{stats.num_trajectories} trajectories "
            f"kept ({stats.num_dropped_untrainable} untrainable, {stats.num_dropped_too_long} too "
            f"long, {stats.num_dropped_over_cap} over the per-task cap, {stats.num_truncated} "
            f"truncated), {stats.num_trained_tokens} trained of "
            f"{stats.num_tokens} tokens; {schedule.steps_per_epoch} steps/epoch, "
            f"{schedule.total_steps} steps on {ctx.world_size} rank(s)"
        )
    dtype = compute_dtype(config.mixed_precision, ctx.device)
    wrapper = wrap_for_training(
        causal_lm,
        ctx=ctx,
        dtype=dtype,
        gradient_checkpointing=config.gradient_checkpointing,
        loss_chunk_tokens=config.loss_chunk_tokens,
    )
    optimizer = build_optimizer(wrapper, config, ctx.device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(config, schedule.total_steps)
    )
    start = 0
    resume_from = latest_checkpoint(config.checkpoint_dir) if config.checkpoint_dir else None
    if resume_from is not None:
        start = load_checkpoint(
            resume_from,
            model=wrapper,
            optimizer=optimizer,
            scheduler=scheduler,
            rank=ctx.rank,
            micro_batches_per_step=schedule.per_step,
        )
        if ctx.is_main:
            logger.info(f"[train] resumed from {resume_from} at step {start}")
    result = TrainResult(first_step=start, data=stats.as_dict())
    bar = None
    if ctx.is_main:
        from srft_ray.present.progress import Progress, ProgressConfig

        every_update = ProgressConfig(line_interval_s=0)  # log_every chooses the steps
        bar = Progress(
            "[train]",
            schedule.total_steps,
            unit="steps",
            initial=start,
            log=logger.info,
            config=every_update,
        )
    try:
        for step in range(start, schedule.total_steps):
            began = time.perf_counter()
            lr = scheduler.get_last_lr()[0]
            metrics = run_step(
                wrapper,
                optimizer,
                schedule.micro_batches(step, ctx.rank),
                ctx,
                config.max_grad_norm,
            )
            scheduler.step()
            seconds = time.perf_counter() - began
            metrics.update(
                step=step + 1,
                lr=lr,
                step_seconds=seconds,
                tokens_per_s=metrics["num_tokens"] / seconds,
                trained_tokens_per_s=metrics["num_trained_tokens"] / seconds,
                epoch=schedule.epochs_at(step + 1),
                final=step + 1 == schedule.total_steps,
            )
            result.losses.append(metrics["loss"])
            result.num_steps += 1
            done = step + 1
            if bar is not None and (
                done % max(1, config.log_every) == 0 or done == schedule.total_steps
            ):
                if done == schedule.total_steps:  # the summary line is the last step's line
                    bar.count, bar.detail = done, _progress_detail(metrics)
                    bar.close()
                else:
                    bar.update(done - bar.count, detail=_progress_detail(metrics))
            metrics.update({f"data/{k}": v for k, v in stats.as_dict().items()})
            if report is not None and not metrics["final"]:
                report(metrics)  # the final report waits for the export (below)
            every = config.checkpoint_every
            if config.checkpoint_dir and (
                (every and done % every == 0) or done == schedule.total_steps
            ):
                save_checkpoint(
                    config.checkpoint_dir,
                    step=done,
                    model=wrapper,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    rank=ctx.rank,
                    micro_batches_per_step=schedule.per_step,
                    keep=config.keep_checkpoints,
                )
            if (
                config.stop_after_steps
                and done >= config.stop_after_steps
                and done < schedule.total_steps
            ):
                result.stopped_early = True
                if bar is not None:
                    bar.close()
                return result
    finally:  # a step that raised leaves no stale live line on the console
        if bar is not None:
            bar.close()
    if config.output_dir:
        causal_lm.set_attn_implementation("sdpa")
        export_dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}.get(
            config.export_dtype,
            source_dtype if isinstance(source_dtype, torch.dtype) else torch.float32,
        )
        export_hf_folder(
            wrapper,
            hf_config=causal_lm.config,
            tokenizer=tokenizer,
            output_dir=config.output_dir,
            dtype=export_dtype,
            rank=ctx.rank,
            generation_config=getattr(causal_lm, "generation_config", None),
        )
        result.output_dir = str(Path(config.output_dir).resolve())
        if ctx.is_main:
            logger.info(f"[train] exported {result.output_dir}")
    if report is not None and result.num_steps:
        report(metrics)
    if dist.is_initialized() and ctx.world_size > 1:
        dist.barrier()
    return result
