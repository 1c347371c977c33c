"""Where held-out episodes on the generated family fail: which step of the teacher's protocol
the student got wrong, read off each evaluated trajectory against the task's gold line.

    python benchmarks/failure_modes.py RUN_DIR/ablate/rft-s0/eval [STORE ...] --tasks generated:400:0:1

For every trajectory, in order (the first that applies):
  resolved          the hidden tests pass;
  right fix         its patch makes the gold line's change (and then broke something, or the
                    grading failed it);
  right line        its patch changes the gold line, but not to the gold text;
  wrong line        its patch changes other lines only;
  read, no edit     it printed the gold line with `nl -ba` but changed nothing;
  found, no read    its grep found the function, it never printed the gold line;
  lost              none of the above.
Also counted: how episodes ended (submitted, step limit, format errors), and the unresolved
episodes that submitted right after re-running the issue's example printed what it printed
before the edit (the check said "still broken" and the agent did not act on it).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from srft_ray.agent.sed_edits import one_line_edits
from srft_ray.data.model import Task, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.tasks.source import load_task_source

MODES = (
    "resolved",
    "right fix",
    "right line",
    "wrong line",
    "read, no edit",
    "found, no read",
    "lost",
)


def changed_lines(patch: str) -> dict[int, str]:
    """{old line number: new text} of one-line replacements in a unified diff (best effort)."""
    edits = one_line_edits(patch) if patch.strip() else None
    return {e.number: e.new for e in edits or []}


def failure_mode(traj: Trajectory, task: Task) -> str:
    if traj.outcome.resolved:
        return "resolved"
    gold = one_line_edits(task.patch) or []
    gold_lines = {e.number: e.new for e in gold}
    patch = traj.outcome.patch or ""
    if patch.strip():
        made = changed_lines(patch)
        if any(made.get(n) == new for n, new in gold_lines.items()):
            return "right fix"
        if any(n in made for n in gold_lines):
            return "right line"
        return "wrong line"
    outputs = "\n".join(s.output or "" for s in traj.steps)
    if any(re.search(rf"^\s*{n}\t", outputs, re.MULTILINE) for n in gold_lines):
        return "read, no edit"
    if any("def " in (s.output or "") and "grep" in (s.command or "") for s in traj.steps):
        return "found, no read"
    return "lost"


def ignored_failed_check(traj: Trajectory) -> bool:
    """Unresolved, and its last `python -c` run before submitting printed the same as its first."""
    runs = [s.output for s in traj.steps if (s.command or "").startswith("python -c")]
    return not traj.outcome.resolved and len(runs) >= 2 and runs[-1] == runs[0]


def summarize(trajs: list[Trajectory], tasks: dict[str, Task]) -> dict[str, Counter]:
    modes: Counter = Counter()
    ends: Counter = Counter()
    checks: Counter = Counter()
    for traj in trajs:
        task = tasks.get(traj.instance_id)
        if task is None:
            raise SystemExit(f"{traj.trajectory_id}: task {traj.instance_id!r} not in the source")
        modes[failure_mode(traj, task)] += 1
        ends[traj.outcome.exit_status or "unknown"] += 1
        checks["ignored a failed check"] += ignored_failed_check(traj)
    return {"modes": modes, "ends": ends, "checks": checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stores", nargs="+", help="trajectory store folders (Parquet parts)")
    parser.add_argument("--tasks", required=True, help="the task source the episodes ran on")
    args = parser.parse_args(argv)
    tasks = {t.instance_id: t for t in load_task_source(args.tasks).tasks()}
    for store in args.stores:
        trajs = list(TrajectoryStore(Path(store)))
        result = summarize(trajs, tasks)
        print(f"{store}: {len(trajs)} episodes")
        for mode in MODES:
            print(f"  {mode:15s} {result['modes'][mode]:4d}")
        print("  ended: " + ", ".join(f"{k} {v}" for k, v in sorted(result["ends"].items())))
        print(
            f"  submitted though the re-run still showed the bug: {result['checks']['ignored a failed check']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
