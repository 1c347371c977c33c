"""Round-to-round comparisons pair on the same held-out task ids, failed episodes included."""

from __future__ import annotations

import pytest

from srft_ray.present.climb import climb, climb_table
from srft_ray.rounds.stats import paired_comparison


def test_rounds_are_paired_on_the_same_task_ids_failures_included():
    base = {"a": [False], "b": [False], "c": [False], "d": [False], "e": [False]}
    round0 = {"a": [True], "b": [False], "c": [True], "d": [False]}  # e's episode failed
    round1 = {"a": [True], "b": [True], "c": [False], "e": [True]}  # d's episode failed
    steps = climb([(-1, base), (0, round0), (1, round1)])
    assert [s.round_index for s in steps] == [-1, 0, 1]
    assert steps[0].vs_previous is None and steps[0].solved_first == []
    assert (steps[1].num_resolved, steps[1].num_episodes) == (2, 5)  # the failure counts
    assert steps[1].vs_previous["num_tasks"] == 5
    assert steps[1].vs_previous["diff"] == pytest.approx(0.4)
    assert steps[1].solved_first == ["a", "c"] and steps[1].lost == []
    one = steps[2]
    # a 0, b +1, c -1, d 0 (failed in round 1: unresolved), e +1 (failed in round 0)
    assert one.vs_previous["num_tasks"] == 5 and one.vs_previous["diff"] == pytest.approx(0.2)
    filled0 = {**round0, "e": [False]}
    filled1 = {**round1, "d": [False]}
    expected = paired_comparison({"0": filled1}, {"0": filled0}, num_resamples=2000)
    assert one.vs_first == expected
    assert one.solved_first == ["b", "e"] and one.lost == ["c"]
    html = climb_table(steps)
    assert "<td>base</td>" in html and "(5 tasks)" in html and "<td>c</td>" in html
