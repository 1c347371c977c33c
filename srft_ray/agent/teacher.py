"""ImitableTeacher: a scripted SWE agent whose every move a student could have derived.

The oracle ScriptedTeacher (scripted.py) pastes the gold patch: nothing a student sees lets it
produce that text, so there is nothing to imitate. This teacher works like a careful engineer and
uses only the issue text and earlier observations to build each command:

1. `grep -rn "def NAME" --include='*.py' .` for the function named in the issue;
2. `nl -ba FILE | sed -n 'A,Bp'` on the file and line the grep printed;
3. `python -c "from MODULE import NAME; print(repr(CALL))"`, the example from the issue;
4. `sed -i 'A,Bs/OLD/NEW/' FILE` over the lines A-B it printed in step 2 (OLD is text of the
   wrong line found on no other line there; `Ns/OLD/NEW/` when that line's text repeats);
5. the example again, then `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`.

It reads the gold patch only to decide WHICH seen line is wrong and what it should become.
Deliberate mistakes (a failing command, a reply without exactly one command, an edit of the wrong
line, giving up, breaking a fixed file) follow `TeacherProfile` and keep ground-truth labels
(StepLabel source "scripted"): each mistake is labelled `mistake`, the `git checkout` that undoes
its own wrong edit `recover`, every other move `good`. Everything is deterministic in
(instance_id, round, sample).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from srft_ray.agent.sed_edits import (
    LineEdit,
    edits_applied,
    numbered_lines,
    one_line_edits,
    sed_chain,
    sed_command,
)
from srft_ray.data.model import StepLabel, Task
from srft_ray.protocols import PolicyReply

TEACHER_NAME = "imitable-teacher"
TEACHER_VERSION = "2"  # 2: edits address the printed range, not a line number
SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
# The example call an issue shows: a doctest line `>>> module.path.function(args)`, or the same
# call in backticks.
_CALLS = (
    re.compile(r"^\s*>>> ((?:[A-Za-z_]\w*\.)+)([A-Za-z_]\w*)\((.*)\)\s*$", re.MULTILINE),
    re.compile(r"`((?:[A-Za-z_]\w*\.)+)([A-Za-z_]\w*)\((.*?)\)`"),
)
_GREP_HIT = re.compile(r"^\./(\S+\.py):(\d+):\s*def\s+(\w+)", re.MULTILINE)


@dataclass(kw_only=True)
class TeacherProfile:
    """How often the teacher errs; the three regimes of the learning experiment are settings.

    (a) resolved scarce: resolve_probability low, unresolved episodes mostly good steps;
    (b) bad steps inside resolved episodes: wrong_edit_probability / failing_command high;
    (c) unresolved episodes made mostly of good steps: break_after_fix_probability high.
    """

    resolve_probability: float = 0.5
    """Chance the episode ends with the right fix in place."""
    failing_command_probability: float = 0.3
    """Chance of one command that fails (a file or test module that does not exist)."""
    format_error_probability: float = 0.15
    """Chance of one reply without exactly one command."""
    wrong_edit_probability: float = 0.3
    """In resolved episodes: chance of an edit of the wrong line first, seen and reverted."""
    break_after_fix_probability: float = 0.5
    """In unresolved episodes: chance that the right fix is made and then broken by an extra
    edit (so the episode is mostly good steps); otherwise only a wrong edit is made."""
    window: int = 12
    """Lines shown by the `nl -ba FILE | sed -n` read, from the function's def line."""


@dataclass(kw_only=True)
class Move:
    """One teacher reply: what it thinks, the command (None: a deliberate format error), and
    its ground truth."""

    thought: str
    command: str | None
    good: bool
    why: str
    raw: str | None = None
    recover: bool = False
    """A good move that undoes the episode's own earlier mistake (a revert of a wrong edit)."""

    @property
    def kind(self) -> str:
        """The ground-truth step kind: mistake, recover or good."""
        if not self.good:
            return "mistake"
        return "recover" if self.recover else "good"


def teacher_reply(move: Move, teacher: str, started: float) -> PolicyReply:
    """A move as the agent sees it (THOUGHT + one bash block) with its ground-truth label."""
    text = move.raw or f"THOUGHT: {move.thought}\n\n```bash\n{move.command}\n```"
    label = StepLabel(
        label=move.kind,
        source="scripted",
        confidence=1.0,
        model=teacher,
        rationale=move.why,
    )
    return PolicyReply(text=text, labels=[label], seconds=time.monotonic() - started)


