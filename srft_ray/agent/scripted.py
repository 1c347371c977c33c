"""ScriptedTeacher: a deterministic policy that behaves like a flawed SWE agent, with ground truth.

For tests, demos and critic evaluation. It reads the task (including the gold patch: it is a
teacher), explores the repository, makes wrong moves on purpose (a failing command, a reply with
no command, an edit of the wrong file, a broken edit) and then recovers and applies the fix, or
does not and submits a patch that leaves the task unresolved. Every reply is a plain
"THOUGHT + one fenced bash block" message, so it goes through the same parsing path as a real
model's, and carries a ground-truth StepLabel(source="scripted") for that step: `mistake` for its
wrong moves, `recover` for the revert that undoes one, `good` otherwise.
The plan depends only on (instance_id, seed) and on what earlier observations showed.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from srft_ray.agent.sed_edits import one_line_edits
from srft_ray.agent.teacher import (
    ImitableTeacher,
    Move,
    TeacherProfile,
    teacher_reply,
)
from srft_ray.data.model import Task
from srft_ray.protocols import PolicyReply

TEACHER_NAME = "scripted-teacher"
TEACHER_VERSION = "1"


@dataclass(kw_only=True)
class ScriptedConfig:
    """How often the ScriptedTeacher errs and recovers."""

    resolve_probability: float = 0.6
    """Chance an episode ends with the gold fix applied (else it submits an unresolved patch)."""
    failing_command_probability: float = 0.5
    """Chance of one command that fails (a missing file, a missing test module)."""
    format_error_probability: float = 0.3
    """Chance of one reply without exactly one command (no block, or two blocks)."""
    wrong_file_probability: float = 0.4
    """Chance of an edit to a file the fix does not touch (reverted when the episode recovers)."""
    broken_edit_probability: float = 0.4
    """Chance of an edit that breaks the target file, caught by a test run and reverted."""
    test_command: str = "python -m pytest -q -x 2>&1 | tail -n 15"
    """How the teacher runs the repository's tests."""
    mode: Literal["imitable", "oracle"] = "imitable"
    """imitable: every command derives from the issue and earlier observations (ImitableTeacher,
    for one-line-replacement gold patches; others fall back to oracle); oracle: pastes the gold
    patch (ScriptedTeacher, any task). The probabilities above are the oracle's; the imitable
    teacher's are in `profile`."""
    profile: TeacherProfile = field(default_factory=TeacherProfile)
    """The imitable teacher's error profile."""


ScriptedReply = PolicyReply  # a reply that carries the teacher's label


def scripted_teacher(
    task: Task, *, seed: int = 0, round_index: int = 0, config: ScriptedConfig | None = None
):
    """The teacher `config.mode` names for `task` (imitable falls back to oracle per task)."""
    config = config or ScriptedConfig()
    if config.mode == "imitable" and one_line_edits(task.patch):
        return ImitableTeacher(task, seed=seed, round_index=round_index, profile=config.profile)
    return ScriptedTeacher(task, seed=seed, round_index=round_index, config=config)


