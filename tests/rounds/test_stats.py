"""Intervals and paired tests of the ablation, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from srft_ray.rounds import stats
from srft_ray.rounds.evaluation import resolve_metrics


def _outcomes(rate_by_task: dict[str, list[bool]], seeds=("0",)):
    return {seed: dict(rate_by_task) for seed in seeds}


def test_resolve_rate_is_the_mean_over_seeds_tasks_and_samples():
    outcomes = {
        "0": {"a": [True, False], "b": [False, False]},
        "1": {"a": [True, True], "b": [True, False]},
    }
    # seed 0: (0.5 + 0) / 2 = 0.25; seed 1: (1 + 0.5) / 2 = 0.75
    assert stats.resolve_rate(outcomes) == pytest.approx(0.5)
    rate, (low, high) = stats.resolve_rate_ci(outcomes, num_resamples=500)
    assert rate == pytest.approx(0.5) and 0.0 <= low <= rate <= high <= 1.0
    assert stats.num_episodes(outcomes) == 8


def test_interval_collapses_when_every_episode_agrees():
    assert stats.resolve_rate_ci(_outcomes({"a": [True], "b": [True]})) == (1.0, (1.0, 1.0))
    assert stats.resolve_rate_ci(_outcomes({"a": [False], "b": [False]})) == (0.0, (0.0, 0.0))


def test_interval_narrows_with_more_tasks():
    small = _outcomes({f"t{i}": [i % 2 == 0] for i in range(10)})
    large = _outcomes({f"t{i}": [i % 2 == 0] for i in range(200)})
    _, (a, b) = stats.resolve_rate_ci(small, num_resamples=1000)
    _, (c, d) = stats.resolve_rate_ci(large, num_resamples=1000)
    assert d - c < (b - a) / 2


def test_paired_comparison_of_identical_methods_has_no_difference():
    a = _outcomes({f"t{i}": [i % 3 == 0] for i in range(30)})
    pair = stats.paired_comparison(a, a, num_resamples=500)
    assert pair["diff"] == 0.0 and pair["ci95"] == [0.0, 0.0] and pair["p"] == 1.0


def test_paired_comparison_detects_a_clear_difference_and_its_sign():
    better = _outcomes({f"t{i}": [i < 25] for i in range(30)})
    worse = _outcomes({f"t{i}": [i < 5] for i in range(30)})
    pair = stats.paired_comparison(better, worse, num_resamples=2000)
    assert pair["diff"] == pytest.approx(20 / 30)
    assert pair["ci95"][0] > 0 and pair["p"] < 0.01 and pair["num_tasks"] == 30
    assert stats.paired_comparison(worse, better, num_resamples=500)["diff"] < 0


def test_paired_comparison_needs_shared_tasks():
    with pytest.raises(ValueError, match="share no evaluated task"):
        stats.paired_comparison(_outcomes({"a": [True]}), _outcomes({"b": [True]}))


def test_a_climb_is_the_per_task_difference_of_two_rounds_differences():
    # B gains t0-t9 from its first to its last round; A gains t0-t4 and loses t20-t22.
    b_first = _outcomes({f"t{i}": [i >= 20] for i in range(30)})
    b_last = _outcomes({f"t{i}": [i < 10 or i >= 20] for i in range(30)})
    a_first = _outcomes({f"t{i}": [i >= 20] for i in range(30)})
    a_last = _outcomes({f"t{i}": [i < 5 or i >= 23] for i in range(30)})
    climb = stats.climb_comparison(b_last, b_first, a_last, a_first, num_resamples=500)
    assert climb["diff"] == pytest.approx((10 - (5 - 3)) / 30) and climb["num_tasks"] == 30
    assert climb["ci95"][0] <= climb["diff"] <= climb["ci95"][1]
    # Against a method that stands still, B's climb is B's own paired round difference.
    own = stats.paired_comparison(b_last, b_first, num_resamples=500)
    assert stats.climb_comparison(b_last, b_first, a_first, a_first, num_resamples=500) == own
    with pytest.raises(ValueError, match="share no evaluated task"):
        stats.climb_comparison(b_last, b_first, _outcomes({"x": [True]}), a_first)


def test_mcnemar_exact_two_sided_binomial():
    a = {f"t{i}": True for i in range(10)}
    b = {f"t{i}": i >= 8 for i in range(10)}  # a alone solves 8, b alone solves 0
    result = stats.mcnemar(a, b)
    assert (result["only_a"], result["only_b"]) == (8, 0)
    assert result["p"] == pytest.approx(2 * math.comb(8, 0) / 2**8)


def test_a_failed_episode_is_unresolved_not_missing(tmp_path):
    from srft_ray.data.model import Outcome, Task, Trajectory
    from srft_ray.data.store import TrajectoryStore

    store = TrajectoryStore(tmp_path / "eval")
    store.append(
        [
            Trajectory(
                trajectory_id="0/a/0",
                instance_id="a",
                system_prompt="",
                task_prompt="x",
                outcome=Outcome(resolved=True, exit_status="submitted"),
            ),
            Trajectory(
                trajectory_id="0/b/1",
                instance_id="b",
                system_prompt="",
                task_prompt="x",
                outcome=Outcome(resolved=True),
            ),
        ]
    )
    tasks = [Task(instance_id=i, repo="r/r", base_commit="c", problem_statement="p") for i in "abc"]
    # a: sample 1 failed; b: sample 0 failed; c: both failed -> 2 of 6 episodes resolved
    metrics = resolve_metrics(store, tasks, 2)
    assert metrics["outcomes"] == {
        "a": [True, False],
        "b": [False, True],
        "c": [False, False],
    }
    assert metrics["num_episodes"] == 6 and metrics["num_resolved"] == 2
    assert metrics["ended"] == {"submitted": 1, "unknown": 1}
