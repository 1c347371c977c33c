"""Which training tasks a student round samples, from what earlier student rounds' samples say.

`pass_rate` selection (LoopConfig.student_task_selection): a task the student always solved
teaches nothing more and is left out; a task it sometimes solves is where its own resolved
and unresolved episodes differ most, so those come first; then tasks it has not tried, then
tasks it never solved. Ties keep a seeded random order, so the choice is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from srft_ray.data.model import Trajectory


def pass_history(trajectories: Iterable[Trajectory]) -> dict[str, tuple[int, int]]:
    """instance_id -> (resolved samples, samples) over `trajectories`."""
    out: dict[str, tuple[int, int]] = {}
    for traj in trajectories:
        resolved, total = out.get(traj.instance_id, (0, 0))
        out[traj.instance_id] = (resolved + bool(traj.outcome.resolved), total + 1)
    return out


def choose_tasks(
    instance_ids: list[str],
    history: dict[str, tuple[int, int]],
    max_tasks: int,
    seed: str,
) -> list[str]:
    """Up to `max_tasks` of `instance_ids` (0: no limit), in their original order."""
    order = list(instance_ids)
    random.Random(seed).shuffle(order)

    def rank(instance_id: str) -> int:
        resolved, total = history.get(instance_id, (0, 0))
        if not total:
            return 1  # never tried
        if resolved == total:
            return 3  # always solved: dropped below
        return 0 if resolved else 2

    kept = sorted((i for i in order if rank(i) < 3), key=rank)
    chosen = set(kept[:max_tasks] if max_tasks else kept)
    return [i for i in instance_ids if i in chosen]