class ScriptedTeacher:
    """PolicyClient for one episode of one task; deterministic for a given (task, round, seed)."""

    model_name = TEACHER_NAME
    version = TEACHER_VERSION

    def __init__(
        self,
        task: Task,
        *,
        seed: int = 0,
        round_index: int = 0,
        config: ScriptedConfig | None = None,
    ):
        if not task.patch.strip():
            raise ValueError(f"task {task.instance_id!r}: ScriptedTeacher needs the gold patch")
        self.task = task
        self.config = config or ScriptedConfig()
        # Round 0 keeps the seed it always had, so earlier runs' data stay reproducible.
        key = (
            f"{task.instance_id}:{seed}"
            if not round_index
            else f"{task.instance_id}:{round_index}:{seed}"
        )
        self.rng = random.Random(key)
        self.target_files = re.findall(r"^diff --git a/(\S+) b/", task.patch, re.MULTILINE)
        if not self.target_files:
            raise ValueError(f"task {task.instance_id!r}: gold patch names no file (diff --git)")
        self.will_resolve = self.rng.random() < self.config.resolve_probability
        self._plan: list[Move] = []
        self._planned = False

    def generate(self, messages: list[dict[str, Any]]) -> ScriptedReply:
        started = time.monotonic()
        step = sum(1 for m in messages if m["role"] == "assistant")
        if not self._planned and step >= 1:  # plan once the file listing has been seen
            self._plan = self._make_plan(_observation_text(messages))
            self._planned = True
        move = self._first_move() if step == 0 else self._next_move(step - 1)
        return teacher_reply(move, f"{TEACHER_NAME}/{TEACHER_VERSION}", started)

    def _first_move(self) -> Move:
        return Move(
            thought="I should start by getting an overview of the repository's files.",
            command="git ls-files | head -n 60",
            good=True,
            why="explores the repository layout",
        )

    def _next_move(self, index: int) -> Move:
        if index < len(self._plan):
            return self._plan[index]
        return _submit(good=self.will_resolve)

    def _make_plan(self, listing: str) -> list[Move]:
        cfg, rng = self.config, self.rng
        target = self.target_files[0]
        others = [
            line.strip()
            for line in listing.splitlines()
            if line.strip().endswith(".py") and line.strip() not in self.target_files
        ]
        symbol = _symbol_of(self.task.patch) or target.rsplit("/", 1)[-1].removesuffix(".py")
        plan: list[Move] = []
        if rng.random() < cfg.failing_command_probability:
            plan.append(_failing_command(rng, target))
        plan.append(
            Move(
                thought=f"The issue seems related to `{symbol}`. Let me find where it is defined.",
                command=f"grep -rn '{symbol}' --include='*.py' . | head -n 20",
                good=True,
                why="searches for the symbol named by the issue",
            )
        )
        plan.append(
            Move(
                thought=f"`{target}` looks relevant. Let me read it.",
                command=f"nl -ba {target} | sed -n '1,120p'",
                good=True,
                why="reads the file the fix belongs in",
            )
        )
        if rng.random() < cfg.format_error_probability:
            plan.append(_format_error(rng, target))
        wrong = rng.choice(others) if others and rng.random() < cfg.wrong_file_probability else None
        if wrong:
            plan.append(
                Move(
                    thought=f"I think the behaviour comes from `{wrong}`; let me adjust it there.",
                    command=f"sed -i '1i # NOTE: handle the case from the issue here' {wrong}",
                    good=False,
                    why="edits a file the fix does not touch",
                )
            )
        if rng.random() < cfg.broken_edit_probability:
            plan += _broken_edit_and_revert(target, cfg.test_command, recover=self.will_resolve)
        if not self.will_resolve:
            return plan  # submits next, unresolved
        if wrong:
            plan.append(
                Move(
                    thought=f"On reflection `{wrong}` is not where the bug is. Reverting it.",
                    command=f"git checkout -- {wrong} && git status --short",
                    good=True,
                    why="reverts an earlier wrong edit",
                    recover=True,
                )
            )
        plan.append(
            Move(
                thought=f"I understand the bug now. I will fix `{target}` with a patch.",
                command=(
                    "cat > /tmp/fix.patch <<'SRFT_PATCH_EOF'\n"
                    f"{self.task.patch.rstrip(chr(10))}\n"
                    "SRFT_PATCH_EOF\n"
                    "git apply /tmp/fix.patch && git diff --stat"
                ),
                good=True,
                why="applies the correct fix",
            )
        )
        plan.append(
            Move(
                thought="Let me run the test suite to check the fix.",
                command=cfg.test_command,
                good=True,
                why="verifies the fix with the tests",
            )
        )
        return plan


def _submit(*, good: bool) -> Move:
    return Move(
        thought="The change is done; submitting."
        if good
        else "I could not find a better fix; submitting what I have.",
        command="echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT",
        good=good,
        why="submits a fix" if good else "submits a patch that does not fix the issue",
    )


def _failing_command(rng: random.Random, target: str) -> Move:
    stem = target.rsplit("/", 1)[-1].removesuffix(".py")
    command, why = rng.choice(
        [
            (f"cat src/{stem}_utils.py", "reads a file that does not exist"),
            (
                f"python -m pytest -q tests/test_{stem}_missing.py",
                "runs a test file that does not exist",
            ),
            (f"python -c 'import {stem}_helpers'", "imports a module that does not exist"),
        ]
    )
    return Move(thought="Let me check the helper code first.", command=command, good=False, why=why)


def _format_error(rng: random.Random, target: str) -> Move:
    if rng.random() < 0.5:
        raw = f"THOUGHT: The bug is probably in `{target}`. I will look at it more closely next."
    else:
        raw = (
            "THOUGHT: Let me look at the file and the tests at once.\n\n"
            f"```bash\ncat {target}\n```\n\nand then\n\n```bash\nls tests\n```"
        )
    return Move(
        thought="", command=None, good=False, why="reply without exactly one command", raw=raw
    )


def _broken_edit_and_revert(target: str, test_command: str, *, recover: bool) -> list[Move]:
    moves = [
        Move(
            thought=f"Let me add a guard at the end of `{target}`.",
            command=f"printf '\\ndef _guard(value:\\n    return value\\n' >> {target}",
            good=False,
            why="breaks the target file with a syntax error",
        ),
        Move(
            thought="Let me run the tests to see whether that helped.",
            command=test_command,
            good=True,
            why="runs the tests, which reveals the broken edit",
        ),
    ]
    if recover:
        moves.append(
            Move(
                thought=f"My edit broke `{target}` (syntax error). Reverting it.",
                command=f"git checkout -- {target} && git status --short",
                good=True,
                why="reverts the broken edit",
                recover=True,
            )
        )
    return moves


def _symbol_of(patch: str) -> str:
    """A name from the first hunk header (`@@ ... @@ def name(`), if the diff shows one."""
    match = re.search(r"^@@[^@]*@@\s*(?:async\s+)?(?:def|class)\s+(\w+)", patch, re.MULTILINE)
    return match.group(1) if match else ""


def _observation_text(messages: list[dict[str, Any]]) -> str:
    """The raw output inside the first observation (after the task prompt)."""
    for message in messages[2:]:
        if message["role"] != "assistant":
            found = re.search(r"<output>\n?(.*?)</output>", message["content"], re.DOTALL)
            return found.group(1) if found else message["content"]
    return ""
