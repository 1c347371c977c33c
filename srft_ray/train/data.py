"""Training data: labelled trajectory stores -> rendered, filtered documents -> packed micro-batches.

Every trajectory is rendered by the one masking function (srft_ray.masking). Examples that
cannot train are dropped AND counted in `DataStats` (never silently): no trained token (e.g. an
unresolved trajectory in RFT mode, or every step labelled bad), or longer than a packed row.
Data order depends only on (seed, epoch); the rows of a step are dealt round-robin to
ranks, so 1 rank x 2 accumulation micro-batches sees exactly what 2 ranks x 1 sees.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from srft_ray.train.config import TrainConfig
from srft_ray.train.packing import (
    Document,
    MicroBatch,
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
    num_dropped_over_cap: int = 0
    """Resolved trajectories past train.max_resolved_per_task for their task (longest first)."""
    num_truncated: int = 0
    """Cut to max_length by the masking module's truncation policy (kept)."""
    num_tokens: int = 0
    num_trained_tokens: int = 0
    num_masked_steps: int = 0
    num_retokenized_steps: int = 0
    """Sampled ids that differed from the template's tokens (re-tokenization drift)."""
    num_elided_observations: int = 0
    """Early observations dropped to fit max_length (actions are never dropped)."""
    num_dropped_steps: int = 0
    """Steps cut off by max_length even after eliding observations."""
    num_converted_tool_calls: int = 0
    """Recorded tool calls rendered as the policy's text actions."""
    num_reformatted_observations: int = 0
    """Observations re-rendered with the policy's observation template (they differed)."""
    num_shortened_observations: int = 0
    """Of those, observations the policy's template shows shorter than recorded."""
    untrainable_lengths: list[int] = field(default_factory=list)
    """Token counts of the untrainable trajectories that fit a row: what an epoch budget over
    the collected data (train.epochs_of="collected") counts beside the kept documents."""

    def as_dict(self) -> dict[str, int]:
        found = asdict(self)
        del found["untrainable_lengths"]
        return found


RENDER_COUNTERS = (
    "num_retokenized_steps",
    "num_elided_observations",
    "num_dropped_steps",
    "num_converted_tool_calls",
    "num_reformatted_observations",
    "num_shortened_observations",
)


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
        for counter in RENDER_COUNTERS:
            setattr(stats, counter, getattr(stats, counter) + int(getattr(ex, counter, 0)))
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
            stats.untrainable_lengths.append(len(doc))
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

    for directory in config.dataset_dirs:
        if not Path(directory).is_dir():
            raise TrainDataError(f"{directory}: dataset directory does not exist")
    over_cap = resolved_over_cap(config)

    def rendered():
        for index, directory in enumerate(config.dataset_dirs):
            masking = config.masking_for(index)
            for traj in TrajectoryStore(Path(directory)):
                copies = config.copies_of(index, traj.trajectory_id)
                if traj.trajectory_id in over_cap or not copies:
                    continue
                example = render_trajectory(traj, tokenizer, masking)
                for copy in range(copies):  # dataset_weights: the copies after the first
                    yield f"{traj.trajectory_id}#{copy}" if copy else traj.trajectory_id, example

    docs, stats = documents_from_rendered(rendered(), config, vocab_size)
    stats.num_dropped_over_cap = len(over_cap)
    where = ", ".join(config.dataset_dirs)
    if stats.num_trajectories == 0:
        raise TrainDataError(f"{where}: the datasets hold no trajectory")
    if not docs:
        raise TrainDataError(
            f"{where}: none of {stats.num_trajectories} trajectories has a trainable token in "
            f"mode {'/'.join(config.dataset_modes) or config.masking.mode!r} ({stats.num_dropped_untrainable} untrainable, "
            f"{stats.num_dropped_too_long} longer than {config.tokens_per_micro_batch} tokens)"
        )
    return docs, stats


def resolved_over_cap(config: TrainConfig) -> set[str]:
    """Ids of the resolved trajectories past `max_resolved_per_task` for their task, across
    every store; the shortest (fewest steps, then id) are the ones kept."""
    from srft_ray.data.store import TrajectoryStore

    if not config.max_resolved_per_task:
        return set()
    resolved: dict[str, list[tuple[int, str]]] = {}
    for directory in config.dataset_dirs:
        for traj in TrajectoryStore(Path(directory)):
            if traj.outcome.resolved:
                resolved.setdefault(traj.instance_id, []).append(
                    (traj.num_steps, traj.trajectory_id)
                )
    cap = config.max_resolved_per_task
    return {i for found in resolved.values() for _, i in sorted(found)[cap:]}


