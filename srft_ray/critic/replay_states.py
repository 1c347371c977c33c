"""The execution facts replay labels stand on: each step's working tree and what the tests say.

- `recorded_states`: the tree after each step as collection recorded it (Step.tree_diff).
- `StateReplayer`: for trajectories collected without trees (imported ones), re-runs the
  commands in a fresh sandbox over the task's checkout, recording the tree after each step;
  where a command's output differs from the recorded one, that step and every later one are
  unknown (the replay no longer follows the episode).
- `TestOracle`: FAIL_TO_PASS / PASS_TO_PASS verdicts of one tree, graded in a fresh sandbox with
  swebench's own parsers (srft_ray.tasks.grading), cached by tree content (task + diff), so a
  tree several steps or episodes share is tested once.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from srft_ray.agent.tree_snapshot import TreeRecorder
from srft_ray.data.model import Step, Task, Trajectory
from srft_ray.protocols import TaskSource
from srft_ray.sandbox import SandboxConfig, open_sandbox

BASE = ""
"""The state of the base commit: an empty diff."""


@dataclass(frozen=True, kw_only=True)
class TestFacts:
    ok: bool
    """False when the tree could not be tested (the diff did not apply, the tests timed out)."""
    f2p_passed: int = 0
    f2p_total: int = 0
    p2p_passed: int = 0
    p2p_total: int = 0
    passing: frozenset[str] = frozenset()
    """FAIL_TO_PASS and PASS_TO_PASS tests that pass on this tree."""
    why: str = ""

    @property
    def resolved(self) -> bool:
        return self.ok and self.f2p_passed == self.f2p_total and self.p2p_passed == self.p2p_total

    def summary(self) -> str:
        if not self.ok:
            return f"tests not run ({self.why})"
        return f"F2P {self.f2p_passed}/{self.f2p_total} P2P {self.p2p_passed}/{self.p2p_total}"


def recorded_states(traj: Trajectory) -> list[str] | None:
    """The tree after each step as a diff against base (None: collection recorded no trees).

    A step whose command did not run (a format error) leaves the tree as it was."""
    if not any(step.tree is not None for step in traj.steps):
        return None
    states, current = [], BASE
    for step in traj.steps:
        if step.tree_diff is not None:
            current = step.tree_diff
        states.append(current)
    return states


@dataclass(kw_only=True)
class ReplayConfig:
    """How replay labels are produced: sandboxes for replays and test runs, and their limits."""

    tasks: str = ""
    """Task source name the trajectories come from (empty: the run's own task source)."""
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    command_timeout_s: float = 30.0
    """Limit of one replayed command (a replay that times out makes the rest unknown)."""
    test_timeout_s: float = 120.0
    """Limit of testing one tree; a timeout leaves the steps that depend on it unknown."""


class CheckoutCache:
    """Base checkouts of tasks, made once per labeller (sandboxes copy-on-write over them)."""

    def __init__(self, source: TaskSource):
        self.source = source
        self._root = Path(tempfile.mkdtemp(prefix="srft-replay-"))
        self._paths: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._applies: dict[str, str] = {}

    def get(self, task: Task) -> Path:
        from srft_ray.tasks.source import checkout_task

        key = f"{task.repo}@{task.base_commit}"
        with self._lock:
            if key not in self._paths:
                dest = self._root / f"checkout-{len(self._paths)}"
                self._paths[key] = checkout_task(self.source, task, dest)
            return self._paths[key]

    def check_applies(self, task: Task, patch: str) -> str:
        """Why `patch` does not apply to the task's checkout ("" when it applies); `git apply
        --check` reads the patch and the tree, it runs nothing of the repository's."""
        key = hashlib.sha256(f"{task.instance_id}\0{patch}".encode()).hexdigest()
        if key not in self._applies:
            checked = subprocess.run(
                ["git", "-c", "safe.directory=*", "apply", "--check", "-"],
                cwd=self.get(task),
                input=patch.rstrip("\n") + "\n",
                capture_output=True,
                text=True,
            )
            self._applies[key] = checked.stderr.strip()[-300:] if checked.returncode else ""
        return self._applies[key]

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)


