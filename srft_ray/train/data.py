"""Training data: labelled trajectory stores -> rendered, filtered documents -> packed micro-batches.

Every trajectory is rendered by the one masking function (srft_ray.masking). Examples that
cannot train are dropped AND counted in `DataStats` (never silently): no trained token (e.g. an
unresolved trajectory in RFT mode, or every step labelled bad), or longer than a packed row.
Data order depends only on (seed, epoch); the micro-batches of a step are dealt round-robin to
ranks, so 1 rank x 2 accumulation micro-batches sees exactly what 2 ranks x 1 sees.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from srft_ray.train.config import TrainConfig
from srft_ray.train.packing import (
    Document,
    MicroBatch,
    empty_micro_batch,
    pack_documents,
    plan_bins,
    shuffled_order,
)


class TrainDataError(ValueError):
    """Training data that cannot be used: the message says which dataset / trajectory and why."""


@dataclass(kw_only=True)
class DataStats:
    """What happened to every trajectory on its way to the trainer."""

    num_trajectories: int = 0
    num_documents: int = 0
    """Trajectories kept for training."""
    num_dropped_untrainable: int = 0
    """Rendered with no trained token (RFT + unresolved, or all steps masked)."""
    num_dropped_too_long: int = 0
    """Longer than tokens_per_micro_batch after rendering."""
    num_truncated: int = 0
    """Cut to max_length by the masking module's truncation policy (kept)."""
    num_tokens: int = 0
    num_trained_tokens: int = 0
    num_masked_steps: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def masked_steps(step_index: Sequence[int], loss_mask: Sequence[int]) -> int:
    """Assistant steps present in context of which no token is trained."""
    present = {s for s in step_index if s >= 0}
    trained = {s for s, m in zip(step_index, loss_mask, strict=True) if s >= 0 and m}
    return len(present - trained)


def documents_from_rendered(
    rendered: Iterable[tuple[str, object]], config: TrainConfig, vocab_size: int
) -> tuple[list[Document], DataStats]:
    """Filter (trajectory_id, RenderedExample) pairs into Documents, counting every drop."""
    stats = DataStats()
    docs: list[Document] = []
    for traj_id, ex in rendered:
        stats.num_trajectories += 1
        ids, mask = list(ex.input_ids), list(ex.loss_mask)
        if len(ids) != len(mask):
            raise TrainDataError(f"trajectory {traj_id}: {len(ids)} ids but {len(mask)} mask bits")
        if ids and (max(ids) >= vocab_size or min(ids) < 0):
            raise TrainDataError(
                f"trajectory {traj_id}: token id {max(ids)} outside the model's vocabulary "
                f"({vocab_size}); tokenizer and model do not match"
            )
        if getattr(ex, "truncated", False):
            stats.num_truncated += 1
        if len(ids) > config.tokens_per_micro_batch:
            stats.num_dropped_too_long += 1
            continue
        doc = Document(
            input_ids=ids,
            loss_mask=mask,
            doc_id=traj_id,
            num_masked_steps=masked_steps(getattr(ex, "step_index", [-1] * len(ids)), mask),
        )
        if doc.num_trained_tokens == 0:
            stats.num_dropped_untrainable += 1
            continue
        docs.append(doc)
        stats.num_documents += 1
        stats.num_tokens += len(doc)
        stats.num_trained_tokens += doc.num_trained_tokens
        stats.num_masked_steps += doc.num_masked_steps
    return docs, stats


def load_documents(config: TrainConfig, tokenizer, vocab_size: int):
    """Read every store in config.dataset_dirs, render, filter; errors name the dataset."""
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.masking import render_trajectory

    if not config.dataset_dirs:
        raise TrainDataError("no dataset_dirs given: nothing to train on")

    def rendered():
        for directory in config.dataset_dirs:
            path = Path(directory)
            if not path.is_dir():
                raise TrainDataError(f"{path}: dataset directory does not exist")
            for traj in TrajectoryStore(path):
                ex = render_trajectory(
                    traj,
                    tokenizer,
                    mode=config.mode,
                    max_length=config.max_length or None,
                    unknown_as=config.unknown_as,
                )
                yield traj.trajectory_id, ex

    docs, stats = documents_from_rendered(rendered(), config, vocab_size)
    where = ", ".join(config.dataset_dirs)
    if stats.num_trajectories == 0:
        raise TrainDataError(f"{where}: the datasets hold no trajectory")
    if not docs:
        raise TrainDataError(
            f"{where}: none of {stats.num_trajectories} trajectories has a trainable token in "
            f"mode {config.mode!r} ({stats.num_dropped_untrainable} untrainable, "
            f"{stats.num_dropped_too_long} longer than {config.tokens_per_micro_batch} tokens)"
        )
    return docs, stats


class PackedSchedule:
    """Which packed micro-batches each rank trains at each optimizer step (pure function of step)."""

    def __init__(self, docs: Sequence[Document], config: TrainConfig, world_size: int, pad_id: int):
        self.docs = docs
        self.capacity = config.tokens_per_micro_batch
        self.seed = config.seed
        self.world_size = world_size
        self.per_step = world_size * config.grad_accum_steps
        self.grad_accum_steps = config.grad_accum_steps
        self.pad_id = pad_id
        self._epoch_bins: tuple[int, list[list[int]]] | None = None
        self.steps_per_epoch = math.ceil(len(self._bins(0)) / self.per_step)
        if config.max_steps > 0:
            self.total_steps = config.max_steps
        else:
            self.total_steps = config.num_epochs * self.steps_per_epoch

    def _bins(self, epoch: int) -> list[list[int]]:
        if self._epoch_bins is None or self._epoch_bins[0] != epoch:
            order = shuffled_order(len(self.docs), self.seed, epoch)
            bins = plan_bins([len(self.docs[i]) for i in order], self.capacity)
            self._epoch_bins = (epoch, [[order[i] for i in b] for b in bins])
        return self._epoch_bins[1]

    def micro_batches(self, step: int, rank: int) -> list[MicroBatch]:
        """This rank's grad_accum_steps micro-batches for `step`; fillers where data ran out."""
        epoch, within = divmod(step, self.steps_per_epoch)
        bins = self._bins(epoch)
        out = []
        for accum in range(self.grad_accum_steps):
            index = within * self.per_step + accum * self.world_size + rank
            if index < len(bins):
                out.append(pack_documents([self.docs[i] for i in bins[index]]))
            else:
                out.append(empty_micro_batch(self.pad_id))
        return out
