"""Does each round beat the last? Paired round-to-round comparisons on the held-out tasks.

Every round (and the base model, round -1) is evaluated on the same held-out tasks; a round is
compared with the round before it and with round 0 on the task ids both were evaluated on
(srft_ray.rounds.stats.paired_comparison: per-task difference, paired bootstrap interval,
sign-flip p), and the tasks it solves for the first time or no longer solves are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.stats import paired_comparison

TaskOutcomes = dict[str, list[bool]]
"""instance_id -> the resolved flag of each evaluated sample."""


def eval_outcomes(store: Path) -> TaskOutcomes | None:
    """Per held-out task, its samples' resolved flags (None: no evaluation there)."""
    if not store.is_dir() or not any(store.glob("part-*.parquet")):
        return None
    out: TaskOutcomes = {}
    for traj in TrajectoryStore(store):
        out.setdefault(traj.instance_id, []).append(bool(traj.outcome.resolved))
    return out


@dataclass(kw_only=True)
class RoundStep:
    round_index: int
    num_resolved: int
    num_episodes: int
    vs_previous: dict | None = None
    """paired_comparison against the round before (the base model for round 0)."""
    vs_first: dict | None = None
    """paired_comparison against round 0 (rounds 1 and later)."""
    solved_first: list[str] = field(default_factory=list)
    """Tasks solved (by any sample) here and in no earlier evaluation."""
    lost: list[str] = field(default_factory=list)
    """Tasks the round before solved and this round does not."""


def climb(evaluations: list[tuple[int, TaskOutcomes]]) -> list[RoundStep]:
    """One RoundStep per evaluation, in order (round -1, the base model, may lead).

    A held-out task missing from an evaluation (its episode failed and was never written)
    counts there as one unresolved sample: every failure stays in the denominator, and every
    pair is over the same task ids."""
    every_task = sorted({task for _, outcomes in evaluations for task in outcomes})
    evaluations = [
        (index, {task: outcomes.get(task) or [False] for task in every_task})
        for index, outcomes in evaluations
    ]
    steps: list[RoundStep] = []
    first = next((o for r, o in evaluations if r == 0), None)
    solved_before: set[str] = set()
    previous: TaskOutcomes | None = None
    for round_index, outcomes in evaluations:
        solved = {task for task, samples in outcomes.items() if any(samples)}
        step = RoundStep(
            round_index=round_index,
            num_resolved=sum(sum(s) for s in outcomes.values()),
            num_episodes=sum(len(s) for s in outcomes.values()),
            solved_first=sorted(solved - solved_before),
        )
        if previous is not None:
            step.vs_previous = _paired(outcomes, previous)
            step.lost = sorted({t for t, s in previous.items() if any(s)} - solved)
        if first is not None and round_index > 0:
            step.vs_first = _paired(outcomes, first)
        steps.append(step)
        solved_before |= solved
        previous = outcomes
    return steps


def _paired(a: TaskOutcomes, b: TaskOutcomes) -> dict | None:
    if not set(a) & set(b):
        return None
    return paired_comparison({"0": a}, {"0": b}, num_resamples=2000)


def _diff(found: dict | None) -> str:
    if not found:
        return "-"
    low, high = found["ci95"]
    return (
        f"{found['diff']:+.2f} [{low:+.2f}, {high:+.2f}] p {found['p']:.2f} "
        f"({found['num_tasks']} tasks)"
    )


def climb_table(steps: list[RoundStep]) -> str:
    """The HTML table of the climb (the report's "Round to round" section)."""
    head = ["round", "held-out resolved", "vs the round before", "vs round 0"]
    head += ["solved for the first time", "lost"]
    rows = []
    for step in steps:
        name = "base" if step.round_index < 0 else str(step.round_index)
        cells = [name, f"{step.num_resolved}/{step.num_episodes}", _diff(step.vs_previous)]
        cells += [_diff(step.vs_first), ", ".join(step.solved_first) or "-"]
        cells.append(", ".join(step.lost) or "-")
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"
