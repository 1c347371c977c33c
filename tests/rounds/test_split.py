"""Held-out evaluation on repositories training never saw."""

from __future__ import annotations

import pytest

from srft_ray.data.model import DataError, Task, Trajectory
from srft_ray.rounds.ablate import check_disjoint
from srft_ray.rounds.config import TaskSplitConfig, split_tasks


def _tasks() -> list[Task]:
    return [
        Task(instance_id=f"o__{repo}-{i}", repo=f"o/{repo}", base_commit="c", problem_statement="p")
        for repo in ("alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta")
        for i in range(5)
    ]


def test_split_by_repo_shares_no_repository_and_is_stable():
    tasks = _tasks()
    config = TaskSplitConfig(split_by="repo", eval_fraction=0.3)
    train, held = split_tasks(tasks, config)
    assert held and train
    assert not {t.repo for t in train} & {t.repo for t in held}
    assert len(train) + len(held) == len(tasks)
    assert all(len([t for t in held if t.repo == r]) == 5 for r in {t.repo for t in held})
    reordered = split_tasks(list(reversed(tasks)), config)[1]
    assert {t.instance_id for t in reordered} == {t.instance_id for t in held}  # order-free


def test_split_by_instance_may_share_repositories():
    train, held = split_tasks(_tasks(), TaskSplitConfig(split_by="instance", eval_fraction=0.3))
    assert {t.repo for t in train} & {t.repo for t in held}


def test_ablation_refuses_training_data_from_a_held_out_repository():
    tasks = _tasks()
    by_id = {t.instance_id: t for t in tasks}
    train, held = split_tasks(tasks, TaskSplitConfig(split_by="repo", eval_fraction=0.3))

    def traj(instance_id: str) -> Trajectory:
        return Trajectory(
            trajectory_id=f"0/{instance_id}/0",
            instance_id=instance_id,
            system_prompt="",
            task_prompt="p",
        )

    check_disjoint([traj(t.instance_id) for t in train], held, by_id)
    with pytest.raises(DataError, match="held-out tasks were trained on"):
        check_disjoint([traj(held[0].instance_id)], held, by_id)
    sibling = next(t for t in tasks if t.repo == held[0].repo and t not in held[:1])
    with pytest.raises(DataError, match="held-out repositories"):
        check_disjoint([traj(sibling.instance_id)], held[:1], by_id)


def test_student_rounds_collect_on_a_fresh_sample_of_training_tasks():
    from types import SimpleNamespace

    from srft_ray.rounds.config import LoopConfig
    from srft_ray.rounds.round_loop import collect_config_for

    tasks = _tasks()
    config = LoopConfig(teacher_rounds=1, student_max_tasks=7)
    ctx = SimpleNamespace(config=config, train_tasks=tasks)
    teacher = collect_config_for(ctx, 0, "base")
    assert teacher.instance_ids == [t.instance_id for t in tasks]  # the teacher: every task
    first, second = (collect_config_for(ctx, r, "policy").instance_ids for r in (1, 2))
    assert len(first) == len(second) == 7 and len(set(first)) == 7
    assert set(first) <= {t.instance_id for t in tasks}
    assert first == collect_config_for(ctx, 1, "policy").instance_ids  # resumable: same sample
    assert first != second  # a fresh sample per round
    config.student_max_tasks = 0
    assert len(collect_config_for(ctx, 1, "policy").instance_ids) == len(tasks)
