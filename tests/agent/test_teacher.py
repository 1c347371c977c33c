"""The imitable teacher: edits built from seen text, real sed, real episodes in bwrap, labels."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from srft_ray.agent.sed_edits import LineEdit, one_line_edits, sed_command, sed_substitution
from srft_ray.agent.teacher import TeacherProfile, example_call, observation_output
from srft_ray.data.model import Task

LINE_PAIRS = [
    ("    return price + price * pct / 100", "    return price - price * pct / 100"),
    ("    for i in range(n - 1):", "    for i in range(n):"),
    ("    if x < y:", "    if x <= y:"),
    ("    return total(b, a)", "    return total(a, b)"),
    ("    x = a + b + c", "    x = a + b - c"),
    ("    if not items:", "    if items:"),
    ("    rate = 0.05", "    rate = 0.5"),
    ("    return values[:-1]", "    return values[:]"),
    ("    return text.split('/')[0] & mask", "    return text.split('/')[1] & mask"),
]


@pytest.mark.parametrize(("old", "new"), LINE_PAIRS)
def test_sed_substitution_changes_exactly_the_intended_text(old, new):
    span_old, span_new = sed_substitution(old, new)
    assert span_old in old and old.count(span_old) == 1
    assert old.replace(span_old, span_new, 1) == new


@pytest.mark.parametrize(("old", "new"), LINE_PAIRS)
def test_sed_command_run_by_real_sed_rewrites_that_line_only(tmp_path: Path, old, new):
    path = tmp_path / "mod.py"
    path.write_text(f"def f():\n{old}\n{old}\n")
    command = sed_command(LineEdit(path="mod.py", number=2, old=old, new=new))
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)
    assert path.read_text() == f"def f():\n{new}\n{old}\n"


@pytest.mark.parametrize(("old", "new"), LINE_PAIRS)
def test_range_addressed_sed_rewrites_only_the_intended_line(tmp_path: Path, old, new):
    # the printed range holds other lines sharing words with the wrong one: OLD must be text
    # of no other line there, or the address falls back to the line number
    neighbours = [old.replace(old.strip(), "pass  # " + old.strip()), "    x = 1", old]
    listed = {1: "def f():", 2: old, 3: neighbours[0], 4: neighbours[1], 5: neighbours[2]}
    path = tmp_path / "mod.py"
    path.write_text("\n".join(listed.values()) + "\n")
    command = sed_command(LineEdit(path="mod.py", number=2, old=old, new=new), listed)
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)
    assert path.read_text() == "\n".join({**listed, 2: new}.values()) + "\n"
    # a line whose text occurs once in the range is addressed by the range
    unique = {1: "def f():", 2: old, 3: "    return None"}
    assert sed_command(LineEdit(path="m.py", number=2, old=old, new=new), unique).startswith(
        "sed -i '1,3s/"
    )


def test_one_line_edits_reads_replacements_and_refuses_insertions():
    patch = (
        "diff --git a/p/m.py b/p/m.py\n--- a/p/m.py\n+++ b/p/m.py\n"
        "@@ -10,3 +10,3 @@ def f(x):\n     a = 1\n-    return a + x\n+    return a - x\n \n"
    )
    assert one_line_edits(patch) == [
        LineEdit(path="p/m.py", number=11, old="    return a + x", new="    return a - x")
    ]
    insertion = patch.replace("-    return a + x\n", "")
    assert one_line_edits(insertion) is None


def test_example_call_from_a_doctest_line_or_backticks():
    doc = "Bug\n\n    >>> import a.b\n    >>> a.b.total([1, 2], 3)\n    4\n"
    assert example_call(doc) == ("a.b", "total", "[1, 2], 3")
    assert example_call("`pkg.mod.f('x')` returns 1") == ("pkg.mod", "f", "'x'")
    assert example_call("no call here") is None


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from srft_ray.tasks.generate import generate_pack
    from srft_ray.tasks.source import load_task_source

    out = tmp_path_factory.mktemp("pack") / "gen"
    generate_pack(out, num_tasks=8, seed=11)
    return load_task_source(str(out))


def _episodes(source, profile: TeacherProfile, round_index: int = 0):
    from srft_ray.agent.config import AgentConfig
    from srft_ray.agent.episode import EpisodeConfig, EpisodeRunner
    from srft_ray.agent.policies import PolicyConfig
    from srft_ray.agent.scripted import ScriptedConfig

    config = EpisodeConfig(
        agent=AgentConfig(templates="compact", step_limit=14, grading_timeout_s=120),
        policy=PolicyConfig(kind="scripted", scripted=ScriptedConfig(profile=profile)),
    )
    runner = EpisodeRunner(config, task_source=source, round_index=round_index)
    try:
        return [(task, runner.run(task, 0)) for task in source.tasks()[:4]]
    finally:
        runner.close()


SED = re.compile(r"sed -i '(\d+)(?:,(\d+))?s/((?:\\.|[^/])*)/((?:\\.|[^/])*)/' (\S+)")


def _identifiers(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", text))


@pytest.mark.slow
def test_teacher_commands_use_only_what_it_has_seen(generated):
    """Every edit addresses a line it printed, replaces text of that line, and writes no name it
    has not seen; the example it runs is the issue's."""
    profile = TeacherProfile(resolve_probability=0.5, wrong_edit_probability=0.5)
    for task, traj in _episodes(generated, profile):
        seen = task.problem_statement
        listed: dict[tuple[str, int], str] = {}
        printed: dict[str, dict[tuple[str, int], str]] = {}
        for step in traj.steps:
            command = step.command or ""
            for first, last, old, new, path in SED.findall(command):
                numbers = range(int(first), int(last or first) + 1)
                lines = [listed.get((path, number)) for number in numbers]
                assert None not in lines, (
                    f"{task.instance_id}: edits lines {numbers} of {path} unseen"
                )
                text = re.sub(r"\\(.)", r"\1", old)
                # a range edit's OLD is on exactly one of its lines, so it changes that line only
                assert sum(text in line for line in lines) == 1
                assert _identifiers(re.sub(r"\\(.)", r"\1", new)) <= _identifiers(seen)
                for number, line in zip(numbers, lines):  # later edits see the edited text
                    if text in line:
                        listed[(path, number)] = line.replace(text, re.sub(r"\\(.)", r"\1", new), 1)
            if command.startswith("python"):
                assert example_call(task.problem_statement)[2] in command
            reverted = re.match(r"git checkout -- (\S+)", command)
            if reverted:  # the file reads as first printed again
                listed.update(printed.get(reverted.group(1), {}))
            output = observation_output({"content": step.observation or ""})
            seen += "\n" + output
            shown = re.match(r"nl -ba (\S+) \| sed -n '(\d+),(\d+)p'", command)
            if shown:
                for row in output.splitlines():
                    found = re.match(r"^\s*(\d+)\t(.*)$", row)
                    if found:
                        key = (shown.group(1), int(found.group(1)))
                        listed[key] = found.group(2)
                        printed.setdefault(shown.group(1), {})[key] = found.group(2)


