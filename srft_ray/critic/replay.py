"""Replay labels: the paper's four kinds from execution, not from a model's opinion.

For every step the labeller knows the working tree after it (recorded during collection, or
replayed: srft_ray.critic.replay_states) and what the task's FAIL_TO_PASS / PASS_TO_PASS tests
say about that tree; it compares each change with the reference patch (srft_ray.critic.diff_lines:
the lines it touches, and its distance to the reference). Then, per step:

Edits (the tree changed):
- mistake: it breaks a test that passed before it;
- recover: it undoes an earlier mistake edit (every change that edit made is gone);
- good: it makes a FAIL_TO_PASS test pass, or it moves the tree toward the reference
  (distance falls), or it only creates new files outside the reference (a reproduction script);
- mistake otherwise: it touches no reference line and is left in the final patch, or it leaves
  the failing tests failing and is later undone, or it moves away from the reference.
Other steps:
- mistake: a reply with no valid command (format error); a submit of a patch that does not
  resolve the task (FAIL_TO_PASS fails, or a PASS_TO_PASS test the patch broke);
  a command that fails by the agent's own error (killed, or a non-zero exit that is not an
  answer: a test run, a grep with no match, and a reproduction run whose traceback ends in the
  repository's code are answers);
- mistake: an edit that changed nothing (a sed that matched no line, a wrong range) while
  FAIL_TO_PASS fails; with the fix already in place such an edit is unnecessary;
- unnecessary: the same command as an earlier step, on the same tree, with the same output,
  and no edit attempted in between (a check after an attempted edit is good);
- good otherwise. A check that ran cleanly earlier and fails now (the agent's edit broke an
  import, say) reports the code, not a bad command: it is not the agent's command error.
A step whose tree is unknown (a replay that diverged from the recording) or whose verdict needs
tests that could not run (a timeout, a diff that does not apply) is `unknown`, and counted.
"""

from __future__ import annotations

import copy
import logging
import re
from collections import Counter
from dataclasses import dataclass, field

from srft_ray.critic.diff_lines import LineChanges, distance, parse_diff, step_changes, touches
from srft_ray.critic.replay_states import (
    BASE,
    CheckoutCache,
    ReplayConfig,
    StateReplayer,
    TestFacts,
    TestOracle,
    recorded_output,
    recorded_states,
)
from srft_ray.critic.rules import _KILLED, _exit_1_is_an_answer, edited_files
from srft_ray.data.model import DataError, Step, StepLabel, Task, Trajectory
from srft_ray.protocols import TaskSource

logger = logging.getLogger(__name__)

REPLAY_VERSION = "replay/v1"
_MISSING_FILE = re.compile(r"^[\w.-]+: [^\n]*: No such file or directory$", re.MULTILINE)
_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+', re.MULTILINE)


@dataclass(kw_only=True)
class StepVerdict:
    kind: str
    why: str


def _output(step: Step) -> str:
    """What the command printed: the raw output, else the observation the agent saw."""
    found = recorded_output(step)
    if found is None:  # a tool-call step keeps what the agent saw on its calls
        shown = [call.output for call in step.tool_calls if call.output is not None]
        found = "\n".join(shown) if shown else step.observation or ""
    return found


def reproduces_in_repository(output: str) -> bool:
    """A Python traceback whose innermost frame is the repository's code: the bug ran."""
    frames = _FRAME.findall(output)
    if not frames or "Traceback (most recent call last)" not in output:
        return False
    last = frames[-1]
    return not (last.startswith("<") or "site-packages" in last or "/lib/python" in last)


def own_error(step: Step) -> bool:
    """The command failed by the agent's own error (not an answer such as a failing test run)."""
    if step.end_reason in _KILLED:
        return True
    if step.returncode is None:
        return False
    if step.returncode == 0:  # a pipeline reports its last command: `nl -ba NOPE | sed -n 1,9p`
        return bool(_MISSING_FILE.search(_output(step)))
    command = step.command or ""
    if step.returncode == 1 and _exit_1_is_an_answer(command):
        return False
    return not reproduces_in_repository(_output(step))


class _Trajectory:
    """The states of one trajectory with their parsed changes, distances and test facts."""

    def __init__(self, states, facts, reference: LineChanges):
        self.states = states
        self.facts = facts
        self.reference = reference
        self.changes = {s: parse_diff(s) for s in {*states, BASE} if s is not None}
        self.elements = {s: c.elements() for s, c in self.changes.items()}
        self.distance = {s: distance(c, reference) for s, c in self.changes.items()}
        self.final = states[-1] if states else BASE
        self.mistakes: list[tuple[int, set[tuple]]] = []
        """Edit steps labelled mistake so far, with the changes each made."""


