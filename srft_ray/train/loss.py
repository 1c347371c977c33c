"""The step-masked loss, computed in chunks so full-vocabulary fp32 logits never materialize.

`masked_token_loss_sum` returns the SUM of cross-entropy over trained tokens; the loop divides
by the number of trained tokens in the global batch (all ranks, all accumulation micro-batches),
so every trained token weighs the same whatever row or rank it sits in.

Each chunk's logits are recomputed in backward (activation checkpointing of the head), so the
peak extra memory is one chunk of logits (chunk x vocab fp32) instead of sequence x vocab.

Imports only torch + transformers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from srft_ray.train.packing import IGNORE, MicroBatch


def _upcast(logits: torch.Tensor) -> torch.Tensor:
    # Half-precision logits lose too much in log-softmax: compute the loss in (at least) fp32.
    return logits.float() if logits.element_size() < 4 else logits


def _chunk_loss_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor):
    logits = _upcast(F.linear(hidden, weight))
    return F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum")


def masked_token_loss_sum(
    hidden: torch.Tensor, head_weight: torch.Tensor, targets: torch.Tensor, chunk_tokens: int
) -> torch.Tensor:
    """Sum of CE(head(hidden[t]), targets[t]) over t with targets[t] != IGNORE, chunk by chunk.

    Only positions with a target are projected at all: context tokens (system, task,
    observations, SRFT-masked steps) cost no head FLOPs.
    """
    hidden = hidden.reshape(-1, hidden.shape[-1])
    targets = targets.reshape(-1)
    keep = (targets != IGNORE).nonzero().squeeze(-1)
    hidden, targets = hidden.index_select(0, keep), targets.index_select(0, keep)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, targets.numel(), chunk_tokens):
        piece = slice(start, start + chunk_tokens)
        if torch.is_grad_enabled():
            total = total + checkpoint(
                _chunk_loss_sum, hidden[piece], head_weight, targets[piece], use_reentrant=False
            )
        else:
            total = total + _chunk_loss_sum(hidden[piece], head_weight, targets[piece])
    if targets.numel() == 0:
        # Keep the graph connected to every parameter so FSDP's backward hooks still fire.
        total = total + 0.0 * hidden.sum() + 0.0 * head_weight.sum()
    return total


def per_token_losses(hidden: torch.Tensor, head_weight: torch.Tensor, targets: torch.Tensor):
    """(B, L) CE per position (0 where no target); for tests and inspection, not for training."""
    logits = _upcast(F.linear(hidden, head_weight))
    flat = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="none",
    )
    return flat.reshape(targets.shape)


class CausalLMWithMaskedLoss(torch.nn.Module):
    """Wraps a Hugging Face causal LM so one forward returns the masked loss sum.

    FSDP2 shards this wrapper as the root module: its forward is where the root parameters
    (embeddings, final norm, head) are gathered, so the chunked head can use them.
    """

    def __init__(self, causal_lm: torch.nn.Module, *, chunk_tokens: int = 1024):
        super().__init__()
        self.causal_lm = causal_lm
        self.chunk_tokens = chunk_tokens

    def hidden_states(self, batch: MicroBatch) -> torch.Tensor:
        extra = {}
        if batch.doc_lengths is not None:
            extra["packed_doc_lengths"] = batch.doc_lengths
        out = self.causal_lm.model(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=batch.attention_mask,
            use_cache=False,
            **extra,
        )
        return out.last_hidden_state

    def forward(self, batch: MicroBatch, per_token: bool = False) -> torch.Tensor:
        hidden = self.hidden_states(batch)
        weight = self.causal_lm.get_output_embeddings().weight
        if per_token:
            return per_token_losses(hidden, weight, batch.targets)
        return masked_token_loss_sum(hidden, weight, batch.targets, self.chunk_tokens)