def untrainable_stores(config: TrainConfig) -> list[str]:
    """The stores of config.dataset_dirs in which no step is trained in their masking mode (no
    resolved trajectory for rft, every step masked for srft); labels only, no tokenizer."""
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.masking import trained_steps

    out = []
    for index, directory in enumerate(config.dataset_dirs):
        masking = config.masking_for(index)
        if not any(any(trained_steps(t, masking)) for t in TrajectoryStore(Path(directory))):
            out.append(str(directory))
    return out


class PackedSchedule:
    """Which packed rows each rank trains at each optimizer step (a pure function of step).

    The data is a stream of epochs, each a seeded shuffle of every document. Rows of
    `tokens_per_micro_batch` tokens are filled first-fit from that stream with a few rows open at
    once, so rows stay full across epoch boundaries: every optimizer step gets the same number
    of nearly full rows whatever the dataset size. That is what makes budgets comparable: RFT
    on 10 trajectories and SRFT on 40 train on the same tokens per step for the same number of
    steps, and only the number of passes over their data (`epochs_at`) differs.
    """

    OPEN_ROWS = 4
    """Rows filled at once; the oldest is closed when another must open."""

    def __init__(
        self,
        docs: Sequence[Document],
        config: TrainConfig,
        world_size: int,
        pad_id: int,
        untrainable_lengths: Sequence[int] = (),
    ):
        """`untrainable_lengths`: the collected trajectories the mode does not train on, which
        an epoch counts when config.epochs_of is "collected"."""
        if not docs:
            raise TrainDataError("no documents to schedule")
        self.docs = docs
        self.capacity = config.tokens_per_micro_batch
        self.seed = config.seed
        self.world_size = world_size
        self.per_step = world_size * config.grad_accum_steps
        self.grad_accum_steps = config.grad_accum_steps
        self.pad_id = pad_id
        self._min_length = min(len(d) for d in docs)
        self._rows: list[list[int]] = []
        self._open: list[list[int]] = []
        self._room: list[int] = []
        self._next_epoch = 0
        lengths = [len(d) for d in docs]
        if config.epochs_of == "collected":
            lengths += list(untrainable_lengths)
        rows_per_epoch = len(plan_bins(lengths, self.capacity))
        self.steps_per_epoch = max(1, math.ceil(rows_per_epoch / self.per_step))
        """Nominal: steps that one pass over the data takes."""
        if config.max_steps > 0:
            self.total_steps = config.max_steps
        else:
            self.total_steps = max(1, math.ceil(config.num_epochs * self.steps_per_epoch))

    def _close(self, index: int) -> None:
        self._rows.append(self._open.pop(index))
        self._room.pop(index)

    def _add_epoch(self) -> None:
        for doc in shuffled_order(len(self.docs), self.seed, self._next_epoch):
            length = len(self.docs[doc])
            slot = next((i for i, free in enumerate(self._room) if length <= free), None)
            if slot is None:
                if len(self._open) >= self.OPEN_ROWS:
                    self._close(0)
                self._open.append([])
                self._room.append(self.capacity)
                slot = len(self._open) - 1
            self._open[slot].append(doc)
            self._room[slot] -= length
            if self._room[slot] < self._min_length:
                self._close(slot)
        self._next_epoch += 1

    def row(self, index: int) -> list[int]:
        """Document indices of the index-th row of the stream."""
        while len(self._rows) <= index:
            self._add_epoch()
        return self._rows[index]

    def micro_batches(self, step: int, rank: int) -> list[MicroBatch]:
        """This rank's grad_accum_steps micro-batches for `step`."""
        out = []
        for accum in range(self.grad_accum_steps):
            index = step * self.per_step + accum * self.world_size + rank
            out.append(pack_documents([self.docs[i] for i in self.row(index)]))
        return out

    def epochs_at(self, steps: int) -> float:
        """Passes over the data after `steps` optimizer steps (documents seen / documents)."""
        seen = sum(len(self.row(i)) for i in range(steps * self.per_step))
        return seen / len(self.docs)