def step_kinds(
    traj: Trajectory,
    states: list[str | None],
    facts: dict[str, TestFacts],
    reference: LineChanges,
) -> list[StepVerdict]:
    """The kind of every step of `traj` (see the module doc) from its trees and test facts."""
    view = _Trajectory(states, facts, reference)
    out: list[StepVerdict] = []
    previous: str | None = BASE
    for i in range(len(traj.steps)):
        now = states[i]
        if now is None or previous is None:
            out.append(StepVerdict(kind="unknown", why="tree unknown (replay diverged)"))
        elif now != previous:
            out.append(_edit_kind(view, i, previous, now))
        else:
            out.append(_other_kind(view, i, traj))
        previous = now
    return out


def _edit_kind(view: _Trajectory, i: int, previous: str, now: str) -> StepVerdict:
    before, after = view.facts.get(previous), view.facts.get(now)
    if before is None or after is None or not before.ok or not after.ok:
        tested = [f.summary() for f in (before, after) if f is not None and not f.ok]
        return StepVerdict(kind="unknown", why=f"edit; {tested[0] if tested else 'not tested'}")
    d0, d1 = view.distance[previous], view.distance[now]
    facts = f"{before.summary()} -> {after.summary()}; distance to reference {d0}->{d1}"
    made = view.elements[now] - view.elements[previous]
    verdict = _edit_verdict(view, i, previous, now, before, after, facts, made)
    if verdict.kind == "mistake" and made:
        view.mistakes.append((i, made))
    return verdict


def _edit_verdict(view, i, previous, now, before, after, facts, made) -> StepVerdict:
    broken = sorted(before.passing - after.passing)
    if broken:
        return StepVerdict(kind="mistake", why=f"edit breaks {broken[0]}; {facts}")
    for j, changes in view.mistakes:
        if changes & view.elements[previous] and not changes & view.elements[now]:
            return StepVerdict(kind="recover", why=f"edit undoes the mistake of step {j}; {facts}")
    if after.f2p_passed > before.f2p_passed:
        return StepVerdict(kind="good", why=f"edit makes FAIL_TO_PASS tests pass; {facts}")
    if view.distance[now] < view.distance[previous]:
        return StepVerdict(kind="good", why=f"edit moves toward the reference; {facts}")
    step = step_changes(view.changes[previous], view.changes[now])
    scratch = (
        view.changes[now].new_files | view.changes[previous].new_files
    ) - view.reference.files
    if step.files and step.files <= scratch:
        return StepVerdict(kind="good", why=f"edit only creates new files; {facts}")
    later = [s for s in view.states[i + 1 :] if s is not None]
    in_final = view.final is not None and bool(made & view.elements[view.final])
    if not touches(step, view.reference) and in_final:
        why = "edit touches no reference line and stays in the final patch"
    elif made and any(not made & view.elements[s] for s in later):
        why = "edit leaves the failing tests failing and is later undone"
    else:
        why = "edit does not move toward the reference"
    return StepVerdict(kind="mistake", why=f"{why}; {facts}")


def _other_kind(view: _Trajectory, i: int, traj: Trajectory) -> StepVerdict:
    step = traj.steps[i]
    if step.end_reason == "format_error" or not step.command:
        return StepVerdict(kind="mistake", why="no valid command (format error)")
    if step.end_reason == "submitted":
        final = view.facts.get(view.final) if view.final is not None else None
        if final is None or not final.ok:
            return StepVerdict(kind="unknown", why="submit; the final tree was not tested")
        if not final.resolved:  # a failing FAIL_TO_PASS, or a PASS_TO_PASS the patch broke
            why = f"submit of a patch that does not resolve the task: {final.summary()}"
            return StepVerdict(kind="mistake", why=why)
        return StepVerdict(kind="good", why=f"submit of a working fix: {final.summary()}")
    state = view.facts.get(view.states[i])
    if attempts_edit(step):  # it meant to change the code, and the tree did not change
        if state is None or not state.ok:
            return StepVerdict(kind="unknown", why="an edit that changed nothing; tree not tested")
        if state.f2p_passed < state.f2p_total:
            why = f"an edit that changed nothing while FAIL_TO_PASS fails: {state.summary()}"
            return StepVerdict(kind="mistake", why=why)
        return StepVerdict(kind="unnecessary", why="an edit that changed nothing (fix in place)")
    earlier = traj.steps[:i]
    if own_error(step) and not any(
        e.command == step.command and not own_error(e) for e in earlier
    ):  # a check that ran cleanly before and fails now reports the code, not a bad command
        code = step.end_reason if step.end_reason in _KILLED else f"exit {step.returncode}"
        return StepVerdict(kind="mistake", why=f"command fails by the agent's error ({code})")
    for j, before in enumerate(earlier):
        if (
            before.command == step.command
            and view.states[j] == view.states[i]
            and _output(before).strip() == _output(step).strip()
            and not any(attempts_edit(s) for s in earlier[j + 1 :])
        ):
            why = f"repeats step {j} on the same tree with the same output"
            return StepVerdict(kind="unnecessary", why=why)
    return StepVerdict(kind="good", why="a working command")


