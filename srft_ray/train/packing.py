"""Sequence packing: several trajectories share one row, with no attention across them.

Each document keeps its own positions (0, 1, 2, ... restart per document) and its own
next-token targets: the last token of a document never predicts the first token of the next
one. The document boundaries travel with the batch (`doc_lengths`) so the attention function
can run causal attention per document (see attention.py).

Imports only torch (the GPU benchmark uses this module on a machine without pyarrow or Ray).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

IGNORE = -100


@dataclass(kw_only=True)
class Document:
    """One rendered trajectory ready for training."""

    input_ids: list[int]
    loss_mask: list[int]
    """1 where the token is trained (its prediction from the previous token counts)."""
    doc_id: str = ""
    num_masked_steps: int = 0
    """Assistant steps kept in context but not trained (SRFT 'bad' steps)."""

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_trained_tokens(self) -> int:
        # The first token is never a target: nothing precedes it.
        return int(sum(self.loss_mask[1:]))


@dataclass(kw_only=True)
class MicroBatch:
    """One packed row (batch size 1) or a padded batch, as tensors on CPU."""

    input_ids: torch.Tensor
    """(B, L) token ids."""
    position_ids: torch.Tensor
    """(B, L) positions, restarting at 0 for each packed document."""
    targets: torch.Tensor
    """(B, L) next-token ids; IGNORE where no loss is taken."""
    attention_mask: torch.Tensor | None = None
    """(B, L) 1 for real tokens; only for padded batches (packed rows carry doc_lengths)."""
    doc_lengths: list[list[int]] | None = None
    """Per row, the lengths of the packed documents in order (None for padded batches)."""
    num_masked_steps: int = 0
    num_documents: int = 0

    @property
    def num_tokens(self) -> int:
        if self.attention_mask is not None:
            return int(self.attention_mask.sum())
        return sum(sum(row) for row in self.doc_lengths or [])

    @property
    def num_trained_tokens(self) -> int:
        return int((self.targets != IGNORE).sum())

    def to(self, device: torch.device | str) -> MicroBatch:
        move = {"non_blocking": True}
        return MicroBatch(
            input_ids=self.input_ids.to(device, **move),
            position_ids=self.position_ids.to(device, **move),
            targets=self.targets.to(device, **move),
            attention_mask=None
            if self.attention_mask is None
            else self.attention_mask.to(device, **move),
            doc_lengths=self.doc_lengths,
            num_masked_steps=self.num_masked_steps,
            num_documents=self.num_documents,
        )


def shifted_targets(doc: Document) -> list[int]:
    """Target of position t is token t+1 when that token is trained; the last position has none."""
    ids, mask = doc.input_ids, doc.loss_mask
    return [ids[t + 1] if mask[t + 1] else IGNORE for t in range(len(ids) - 1)] + [IGNORE]


def plan_bins(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit packing of document indices (in the given order) into rows of `capacity` tokens.

    Deterministic for a given order. A document longer than `capacity` is an error: the data
    pipeline drops (and counts) those before packing.
    """
    bins: list[list[int]] = []
    room: list[int] = []
    for index, length in enumerate(lengths):
        if length > capacity:
            raise ValueError(f"document {index} has {length} tokens > capacity {capacity}")
        for b, free in enumerate(room):
            if length <= free:
                bins[b].append(index)
                room[b] -= length
                break
        else:
            bins.append([index])
            room.append(capacity - length)
    return bins


def shuffled_order(num_docs: int, seed: int, epoch: int) -> list[int]:
    """The document order of one epoch: a permutation that depends only on (seed, epoch)."""
    order = list(range(num_docs))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def pack_documents(docs: Sequence[Document]) -> MicroBatch:
    """Concatenate documents into one row (batch size 1) with restarting positions."""
    ids: list[int] = []
    positions: list[int] = []
    targets: list[int] = []
    for doc in docs:
        ids += doc.input_ids
        positions += range(len(doc))
        targets += shifted_targets(doc)
    return MicroBatch(
        input_ids=torch.tensor([ids], dtype=torch.long),
        position_ids=torch.tensor([positions], dtype=torch.long),
        targets=torch.tensor([targets], dtype=torch.long),
        doc_lengths=[[len(doc) for doc in docs]],
        num_masked_steps=sum(d.num_masked_steps for d in docs),
        num_documents=len(docs),
    )


def pad_documents(docs: Sequence[Document], pad_id: int) -> MicroBatch:
    """A classic padded batch: one document per row, right-padded to the longest (baseline)."""
    width = max(len(d) for d in docs)
    ids = torch.full((len(docs), width), pad_id, dtype=torch.long)
    targets = torch.full((len(docs), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(docs), width), dtype=torch.long)
    for row, doc in enumerate(docs):
        ids[row, : len(doc)] = torch.tensor(doc.input_ids)
        targets[row, : len(doc)] = torch.tensor(shifted_targets(doc))
        attention[row, : len(doc)] = 1
    positions = torch.arange(width).unsqueeze(0).expand(len(docs), -1).contiguous()
    return MicroBatch(
        input_ids=ids,
        position_ids=positions,
        targets=targets,
        attention_mask=attention,
        num_masked_steps=sum(d.num_masked_steps for d in docs),
        num_documents=len(docs),
    )
