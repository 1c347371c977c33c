"""Round-to-round comparisons pair on the same held-out task ids."""

from __future__ import annotations

import pytest

from srft_ray.present.climb import climb, climb_table
from srft_ray.rounds.stats import paired_comparison


def test_rounds_are_paired_on_the_task_ids_they_share():
    base = {"a": [False], "b": [False], "c": [False], "d": [False]}
    round0 = {"a": [True], "b": [False], "c": [True], "d": [False]}
    # round 1 was evaluated on a different set: "d" is missing, "e" is new
    round1 = {"a": [True], "b": [True], "c": [False], "e": [True]}
    steps = climb([(-1, base), (0, round0), (1, round1)])
    assert [s.round_index for s in steps] == [-1, 0, 1]
    assert steps[0].vs_previous is None and steps[0].solved_first == []
    assert steps[1].vs_previous["num_tasks"] == 4 and steps[1].vs_previous["diff"] == 0.5
    assert steps[1].solved_first == ["a", "c"] and steps[1].lost == []
    one = steps[2]
    # a, b, c only: +1 on b, -1 on c, 0 on a; "d" and "e" are not compared
    assert one.vs_previous["num_tasks"] == 3 and one.vs_previous["diff"] == pytest.approx(0.0)
    assert one.vs_first == paired_comparison({"0": round1}, {"0": round0}, num_resamples=2000)
    assert one.solved_first == ["b", "e"] and one.lost == ["c"]
    html = climb_table(steps)
    assert "<td>base</td>" in html and "(3 tasks)" in html and "<td>c</td>" in html