@pytest.mark.slow
def test_teacher_labels_agree_with_grading_and_rounds_differ(generated):
    always = TeacherProfile(
        resolve_probability=1.0,
        failing_command_probability=0.0,
        format_error_probability=0.0,
        wrong_edit_probability=0.0,
    )
    never = TeacherProfile(resolve_probability=0.0, break_after_fix_probability=0.0)
    for task, traj in _episodes(generated, always):
        assert traj.outcome.resolved, task.instance_id
        assert all(s.labels[0].label == "good" for s in traj.steps)
        assert [s.command for s in traj.steps][-1] == "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
    for task, traj in _episodes(generated, never):
        assert traj.outcome.resolved is False, task.instance_id
        assert traj.steps[-1].labels[0].label == "mistake"  # the unresolved submit
    mixed = TeacherProfile()
    first = [[s.command for s in t.steps] for _, t in _episodes(generated, mixed, 0)]
    second = [[s.command for s in t.steps] for _, t in _episodes(generated, mixed, 1)]
    assert first != second  # the round enters the seed


CALC = ["def add(a, b):", "    total = a * 1", "    return total + b + 1", ""]
CALC_TASK = Task(
    instance_id="demo__calc-1",
    repo="demo/calc",
    base_commit="abc",
    problem_statement="`calc.add(2, 3)` returns 6, but 5 was expected.",
    patch=(
        "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n"
        "@@ -1,3 +1,3 @@ def add(a, b):\n def add(a, b):\n     total = a * 1\n"
        "-    return total + b + 1\n+    return total + b\n"
    ),
)