def attempts_edit(step: Step) -> bool:
    """The command writes a file of the repository (sed -i, a redirect, tee, a heredoc): what
    it meant to do, read from the command only to judge an edit that changed nothing."""
    files = edited_files(step.command)
    return any(not f.startswith(("/tmp", "/dev", "/proc")) for f in files)


@dataclass(kw_only=True)
class ReplayStats:
    """What replay labelling cost and found; added up across batches."""

    num_trajectories: int = 0
    num_steps: int = 0
    kinds: Counter = field(default_factory=Counter)
    num_replayed: int = 0
    """Trajectories without recorded trees, replayed in a fresh checkout."""
    num_diverged_steps: int = 0
    """Steps unknown because a replayed output differed from the recorded one (and all later)."""
    num_test_runs: int = 0
    num_cache_hits: int = 0
    sandbox_seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    """One message per trajectory that got no labels (its task has no tests or reference)."""


class ReplayLabeller:
    """The `replay` label source: StepLabel(source="replay") of the four kinds on every step."""

    def __init__(self, config: ReplayConfig, task_source: TaskSource | None = None):
        from srft_ray.tasks.source import load_task_source

        self.config = config
        if task_source is None:
            if not config.tasks:
                raise ValueError("replay labels need a task source: set replay.tasks")
            task_source = load_task_source(config.tasks)
        self.tasks = {task.instance_id: task for task in task_source.tasks()}
        self.checkouts = CheckoutCache(task_source)
        self.oracle = TestOracle(config, self.checkouts)
        self.replayer = StateReplayer(config, self.checkouts)
        self.stats = ReplayStats()

    def close(self) -> None:
        self.checkouts.close()

    def task_of(self, traj: Trajectory) -> Task:
        task = self.tasks.get(traj.instance_id)
        if task is None:
            raise DataError(
                f"trajectory {traj.trajectory_id!r}: its task {traj.instance_id!r} is not in "
                f"the task source {self.config.tasks or '(given)'}"
            )
        return task

    def verdicts(self, traj: Trajectory) -> list[StepVerdict] | None:
        """The kind of each step, or None (with a message in stats) when it cannot be replayed."""
        task = self.task_of(traj)
        if not task.fail_to_pass or not task.patch.strip():
            what = "FAIL_TO_PASS tests" if not task.fail_to_pass else "a reference patch"
            message = f"{traj.trajectory_id}: task {task.instance_id} has no {what}: not labelled"
            logger.warning("replay: %s", message)
            self.stats.skipped.append(message)
            return None
        problem = self.checkouts.check_applies(task, task.patch)
        if problem:
            raise DataError(
                f"trajectory {traj.trajectory_id!r}: the reference patch of task "
                f"{task.instance_id!r} does not apply to its base commit: {problem}"
            )
        states = recorded_states(traj)
        if states is None:
            replayed = self.replayer.replay(traj, task)
            states = replayed.states
            self.stats.num_replayed += 1
            self.stats.sandbox_seconds += replayed.sandbox_seconds
            if replayed.first_mismatch is not None:
                self.stats.num_diverged_steps += len(traj.steps) - replayed.first_mismatch
        facts = {s: self.oracle.facts(task, s) for s in {*states, BASE} if s is not None}
        return step_kinds(traj, states, facts, parse_diff(task.patch))

    def label(self, trajectories: list[Trajectory]) -> list[list[StepLabel]]:
        """The `Critic` protocol: per trajectory and step, the labels this source adds."""
        out = []
        for traj in trajectories:
            runs, hits, seconds = (
                self.oracle.num_runs,
                self.oracle.num_cache_hits,
                self.oracle.sandbox_seconds,
            )
            verdicts = self.verdicts(traj)
            self.stats.num_test_runs += self.oracle.num_runs - runs
            self.stats.num_cache_hits += self.oracle.num_cache_hits - hits
            self.stats.sandbox_seconds += self.oracle.sandbox_seconds - seconds
            self.stats.num_trajectories += 1
            self.stats.num_steps += len(traj.steps)
            if verdicts is None:
                out.append([[] for _ in traj.steps])
                continue
            self.stats.kinds.update(v.kind for v in verdicts)
            out.append(
                [
                    [
                        StepLabel(
                            label=v.kind, source="replay", model=REPLAY_VERSION, rationale=v.why
                        )
                    ]
                    for v in verdicts
                ]
            )
        return out

    def label_trajectories(self, trajectories: list[Trajectory]) -> list[Trajectory]:
        """Copies of `trajectories` with the replay labels appended to every step."""
        out = []
        for traj, labels in zip(trajectories, self.label(trajectories)):
            copied = copy.deepcopy(traj)
            for step, added in zip(copied.steps, labels):
                step.labels.extend(added)
            out.append(copied)
        return out
