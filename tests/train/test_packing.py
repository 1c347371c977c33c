"""Packing: several documents in one row give exactly the per-token losses of separate runs."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from srft_ray.train.attention import register_packed_attention
from srft_ray.train.loss import CausalLMWithMaskedLoss
from srft_ray.train.packing import (
    IGNORE,
    Document,
    pack_documents,
    plan_bins,
    shifted_targets,
    shuffled_order,
)


def _docs(lengths, vocab, seed=0):
    gen = torch.Generator().manual_seed(seed)
    docs = []
    for i, n in enumerate(lengths):
        ids = torch.randint(0, vocab, (n,), generator=gen).tolist()
        mask = (torch.rand(n, generator=gen) < 0.7).long().tolist()
        docs.append(Document(input_ids=ids, loss_mask=mask, doc_id=f"d{i}"))
    return docs


def test_shifted_targets_never_cross_documents():
    doc = Document(input_ids=[5, 6, 7, 8], loss_mask=[0, 1, 0, 1])
    assert shifted_targets(doc) == [6, IGNORE, 8, IGNORE]
    packed = pack_documents([doc, Document(input_ids=[9, 10], loss_mask=[1, 1])])
    assert packed.targets.tolist() == [[6, IGNORE, 8, IGNORE, 10, IGNORE]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 0, 1]]
    assert packed.doc_lengths == [[4, 2]]
    assert packed.num_trained_tokens == 3


def test_plan_bins_first_fit_respects_capacity_and_keeps_every_document():
    lengths = [5, 9, 3, 7, 1, 10, 2]
    bins = plan_bins(lengths, 10)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert bins == plan_bins(lengths, 10)
    assert shuffled_order(50, 3, 1) == shuffled_order(50, 3, 1) != shuffled_order(50, 3, 2)


def test_packed_losses_equal_separate_documents(tiny_model_dir):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    wrapper = CausalLMWithMaskedLoss(model, chunk_tokens=16)
    docs = _docs([37, 5, 64, 20], model.config.vocab_size)
    with torch.no_grad():
        model.set_attn_implementation("sdpa")
        separate = [wrapper(pack_documents([d]), per_token=True)[0] for d in docs]
        model.set_attn_implementation(register_packed_attention())
        packed_batch = pack_documents(docs)
        packed = wrapper(packed_batch, per_token=True)[0]
        # The same row WITHOUT document boundaries: attention crosses documents. This shows the
        # comparison below can fail (and that boundaries are what makes it pass).
        leaky_batch = pack_documents(docs)
        leaky_batch.doc_lengths = [[len(packed_batch.input_ids[0])]]
        leaky = wrapper(leaky_batch, per_token=True)[0]
    reference = torch.cat(separate)
    trained = packed_batch.targets[0] != IGNORE
    assert torch.allclose(packed, reference, atol=1e-5), (packed - reference).abs().max()
    assert not torch.allclose(leaky[trained], reference[trained], atol=1e-3)
    # and the summed (chunked) training loss agrees with the per-token one
    with torch.no_grad():
        total = wrapper(packed_batch)
    assert torch.allclose(total, packed[trained].sum(), rtol=1e-5)
