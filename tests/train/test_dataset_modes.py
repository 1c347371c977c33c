"""Per-store masking modes: each store is rendered in its own mode, exactly as if alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
from train_helpers import make_trajectory, write_store

from srft_ray.masking import MaskingConfig, render_trajectory
from srft_ray.train.config import TrainConfig
from srft_ray.train.data import load_documents


def _stores(tmp_path):
    teacher = [
        make_trajectory(i, resolved=i % 2 == 0, labels=["good", "bad", "good"]) for i in range(4)
    ]
    student = [
        make_trajectory(10 + i, resolved=i == 0, labels=["good", "good", "good"]) for i in range(3)
    ]
    return write_store(tmp_path / "teacher", teacher), write_store(tmp_path / "student", student)


def test_each_store_is_masked_in_its_own_mode(tmp_path, tokenizer):
    teacher, student = _stores(tmp_path)
    masking = MaskingConfig(mode="srft", max_length=None)
    config = TrainConfig(
        dataset_dirs=[str(teacher), str(student)],
        dataset_modes=["srft", "rft"],
        masking=masking,
        max_steps=1,
    )
    docs, stats = load_documents(config, tokenizer, vocab_size=len(tokenizer))
    got = {d.doc_id: d.loss_mask for d in docs}

    from srft_ray.data.store import TrajectoryStore

    expected = {}
    for store, mode in ((teacher, "srft"), (student, "rft")):
        for traj in TrajectoryStore(store):
            ex = render_trajectory(traj, tokenizer, replace(masking, mode=mode))
            if any(ex.loss_mask):
                expected[traj.trajectory_id] = ex.loss_mask
    assert got == expected
    # rft on the student: its two unresolved episodes (all steps labelled good) train nothing
    assert {"traj-011", "traj-012"}.isdisjoint(got)
    # srft on the teacher: unresolved teacher episodes keep their good steps
    assert {"traj-001", "traj-003"} <= set(got)
    assert stats.num_trajectories == 7


def test_dataset_modes_must_match_the_stores():
    with pytest.raises(ValueError, match="2 entries for 1 dataset_dirs"):
        TrainConfig(dataset_dirs=["a"], dataset_modes=["srft", "rft"], max_steps=1)
    with pytest.raises(ValueError, match="'best' is not one of"):
        TrainConfig(dataset_dirs=["a"], dataset_modes=["best"], max_steps=1)


def test_store_weights_repeat_or_thin_a_store_exactly(tmp_path, tokenizer):
    teacher, student = _stores(tmp_path)
    masking = MaskingConfig(mode="all", max_length=None)

    def doc_ids(weights):
        config = TrainConfig(
            dataset_dirs=[str(teacher), str(student)],
            dataset_weights=weights,
            masking=masking,
            max_steps=1,
        )
        docs, stats = load_documents(config, tokenizer, vocab_size=len(tokenizer))
        assert stats.num_documents == len(docs)
        return [d.doc_id for d in docs], {d.doc_id: d.input_ids for d in docs}

    plain, plain_ids = doc_ids([])
    assert doc_ids([1.0, 1.0])[0] == plain and len(plain) == 7
    doubled, ids = doc_ids([2.0, 1.0])
    teacher_ids = [f"traj-00{i}" for i in range(4)]
    assert doubled == [x for t in teacher_ids for x in (t, f"{t}#1")] + plain[4:]
    assert all(ids[f"{t}#1"] == plain_ids[t] for t in teacher_ids)  # the same tokens again
    # 0.5: a fixed subset, the same on every call, chosen by id (not by position or outcome)
    half, _ = doc_ids([0.5, 1.0])
    kept = [t for t in teacher_ids if t in half]
    config = TrainConfig(dataset_dirs=["a"], dataset_weights=[0.5], max_steps=1)
    assert kept == [t for t in teacher_ids if config.copies_of(0, t)]
    assert half == kept + plain[4:] and doc_ids([0.5, 1.0])[0] == half
    assert doc_ids([1.5, 1.0])[0].count("traj-000") == 1
    thin = TrainConfig(dataset_dirs=["a"], dataset_weights=[0.3], max_steps=1)
    share = sum(thin.copies_of(0, f"traj-{i}") for i in range(2000)) / 2000
    assert 0.25 < share < 0.35


def test_dataset_weights_must_match_the_stores_and_be_positive():
    with pytest.raises(ValueError, match="1 entries for 2 dataset_dirs"):
        TrainConfig(dataset_dirs=["a", "b"], dataset_weights=[1.0], max_steps=1)
    with pytest.raises(ValueError, match="must be > 0"):
        TrainConfig(dataset_dirs=["a"], dataset_weights=[0.0], max_steps=1)