def _python_c(module: str, function: str, args: str) -> str:
    code = f"from {module} import {function}; print(repr({function}({args})))"
    if '"' in code or "$" in code or "`" in code or "\\" in code:
        return f"python - <<'EOF'\n{code.replace('; ', chr(10))}\nEOF"
    return f'python -c "{code}"'


def _mutate(line: str, rng: random.Random) -> str | None:
    """A plausible but wrong one-line change (another operator, comparison or number)."""
    swaps = [(" + ", " - "), (" - ", " + "), (" * ", " + "), (" < ", " <= "), (" <= ", " < ")]
    swaps += [(" > ", " >= "), (" >= ", " > "), (" == ", " != "), (" and ", " or ")]
    options = [(a, b) for a, b in swaps if a in line]
    numbers = list(re.finditer(r"(?<![\w.])(\d+)(?![\w.])", line))
    if numbers:
        options.append(("#num", ""))
    if not options:
        return None
    old, new = rng.choice(options)
    if old == "#num":
        match = rng.choice(numbers)
        value = int(match.group(1))
        return line[: match.start()] + str(value + 1) + line[match.end() :]
    return line.replace(old, new, 1)


class ImitableTeacher:
    """PolicyClient for one episode; see the module doc."""

    model_name = TEACHER_NAME
    version = TEACHER_VERSION

    def __init__(
        self, task: Task, *, seed: int = 0, round_index: int = 0, profile: TeacherProfile
    ) -> None:
        self.task = task
        self.profile = profile
        self.rng = random.Random(f"{task.instance_id}:{round_index}:{seed}")
        self.edits = one_line_edits(task.patch)
        if not self.edits:
            raise ValueError(
                f"task {task.instance_id!r}: the imitable teacher needs a gold patch made of "
                "line replacements (use scripted.mode=oracle for other patches)"
            )
        self.call = example_call(task.problem_statement)
        self.will_resolve = self.rng.random() < profile.resolve_probability
        self._script = self._moves()
        self._pending: Move | None = None

    def generate(self, messages: list[dict[str, Any]]) -> PolicyReply:
        started = time.monotonic()
        observation = observation_output(messages[-1]) if len(messages) > 2 else ""
        try:
            move = next(self._script) if self._pending is None else self._script.send(observation)
        except StopIteration:  # the agent asked again after the submit: submit again
            move = Move(thought="Submitting.", command=SUBMIT, good=False, why="repeats submit")
        self._pending = move
        return teacher_reply(move, f"{TEACHER_NAME}/{TEACHER_VERSION}", started)

    def _moves(self) -> Generator[Move, str, None]:
        """The episode as a script: each `yield` sends a move and receives its observation."""
        profile, rng, edit = self.profile, self.rng, self.edits[0]
        name = self.call[1] if self.call else _hunk_symbol(self.task.patch)
        if rng.random() < profile.failing_command_probability:
            stem = edit.path.rsplit("/", 1)[-1].removesuffix(".py")
            yield Move(
                thought="Let me look at the tests of this module first.",
                command=f"cat tests/test_{stem}_cases.py",
                good=False,
                why="reads a file that does not exist",
            )
        seen = yield Move(
            thought=f"The issue is about `{name}`. Let me find where it is defined.",
            command=f"grep -rn \"def {name}\" --include='*.py' .",
            good=True,
            why="finds the function named in the issue",
        )
        path, def_line = edit.path, max(1, edit.number - 3)
        for hit in _GREP_HIT.finditer(seen):
            if hit.group(3) == name:
                path, def_line = hit.group(1), int(hit.group(2))
                break
        last = max(def_line + profile.window - 1, *(e.number for e in self.edits))
        listing = yield Move(
            thought=f"`{name}` is in `{path}` at line {def_line}. Let me read it.",
            command=f"nl -ba {path} | sed -n '{def_line},{last}p'",
            good=True,
            why="reads the function with line numbers",
        )
        lines = numbered_lines(listing)
        if rng.random() < profile.format_error_probability:
            yield Move(
                thought="",
                command=None,
                good=False,
                why="reply without a command",
                raw=f"THOUGHT: I see the code of `{name}`. The bug must be in one of these lines.",
            )
        reproduce = None
        if self.call:
            module, function, args = self.call
            reproduce = _python_c(module, function, args)
            yield Move(
                thought="Let me run the example from the issue to see the wrong result.",
                command=reproduce,
                good=True,
                why="reproduces the issue",
            )
        wrong = self._wrong_edit(lines, edit)
        fixes = [e for e in self.edits if lines.get(e.number, e.old) == e.old]
        # An unresolved episode fixes the bug and then breaks it again (mostly good steps), or
        # only makes a wrong edit; without a line to break, it gives up after reproducing. The
        # break changes the fixed line itself: the hidden tests exercise exactly that line, so
        # the episode really ends unresolved (an edit elsewhere often slips past them).
        broken = _mutate(edit.new, rng)
        rebreak = (
            LineEdit(path=edit.path, number=edit.number, old=edit.new, new=broken)
            if broken and broken != edit.new
            else wrong
        )
        apply_fix = self.will_resolve or (
            rebreak is not None and rng.random() < profile.break_after_fix_probability
        )
        if apply_fix:
            if self.will_resolve and wrong and rng.random() < profile.wrong_edit_probability:
                yield from self._wrong_then_revert(wrong, reproduce, lines)
            yield Move(
                thought=_fix_thought(fixes[0] if fixes else edit),
                command=sed_chain(fixes or self.edits, lines),
                good=True,
                why="fixes the wrong line",
            )
            if reproduce:
                yield Move(
                    thought="Let me run the example again to check the fix.",
                    command=reproduce,
                    good=True,
                    why="verifies the fix",
                )
            if self.will_resolve:
                yield Move(
                    thought="The example now gives the expected result. Submitting.",
                    command=SUBMIT,
                    good=True,
                    why="submits the fix",
                )
                return
        if apply_fix and rebreak:  # unresolved: the fix, then a change that breaks it
            yield Move(
                thought=f"Line {rebreak.number} may still be off. Let me adjust it.",
                command=sed_command(rebreak, edits_applied(fixes or self.edits, lines)),
                good=False,
                why="changes a line that was already right",
            )
        elif wrong:  # unresolved: a wrong change instead of the fix
            yield Move(
                thought=f"Line {wrong.number} looks suspicious. Let me change it.",
                command=sed_command(wrong, lines),
                good=False,
                why="edits a line that was not wrong",
            )
        yield Move(
            thought="I think this is done. Submitting.",
            command=SUBMIT,
            good=False,
            why="submits a patch that does not resolve the issue",
        )

    def _wrong_then_revert(self, wrong: LineEdit, reproduce: str | None, lines: dict[int, str]):
        yield Move(
            thought=f"Line {wrong.number} looks wrong. Let me change it.",
            command=sed_command(wrong, lines),
            good=False,
            why="edits a line that was not wrong",
        )
        if reproduce:
            yield Move(
                thought="Let me check whether that fixed the example.",
                command=reproduce,
                good=True,
                why="checks the edit, which reveals it was wrong",
            )
        yield Move(
            thought=f"That did not fix it. Let me undo my change to `{wrong.path}`.",
            command=f"git checkout -- {wrong.path}",
            good=True,
            why="reverts the wrong edit",
            recover=True,
        )

    def _wrong_edit(self, lines: dict[int, str], edit: LineEdit) -> LineEdit | None:
        """A wrong change to another line of the function the teacher has seen."""
        bug_lines = {e.number for e in self.edits}
        candidates = sorted(n for n in lines if n not in bug_lines and n > min(lines, default=0))
        self.rng.shuffle(candidates)
        for number in candidates:
            text = lines[number]
            if text.lstrip().startswith(("def ", "#", '"', "'")):
                continue
            mutated = _mutate(text, self.rng)
            if mutated and mutated != text:
                return LineEdit(path=edit.path, number=number, old=text, new=mutated)
        return None


def example_call(statement: str) -> tuple[str, str, str] | None:
    """(module, function, arguments) of the example call in an issue, if it shows one."""
    for pattern in _CALLS:
        found = pattern.search(statement)
        if found:
            return found.group(1).rstrip("."), found.group(2), found.group(3)
    return None


def _fix_thought(edit: LineEdit) -> str:
    return f"Line {edit.number} is wrong: `{edit.old.strip()}`. Let me fix it."


def _hunk_symbol(patch: str) -> str:
    match = re.search(r"^@@[^@]*@@\s*(?:async\s+)?(?:def|class)\s+(\w+)", patch, re.MULTILINE)
    return match.group(1) if match else "main"


def observation_output(message: dict[str, Any]) -> str:
    """The command output inside one observation message (<output>, or head and tail)."""
    content = message.get("content") or ""
    found = re.search(r"<output>\n?(.*?)</output>", content, re.DOTALL)
    if found:
        return found.group(1)
    parts = re.findall(r"<output_(?:head|tail)>\n?(.*?)</output_(?:head|tail)>", content, re.DOTALL)
    return "\n".join(parts) if parts else content
