"""Equal budgets: the same steps and (nearly) the same tokens per step whatever the data size."""

from __future__ import annotations

import math
import random

from srft_ray.train.config import TrainConfig
from srft_ray.train.data import PackedSchedule
from srft_ray.train.packing import Document


def _docs(count: int, seed: int) -> list[Document]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        length = rng.randint(300, 900)
        out.append(
            Document(
                input_ids=[5] * length, loss_mask=[0] * 200 + [1] * (length - 200), doc_id=f"d{i}"
            )
        )
    return out


def test_small_and_large_datasets_get_the_same_steps_and_full_rows():
    config = TrainConfig(tokens_per_micro_batch=4096, max_steps=12, grad_accum_steps=2)
    for count in (3, 10, 60):
        schedule = PackedSchedule(_docs(count, count), config, 1, pad_id=0)
        assert schedule.total_steps == 12
        for step in range(12):
            batches = schedule.micro_batches(step, 0)
            assert len(batches) == 2
            for mb in batches:
                assert 4096 - 900 < mb.num_tokens <= 4096  # never a filler row
        epochs = schedule.epochs_at(12)
        seen = sum(len(schedule.row(i)) for i in range(24))
        assert epochs == seen / count


def test_epochs_follow_from_the_data():
    config = TrainConfig(tokens_per_micro_batch=4096, max_steps=10)
    small = PackedSchedule(_docs(6, 1), config, 1, pad_id=0)
    large = PackedSchedule(_docs(60, 1), config, 1, pad_id=0)
    assert small.epochs_at(10) > 5 * large.epochs_at(10)


def test_every_document_is_seen_about_equally_often():
    docs = _docs(20, 4)
    schedule = PackedSchedule(docs, TrainConfig(tokens_per_micro_batch=4096, max_steps=50), 1, 0)
    stream = [d for i in range(40) for d in schedule.row(i)]
    counts = [stream.count(d) for d in range(len(docs))]
    # once per epoch; rows still open at an epoch's end may hold the next epoch's documents
    assert max(counts) - min(counts) <= 2


def test_one_rank_with_two_micro_batches_sees_what_two_ranks_see():
    docs = _docs(15, 2)
    one = PackedSchedule(
        docs, TrainConfig(tokens_per_micro_batch=2048, max_steps=4, grad_accum_steps=2), 1, 0
    )
    two = PackedSchedule(docs, TrainConfig(tokens_per_micro_batch=2048, max_steps=4), 2, 0)
    for step in range(4):
        mine = [mb.doc_lengths for mb in one.micro_batches(step, 0)]
        theirs = [two.micro_batches(step, r)[0].doc_lengths for r in range(2)]
        assert mine == theirs


def test_an_epoch_budget_scales_the_steps_with_the_data():
    # A round's budget in passes over its data: twice the data, about twice the steps, and the
    # same number of passes (so a later round never sees earlier data less often).
    config = TrainConfig(tokens_per_micro_batch=4096, num_epochs=1.5, grad_accum_steps=1)
    small = PackedSchedule(_docs(20, 1), config, 1, pad_id=0)
    large = PackedSchedule(_docs(40, 1), config, 1, pad_id=0)
    for schedule, count in ((small, 20), (large, 40)):
        assert schedule.total_steps == math.ceil(1.5 * schedule.steps_per_epoch)
        assert 1.3 <= schedule.epochs_at(schedule.total_steps) <= 1.7, count
    assert 1.7 <= large.total_steps / small.total_steps <= 2.3


def test_an_epoch_of_the_collected_data_gives_every_method_the_same_steps():
    # RFT trains on the resolved half of what SRFT trains on. An epoch of its own documents is
    # half SRFT's steps; an epoch of the collected data (untrainable ones counted) is the same.
    docs = _docs(40, 3)
    resolved, unresolved = docs[:20], docs[20:]
    lengths = [len(d) for d in unresolved]
    own = TrainConfig(tokens_per_micro_batch=4096, num_epochs=1.0)
    collected = TrainConfig(tokens_per_micro_batch=4096, num_epochs=1.0, epochs_of="collected")
    srft = PackedSchedule(docs, collected, 1, pad_id=0)
    rft = PackedSchedule(resolved, collected, 1, pad_id=0, untrainable_lengths=lengths)
    assert rft.total_steps == srft.total_steps == PackedSchedule(docs, own, 1, 0).total_steps
    rft_own = PackedSchedule(resolved, own, 1, pad_id=0, untrainable_lengths=lengths)
    assert rft_own.total_steps < 0.6 * srft.total_steps
    assert 1.7 <= rft.epochs_at(rft.total_steps) <= 2.3  # RFT passes its half about twice
