"""Resolve rates with honest uncertainty: bootstrap intervals and paired method comparisons.

An evaluation of one method is a nest of outcomes: training seeds -> held-out tasks -> k
samples, each resolved or not (a failed episode is unresolved: it is in the denominator).

- `resolve_rate_ci`: the rate and a 95% percentile interval from a two-level bootstrap that
  resamples seeds and, within the replicate, tasks (both are sources of variance we want the
  interval to cover: another training seed, another draw of held-out tasks).
- `paired_comparison`: A - B on the SAME tasks, per task averaged over seeds and samples. Its
  interval is a paired bootstrap over tasks; its p-value is an exact-in-the-limit sign-flip
  permutation test of "no difference" (each task's difference keeps or flips its sign).
- `mcnemar`: the classic paired test on per-task binary verdicts, for reference.
Pure Python and seeded: the same outcomes always give the same interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

Outcomes = Mapping[str, Mapping[str, Sequence[bool]]]
"""seed -> instance_id -> the k samples' resolved flags."""


def _task_rates(outcomes: Outcomes) -> dict[str, dict[str, float]]:
    return {
        seed: {task: sum(samples) / len(samples) for task, samples in tasks.items() if samples}
        for seed, tasks in outcomes.items()
    }


def num_episodes(outcomes: Outcomes) -> int:
    return sum(len(samples) for tasks in outcomes.values() for samples in tasks.values())


def resolve_rate(outcomes: Outcomes) -> float:
    """Mean over seeds of the mean over tasks of the per-task sample rate."""
    rates = _task_rates(outcomes)
    per_seed = [sum(r.values()) / len(r) for r in rates.values() if r]
    return sum(per_seed) / len(per_seed) if per_seed else 0.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def resolve_rate_ci(
    outcomes: Outcomes, *, num_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """(rate, (low, high)) with a seeds-then-tasks bootstrap percentile interval."""
    rates = _task_rates(outcomes)
    seeds = [s for s in rates if rates[s]]
    if not seeds:
        return 0.0, (0.0, 0.0)
    rng = random.Random(seed)
    replicates = []
    for _ in range(num_resamples):
        total = 0.0
        for _ in seeds:
            chosen = rates[rng.choice(seeds)]
            tasks = list(chosen.values())
            total += sum(rng.choice(tasks) for _ in tasks) / len(tasks)
        replicates.append(total / len(seeds))
    alpha = (1 - level) / 2
    return resolve_rate(outcomes), (
        _percentile(replicates, alpha),
        _percentile(replicates, 1 - alpha),
    )


def per_task_rates(outcomes: Outcomes) -> dict[str, float]:
    """instance_id -> resolve rate over every seed and sample of that task."""
    hits: dict[str, list[bool]] = {}
    for tasks in outcomes.values():
        for task, samples in tasks.items():
            hits.setdefault(task, []).extend(samples)
    return {task: sum(v) / len(v) for task, v in hits.items() if v}


def paired_comparison(
    a: Outcomes, b: Outcomes, *, num_resamples: int = 5000, seed: int = 0, level: float = 0.95
) -> dict[str, float | list[float] | int]:
    """A - B over the tasks both were evaluated on: diff, 95% paired-bootstrap CI, p-value."""
    rates_a, rates_b = per_task_rates(a), per_task_rates(b)
    tasks = sorted(set(rates_a) & set(rates_b))
    if not tasks:
        raise ValueError("paired comparison: the two methods share no evaluated task")
    diffs = [rates_a[t] - rates_b[t] for t in tasks]
    return paired_test(diffs, num_resamples=num_resamples, seed=seed, level=level)


def climb_comparison(
    b_last: Outcomes, b_first: Outcomes, a_last: Outcomes, a_first: Outcomes, **test_options
) -> dict[str, float | list[float] | int]:
    """Does B climb more than A? Per task (B's last - B's first) - (A's last - A's first), over
    the tasks all four were evaluated on, with paired_test's interval and p-value."""
    rates = [per_task_rates(o) for o in (b_last, b_first, a_last, a_first)]
    tasks = sorted(set.intersection(*(set(r) for r in rates)))
    if not tasks:
        raise ValueError("climb comparison: the rounds share no evaluated task")
    bl, bf, al, af = rates
    diffs = [(bl[t] - bf[t]) - (al[t] - af[t]) for t in tasks]
    return paired_test(diffs, **test_options)


def paired_test(
    diffs: Sequence[float], *, num_resamples: int = 5000, seed: int = 0, level: float = 0.95
) -> dict[str, float | list[float] | int]:
    """Mean of per-task differences: a bootstrap percentile interval over tasks and a two-sided
    sign-flip permutation p-value."""
    observed = sum(diffs) / len(diffs)
    rng = random.Random(seed)
    boot = [sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(num_resamples)]
    extreme = 0
    for _ in range(num_resamples):
        flipped = sum(d if rng.random() < 0.5 else -d for d in diffs) / len(diffs)
        extreme += abs(flipped) >= abs(observed) - 1e-12
    alpha = (1 - level) / 2
    return {
        "diff": observed,
        "ci95": [_percentile(boot, alpha), _percentile(boot, 1 - alpha)],
        "p": (extreme + 1) / (num_resamples + 1),
        "num_tasks": len(diffs),
    }


def mcnemar(a: Mapping[str, bool], b: Mapping[str, bool]) -> dict[str, float | int]:
    """Exact McNemar test on per-task verdicts (a task counts as solved by majority of samples)."""
    tasks = sorted(set(a) & set(b))
    only_a = sum(1 for t in tasks if a[t] and not b[t])
    only_b = sum(1 for t in tasks if b[t] and not a[t])
    n = only_a + only_b
    if n == 0:
        return {"only_a": 0, "only_b": 0, "p": 1.0}
    tail = sum(math.comb(n, k) for k in range(0, min(only_a, only_b) + 1)) / 2**n
    return {"only_a": only_a, "only_b": only_b, "p": min(1.0, 2 * tail)}