def _scripted_episode(teacher) -> list[tuple[str, str | None, str]]:
    """(kind, command, raw reply) per move, answering each command as a checkout of calc.py would
    (a grep hit, a numbered listing, a file list; empty output otherwise) up to the submit."""
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "task"}]
    moves = []
    for _ in range(20):
        reply = teacher.generate(messages)
        found = re.findall(r"```bash\n(.*?)\n```", reply.text, re.DOTALL)
        command = found[0] if len(found) == 1 else None
        moves.append((reply.labels[0].label, command, reply.text))
        if command == "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT":
            return moves
        output = ""
        if command and command.startswith("grep -rn"):
            output = "./calc.py:1:def add(a, b):\n"
        elif command and command.startswith("nl -ba"):
            output = "".join(f"{n:6d}\t{line}\n" for n, line in enumerate(CALC, 1))
        elif command and command.startswith("git ls-files"):
            output = "calc.py\nutil.py\n"
        messages += [
            {"role": "assistant", "content": reply.text},
            {"role": "user", "content": f"<returncode>0</returncode>\n<output>\n{output}</output>"},
        ]
    raise AssertionError("the teacher never submitted")


def test_ground_truth_kinds_mistake_recover_good():
    """Wrong moves are mistakes, the revert of the teacher's own wrong edit is a recover, the
    rest good (imitable and oracle teachers alike)."""
    from srft_ray.agent.scripted import ScriptedTeacher
    from srft_ray.agent.teacher import ImitableTeacher

    always_errs = TeacherProfile(
        resolve_probability=1.0,
        failing_command_probability=1.0,
        format_error_probability=1.0,
        wrong_edit_probability=1.0,
    )
    moves = _scripted_episode(ImitableTeacher(CALC_TASK, profile=always_errs))
    # failing cat, grep, nl, no command, example, wrong sed, example, revert, fix, example, submit
    kinds = ["mistake", "good", "good", "mistake", "good", "mistake", "good", "recover"]
    assert [kind for kind, _, _ in moves] == kinds + ["good"] * 3
    assert moves[5][1].startswith("sed -i '") and moves[7][1] == "git checkout -- calc.py"

    from srft_ray.agent.scripted import ScriptedConfig

    config = ScriptedConfig(
        mode="oracle",
        resolve_probability=1.0,
        failing_command_probability=0.0,
        format_error_probability=0.0,
        wrong_file_probability=1.0,
        broken_edit_probability=1.0,
    )
    moves = _scripted_episode(ScriptedTeacher(CALC_TASK, config=config))
    recovers = [command for kind, command, _ in moves if kind == "recover"]
    assert recovers == [
        "git checkout -- calc.py && git status --short",  # the broken edit
        "git checkout -- util.py && git status --short",  # the edit of the wrong file
    ]
    assert [kind for kind, _, _ in moves].count("mistake") == 2
    assert {kind for kind, _, _ in moves} == {"good", "mistake", "recover"}
    config.resolve_probability = 0.0  # no recovery: the wrong edits stay and the submit is wrong
    moves = _scripted_episode(ScriptedTeacher(CALC_TASK, config=config))
    assert "recover" not in [kind for kind, _, _ in moves] and moves[-1][0] == "mistake"