class TestOracle:
    """Tests trees of tasks in fresh sandboxes; verdicts cached by (task, diff) content."""

    def __init__(self, config: ReplayConfig, checkouts: CheckoutCache):
        self.config = config
        self.checkouts = checkouts
        self._cache: dict[str, TestFacts] = {}
        self.num_runs = 0
        self.num_cache_hits = 0
        self.sandbox_seconds = 0.0

    def facts(self, task: Task, diff: str) -> TestFacts:
        key = hashlib.sha256(f"{task.instance_id}\0{diff}".encode()).hexdigest()
        if key in self._cache:
            self.num_cache_hits += 1
            return self._cache[key]
        self._cache[key] = found = self._run(task, diff)
        return found

    def _run(self, task: Task, diff: str) -> TestFacts:
        from srft_ray.tasks.grading import GradingConfig, grade_in_sandbox

        started = time.monotonic()
        self.num_runs += 1
        config = GradingConfig(timeout_s=self.config.test_timeout_s)
        with open_sandbox(self.config.sandbox, source_dir=self.checkouts.get(task)) as box:
            graded = grade_in_sandbox(task, diff, box, config)
        self.sandbox_seconds += time.monotonic() - started
        if not graded.patch_applied:
            return TestFacts(ok=False, why=_failure_reason(graded.log))
        passing = frozenset(
            test for part in graded.report.values() for test in part.get("success", [])
        )
        return TestFacts(
            ok=True,
            f2p_passed=sum(t in passing for t in task.fail_to_pass),
            f2p_total=len(task.fail_to_pass),
            p2p_passed=sum(t in passing for t in task.pass_to_pass),
            p2p_total=len(task.pass_to_pass),
            passing=passing,
        )


def _failure_reason(log: str) -> str:
    from swebench.harness.constants import APPLY_PATCH_FAIL, TESTS_TIMEOUT

    if TESTS_TIMEOUT in log:
        return "timeout"
    if APPLY_PATCH_FAIL in log:
        return "the diff does not apply"
    return "tests errored"


_WHITESPACE = re.compile(r"\s+")


def _same_output(recorded: str, replayed: str) -> bool:
    """Outputs agree up to whitespace (timings and paths aside, a replay prints the same)."""
    return _WHITESPACE.sub(" ", recorded).strip() == _WHITESPACE.sub(" ", replayed).strip()


def recorded_output(step: Step) -> str | None:
    """The command's raw output as recorded (text action, or its tool calls'); None if unsaved."""
    if step.output is not None:
        return step.output
    raw = [call.raw_output for call in step.tool_calls if call.raw_output is not None]
    return "\n".join(raw) if raw else None


@dataclass(kw_only=True)
class ReplayResult:
    states: list[str | None]
    """The tree after each step as a diff against base; None from the first mismatch on."""
    first_mismatch: int | None = None
    sandbox_seconds: float = 0.0


class StateReplayer:
    """Re-runs a trajectory's commands in a fresh checkout to learn each step's tree."""

    def __init__(self, config: ReplayConfig, checkouts: CheckoutCache):
        self.config = config
        self.checkouts = checkouts

    def replay(self, traj: Trajectory, task: Task) -> ReplayResult:
        started = time.monotonic()
        states: list[str | None] = []
        mismatch: int | None = None
        with open_sandbox(self.config.sandbox, source_dir=self.checkouts.get(task)) as box:
            recorder = TreeRecorder(box, task.base_commit)
            current = BASE
            for step in traj.steps:
                if mismatch is not None:
                    states.append(None)
                    continue
                if not step.command:
                    states.append(current)
                    continue
                result = box.run(
                    recorder.wrap(step.command), timeout_s=self.config.command_timeout_s
                )
                result, state = recorder.unwrap(result)
                recorded = recorded_output(step)
                diverged = result.end_reason != "exit" or state is None
                if not diverged and recorded is not None:
                    diverged = not _same_output(recorded, result.output)
                elif not diverged and step.observation is not None:
                    diverged = result.output.strip() not in step.observation
                if diverged:
                    mismatch = step.index
                    states.append(None)
                    continue
                if state.diff is not None:
                    current = state.diff
                states.append(current)
        return ReplayResult(
            states=states, first_mismatch=mismatch, sandbox_seconds=time.monotonic() - started
        )
