"""What a student round samples, and what the per-task cap keeps."""

from __future__ import annotations

from srft_ray.data.model import Outcome, Step, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.task_choice import choose_tasks, pass_history
from srft_ray.train.config import TrainConfig
from srft_ray.train.data import resolved_over_cap


def _traj(trajectory_id: str, instance_id: str, resolved: bool, num_steps: int) -> Trajectory:
    steps = [Step(index=i, assistant=f"step {i}") for i in range(num_steps)]
    return Trajectory(
        trajectory_id=trajectory_id,
        instance_id=instance_id,
        system_prompt="s",
        task_prompt="t",
        steps=steps,
        outcome=Outcome(resolved=resolved),
    )


def test_tasks_always_solved_are_dropped_and_sometimes_solved_come_first():
    history = pass_history(
        [
            _traj("1/a/0", "a", True, 3),
            _traj("1/a/1", "a", True, 3),  # a: always solved
            _traj("1/b/0", "b", True, 3),
            _traj("1/b/1", "b", False, 3),  # b: sometimes
            _traj("1/c/0", "c", False, 3),  # c: never
        ]
    )
    assert history == {"a": (2, 2), "b": (1, 2), "c": (0, 1)}
    ids = ["a", "b", "c", "d", "e"]  # d, e: never tried
    assert choose_tasks(ids, history, 0, seed="s") == ["b", "c", "d", "e"]
    assert choose_tasks(ids, history, 1, seed="s") == ["b"]
    three = choose_tasks(ids, history, 3, seed="s")
    assert three[0] == "b" and set(three) == {"b", "d", "e"}  # untried before never-solved
    assert choose_tasks(ids, history, 3, seed="s") == three  # seeded: reproducible


def test_the_cap_keeps_the_shortest_resolved_trajectories_of_each_task(tmp_path):
    store = TrajectoryStore(tmp_path / "r0")
    store.append(
        [
            _traj("0/a/0", "a", True, 6),
            _traj("0/a/1", "a", True, 4),
            _traj("0/a/2", "a", True, 5),
            _traj("0/a/3", "a", False, 2),  # unresolved: never capped
            _traj("0/b/0", "b", True, 7),
        ]
    )
    later = TrajectoryStore(tmp_path / "r1")
    later.append([_traj("1/a/0", "a", True, 3)])  # the cap counts every store
    config = TrainConfig(
        max_steps=1, dataset_dirs=[str(store.path), str(later.path)], max_resolved_per_task=2
    )
    assert resolved_over_cap(config) == {"0/a/0", "0/a/2"}
    config.max_resolved_per_task = 0
    assert resolved_over_cap(config) == set()
