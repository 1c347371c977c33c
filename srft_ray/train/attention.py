"""Attention for packed rows: causal attention inside each document, none across documents.

Registered with transformers' AttentionInterface as "srft_packed". The packed row's document
lengths reach it through the forward kwargs (`packed_doc_lengths`, which the loss wrapper in
srft_ray.train.loss passes down), and it runs `scaled_dot_product_attention(is_causal=True)`
on each document's slice. That picks the fused flash / memory-efficient kernels on GPU (no O(L^2) mask is built)
and is exact on CPU, so the same code path is tested here and runs on the GPU machine.
A model without document lengths (e.g. a padded batch) falls back to transformers' SDPA.

Imports only torch + transformers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

PACKED_ATTENTION = "srft_packed"
# Documents have ever-new lengths. cuDNN's SDPA builds an execution plan per new shape, which
# measured ~1.5x slower steps on an H200 until every length had been seen; the flash kernel needs
# no per-shape plan. Memory-efficient and math stay as fallbacks (CPU, odd head sizes).
DOCUMENT_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def packed_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query (B, Hq, L, D), key/value (B, Hkv, L, D) -> (B, L, Hq, D)."""
    doc_lengths = kwargs.get("packed_doc_lengths")
    if doc_lengths is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        # Explicit repeat: works with every SDPA backend (enable_gqa does not, on all versions).
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    dropout = dropout if module.training else 0.0
    rows = []
    with sdpa_kernel(DOCUMENT_BACKENDS):
        for row, lengths in enumerate(doc_lengths):
            rows.append(_attend_documents(query, key, value, row, lengths, dropout, scaling))
    out = torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]
    return out.transpose(1, 2).contiguous(), None


def _attend_documents(query, key, value, row, lengths, dropout, scaling) -> torch.Tensor:
    """Causal attention within each document of one packed row."""
    parts, start = [], 0
    for length in lengths:
        end = start + length
        parts.append(
            F.scaled_dot_product_attention(
                query[row : row + 1, :, start:end],
                key[row : row + 1, :, start:end],
                value[row : row + 1, :, start:end],
                dropout_p=dropout,
                is_causal=True,
                scale=scaling,
            )
        )
        start = end
    if start < query.shape[2]:
        raise ValueError(f"row {row}: documents cover {start} of {query.shape[2]} tokens")
    return torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]


def register_packed_attention() -> str:
    """Register "srft_packed" (idempotent) and return its name for `set_attn_implementation`."""
    AttentionInterface.register(PACKED_ATTENTION, packed_sdpa_attention)
    return PACKED_ATTENTION
