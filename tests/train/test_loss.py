"""The chunked, masked loss equals the plain cross-entropy reference, in value and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srft_ray.train.loss import masked_token_loss_sum
from srft_ray.train.packing import IGNORE


def reference_loss(hidden, weight, targets, mask):
    logits = hidden @ weight.T
    losses = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).clamp(min=0), reduction="none"
    )
    mask = mask.reshape(-1).float()
    return (losses * mask).sum() / mask.sum()


@pytest.mark.parametrize("chunk", [1, 5, 7, 4096])
def test_chunked_masked_loss_equals_reference(chunk):
    torch.manual_seed(0)
    hidden = torch.randn(2, 13, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (2, 13))
    mask = torch.rand(2, 13) < 0.6
    masked_targets = torch.where(mask, targets, torch.full_like(targets, IGNORE))

    total = masked_token_loss_sum(hidden, weight, masked_targets, chunk)
    ours = total / mask.sum()
    ours.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None

    ref = reference_loss(hidden, weight, targets, mask)
    ref.backward()
    assert torch.allclose(ours, ref, atol=1e-10)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-10)
    assert torch.allclose(grads[1], weight.grad, atol=1e-10)
    # masked positions get no gradient at all: they are context only
    assert torch.all(grads[0][~mask] == 0)


def test_global_normalisation_is_not_a_mean_of_means():
    """Two micro-batches with very different trained-token counts: the loop's scaling
    (sum / global count) equals one pooled mean, and differs from the mean of per-batch means."""
    torch.manual_seed(1)
    weight = torch.randn(30, 4, dtype=torch.float64)
    parts = []
    for n_trained in (2, 20):
        hidden = torch.randn(1, 24, 4, dtype=torch.float64)
        targets = torch.full((1, 24), IGNORE)
        targets[0, :n_trained] = torch.randint(0, 30, (n_trained,))
        parts.append((hidden, targets))
    global_count = sum(int((t != IGNORE).sum()) for _, t in parts)
    pooled = sum(masked_token_loss_sum(h, weight, t, 8) for h, t in parts) / global_count
    h = torch.cat([p[0] for p in parts], 1)
    t = torch.cat([p[1] for p in parts], 1)
    ref = reference_loss(h, weight, t, t != IGNORE)
    assert torch.allclose(pooled, ref, atol=1e-12)
    mean_of_means = sum(
        masked_token_loss_sum(h_, weight, t_, 8) / int((t_ != IGNORE).sum()) for h_, t_ in parts
    ) / len(parts)
    assert not torch.allclose(pooled, mean_of_means, atol=1e-3)


def test_no_trained_token_still_reaches_every_parameter():
    hidden = torch.randn(1, 4, 3, requires_grad=True)
    weight = torch.randn(7, 3, requires_grad=True)
    total = masked_token_loss_sum(hidden, weight, torch.full((1, 4), IGNORE), 2)
    total.backward()
    assert total.item() == 0.0
    assert weight.grad is not None and torch.all(weight.grad == 0)
