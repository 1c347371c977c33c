"""TrainConfig: everything one fine-tuning run needs, as a keyword-only typed dataclass.

Imports only the standard library, srft_ray.masking and srft_ray.resources (both standard
library only), so the GPU benchmark (torch + transformers only) can use it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

from srft_ray.masking import MODES, MaskingConfig
from srft_ray.resources import Resources


@dataclass(kw_only=True)
class TrainConfig:
    """One step-masked fine-tuning run (loaded from YAML by srft_ray.jobs.train)."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        key: f"masking.{key}"
        for key in (
            "mode",
            "unknown_as",
            "label_sources",
            "max_length",
            "action_format",
            "observation_template",
            "overflow",
        )
    }

    model_path: str = ""
    """Hugging Face folder of the starting policy; empty means the embedded SmolLM2."""
    dataset_dirs: list[str] = field(default_factory=list)
    """Labelled trajectory stores (TrajectoryStore directories) to train on, read in order."""
    dataset_modes: list[str] = field(default_factory=list)
    """Masking mode per store, parallel to dataset_dirs (empty: masking.mode for every store).
    The loop uses it to mask a teacher's rounds by step and the student's own by outcome."""
    dataset_weights: list[float] = field(default_factory=list)
    """Passes over each store per epoch, parallel to dataset_dirs (empty: 1 for every store):
    2 trains each of that store's trajectories twice as often (two documents), 0.5 a fixed
    half of them (chosen by a hash of the trajectory id). Counts of documents and trajectories
    count every copy. The loop weighs the teacher's rounds with it (LoopConfig.teacher_weight)."""
    masking: MaskingConfig = field(default_factory=lambda: MaskingConfig(max_length=4096))
    """What is trained and how a trajectory is rendered (srft_ray.masking.MaskingConfig): mode,
    masked_kinds, unknown_as, label_sources, max_length (None: no cut), action_format,
    observation_template, overflow."""
    resources: Resources = field(default_factory=lambda: Resources(num_workers=0))
    """Ray Train workers (one per GPU on a GPU cluster: num_gpus 1, nccl; else CPU workers with
    gloo) and what each reserves; num_workers 0 runs train_loop in the calling process."""
    tokens_per_micro_batch: int = 8192
    """Packed sequence length: several trajectories share one row up to this many tokens."""
    grad_accum_steps: int = 1
    """Micro-batches per rank per optimizer step."""
    lr: float = 1e-5
    """Peak learning rate (AdamW)."""
    min_lr_ratio: float = 0.1
    """Cosine decay ends at lr * min_lr_ratio."""
    warmup_steps: int = 0
    """Linear warmup from 0 to lr over this many optimizer steps."""
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this; 0 disables clipping."""
    num_epochs: float = 1.0
    """Passes over the data (ignored when max_steps > 0); fractional passes round up to whole
    steps, so a round's budget can follow its data (more data, more steps, same passes)."""
    epochs_of: Literal["trained", "collected"] = "trained"
    """What num_epochs counts passes over: the trajectories the masking mode trains on, or every
    trajectory of the datasets, the untrainable ones too (RFT's unresolved, SRFT's all-masked;
    those past max_resolved_per_task or longer than a row are left out either way). With
    "collected" the methods compared on the same data get the same optimizer steps."""
    max_resolved_per_task: int = 0
    """Keep at most this many resolved trajectories per task, shortest first, across every
    dataset (0: all); unresolved ones are kept for srft's step labels."""
    max_steps: int = 0
    """Optimizer steps to run; 0 means num_epochs over the data."""
    seed: int = 0
    """Seeds data order (shuffled per epoch) and torch RNG."""
    gradient_checkpointing: bool = True
    """Recompute decoder layer activations in backward (less memory, ~1/3 more compute)."""
    loss_chunk_tokens: int = 1024
    """Tokens per chunk of the loss: full-vocabulary fp32 logits never exist for all tokens."""
    mixed_precision: Literal["auto", "fast", "bf16", "fp32"] = "auto"
    """auto: bf16 compute with fp32 master weights on GPU, fp32 on CPU; fast: also bf16 on CPUs
    with native bf16 (1.9x the fp32 step there); bf16 / fp32: always that."""
    freeze_embeddings: bool = False
    """Do not train the input embeddings (tied models: nor the output head). Saves the
    49k x 576 embedding gradient and its AdamW update: 1.3x faster steps on SmolLM2-135M."""
    freeze_layers: int = 0
    """Do not train the first N decoder layers. With freeze_embeddings the backward pass stops
    above them, so each frozen layer saves its share of the backward compute."""
    max_failures: int = 0
    """Ray Train: restarts of the worker group after a worker or its node dies (FailureConfig
    max_failures; -1 without limit); train_loop then resumes from the last checkpoint in
    checkpoint_dir, which must be storage every node sees."""
    checkpoint_dir: str = ""
    """Where DCP checkpoints go (resumed from when present); empty disables checkpoints."""
    checkpoint_every: int = 0
    """Save a checkpoint every N optimizer steps (0: only at the end if checkpoint_dir is set)."""
    keep_checkpoints: int = 2
    """How many recent checkpoints to keep."""
    output_dir: str = ""
    """Final Hugging Face safetensors export (model + tokenizer + chat template); empty: none."""
    export_dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    """dtype of exported weights; auto keeps the starting model's dtype."""
    log_every: int = 1
    """Print a progress line every N steps on rank 0."""
    stop_after_steps: int = 0
    """Stop (as if preempted) after this many steps without exporting; 0 disables. For drills."""

    def without_resources(self) -> TrainConfig:
        """This run with default resources and restarts: what a stage's input hash covers (the
        same run on more workers, or allowed more restarts, is the same run)."""
        return replace(self, resources=Resources(num_workers=0), max_failures=0)

    def __post_init__(self) -> None:
        if self.max_failures < -1:
            raise ValueError("max_failures must be >= -1 (-1: restart without limit)")
        if self.freeze_layers < 0:
            raise ValueError("freeze_layers must be >= 0")
        if self.tokens_per_micro_batch < 2:
            raise ValueError("tokens_per_micro_batch must be at least 2")
        if self.grad_accum_steps < 1:
            raise ValueError("grad_accum_steps must be >= 1")
        if self.max_steps <= 0 and self.num_epochs <= 0:
            raise ValueError("set max_steps > 0 or num_epochs > 0")
        if self.loss_chunk_tokens < 1:
            raise ValueError("loss_chunk_tokens must be >= 1")
        if self.dataset_modes and len(self.dataset_modes) != len(self.dataset_dirs):
            raise ValueError(
                f"dataset_modes has {len(self.dataset_modes)} entries for "
                f"{len(self.dataset_dirs)} dataset_dirs: give one mode per store, or none"
            )
        for mode in self.dataset_modes:
            if mode not in MODES:
                raise ValueError(f"dataset_modes: {mode!r} is not one of {MODES}")
        if self.dataset_weights and len(self.dataset_weights) != len(self.dataset_dirs):
            raise ValueError(
                f"dataset_weights has {len(self.dataset_weights)} entries for "
                f"{len(self.dataset_dirs)} dataset_dirs: give one weight per store, or none"
            )
        if any(w <= 0 for w in self.dataset_weights):
            raise ValueError(
                f"dataset_weights {self.dataset_weights}: every weight must be > 0 (leave a "
                "store out of dataset_dirs to drop it)"
            )

    def copies_of(self, index: int, trajectory_id: str) -> int:
        """How many documents the trajectory `trajectory_id` of dataset_dirs[index] becomes."""
        weight = self.dataset_weights[index] if self.dataset_weights else 1.0
        whole, part = int(weight), weight - int(weight)
        if not part:
            return whole
        digest = hashlib.sha256(f"weight\0{trajectory_id}".encode()).digest()
        return whole + (int.from_bytes(digest[:8], "big") / 2**64 < part)

    def masking_for(self, index: int) -> MaskingConfig:
        """How the store at dataset_dirs[index] is masked."""
        if not self.dataset_modes or self.dataset_modes[index] == self.masking.mode:
            return self.masking
        return replace(self.masking, mode=self.dataset_modes[index])
