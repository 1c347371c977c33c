"""Rule labels and the four combination modes."""

import pytest

from srft_ray.critic.rules import combine, edited_files, rule_labels
from srft_ray.data.model import Step, StepLabel, Trajectory

from .trajectories import make_trajectory


def _fired(traj):
    return {
        i: sorted(lab.model for lab in labs) for i, labs in enumerate(rule_labels(traj)) if labs
    }


def test_rules_on_the_hand_trajectory():
    fired = _fired(make_trajectory("t"))
    assert fired == {
        2: ["failed_command"],  # pytest on a missing file: rc 4
        3: ["reverted_edit", "syntax_error"],  # heredoc of broken Python, later `git checkout`
        4: ["failed_command"],  # the import check exits 1 (a rule's false positive)
    }


def _traj(*commands):
    steps = [
        Step(index=i, assistant=c, command=c, observation=obs, returncode=rc, end_reason=end)
        for i, (c, obs, rc, end) in enumerate(commands)
    ]
    return Trajectory(
        trajectory_id="r", instance_id="i", system_prompt="", task_prompt="t", steps=steps
    )


def test_rule_details():
    traj = _traj(
        ("grep -rn foo .", "", 1, "exit"),  # no match is an answer, not a failure
        ("sleep 100", "", None, "timeout"),
        ("sed -i 's/a/b/' pkg/mod.py", "", 0, "exit"),
        (
            "python -m pytest",
            'File "/repo/pkg/mod.py", line 3\n    x = (\n        ^\nSyntaxError: x\n',
            1,
            "exit",
        ),
        ("echo hi > notes.txt", "", 0, "exit"),
        ("git stash", "", 0, "exit"),
    )
    assert _fired(traj) == {
        1: ["failed_command"],
        2: ["reverted_edit", "syntax_error"],  # pytest exiting 1 is an answer, the edit is not
        4: ["reverted_edit"],
    }
    assert edited_files("sed -i.bak -e 's/x/y/' a.py b.py && cat a.py") == {"a.py", "b.py"}
    assert edited_files("python x.py 2>&1 | tee out.log") == {"out.log"}
    assert edited_files("ls -la") == set()


MODES = ("critic", "rules", "critic_and_rules", "critic_or_rules")


@pytest.mark.parametrize(
    ("critic", "rule", "expected"),
    [
        # critic kind, rule fired, labels under MODES
        ("good", False, ("good", "good", "good", "good")),
        ("good", True, ("good", "mistake", "good", "mistake")),
        ("mistake", False, ("mistake", "good", "good", "mistake")),
        ("mistake", True, ("mistake", "mistake", "mistake", "mistake")),
        ("bad", True, ("mistake", "mistake", "mistake", "mistake")),  # a legacy critic verdict
        ("bad", False, ("mistake", "good", "good", "mistake")),
        ("unknown", False, ("unknown", "good", "good", "unknown")),
        ("unknown", True, ("unknown", "mistake", "unknown", "mistake")),
        # The critic's other kinds stand; only critic_or_rules lets a fired rule overrule them.
        ("unnecessary", False, ("unnecessary", "good", "unnecessary", "unnecessary")),
        ("unnecessary", True, ("unnecessary", "mistake", "unnecessary", "mistake")),
        ("recover", False, ("recover", "good", "recover", "recover")),
        ("recover", True, ("recover", "mistake", "recover", "mistake")),
    ],
)
def test_combination_truth_table(critic, rule, expected):
    critic_label = StepLabel(label=critic, source="critic")
    rules = [StepLabel(label="mistake", source="rule", model="failed_command")] if rule else []
    assert tuple(combine(mode, critic_label, rules) for mode in MODES) == expected
    assert combine("rules", None, rules) == expected[1]


def _one(command, rc=0, end="exit", observation=""):
    return _traj((command, observation, rc, end))


@pytest.mark.parametrize(
    "command",
    [
        "pytest -q tests/test_calc.py",
        "python -m pytest tests/test_calc.py -x",
        "cd /testbed && python3 -m pytest -k add",
        "timeout 60 env PYTHONPATH=. pytest tests",
        "python -m unittest tests.test_calc",
        "tox -e py311",
        "python tests/runtests.py model_fields",
        "bin/test sympy/core",
        "grep -rn needle .",
        "git diff --exit-code | cat && diff a.txt b.txt",
    ],
)
def test_exit_code_1_of_test_runners_and_searches_is_an_answer(command):
    assert _fired(_one(command, rc=1)) == {}
    assert _fired(_one(command, rc=2)) == {0: ["failed_command"]}  # other codes still count


@pytest.mark.parametrize(
    "command",
    ["python -c 'import calc'", "python reproduce.py", "make test-build", "cd missing"],
)
def test_exit_code_1_of_other_commands_is_a_failure(command):
    assert _fired(_one(command, rc=1)) == {0: ["failed_command"]}


def test_a_reproduction_script_that_prints_and_exits_0_is_good():
    script = "python -c \"from calc import add; r = add(2, 3); print('ok' if r > 4 else 'bad')\""
    traj = _traj(
        (script, "ok\n", 0, "exit"),
        ("python - <<'EOF'\nfrom calc import add\nprint(add(2, 3) > 4)\nEOF", "True\n", 0, "exit"),
        ("git stash", "", 0, "exit"),  # would flag the scripts had they counted as edits
    )
    assert edited_files(script) == set()
    assert _fired(traj) == {}


def test_a_format_error_step_is_bad():
    traj = _traj(
        ("ls", "calc.py\n", 0, "exit"),
        (
            None,
            "Please always provide EXACTLY ONE action in triple backticks.",
            None,
            "format_error",
        ),
        ("cat calc.py", "...", 0, "exit"),
    )
    assert _fired(traj) == {1: ["format_error"]}


def _reverted(undo: str, *, edit: str = "sed -i 's/a/b/' calc.py") -> bool:
    traj = _traj((edit, "", 0, "exit"), (undo, "", 0, "exit"))
    return "reverted_edit" in _fired(traj).get(0, [])


@pytest.mark.parametrize(
    "undo",
    [
        "git checkout -- calc.py",
        "git checkout calc.py",  # no `--`, but calc.py was edited
        "git checkout HEAD -- ./calc.py",
        "git checkout .",
        "git restore calc.py",
        "git restore --source=HEAD --staged --worktree calc.py",
        "git stash",
        "git stash push -m 'try later'",
        "git stash push -- calc.py",
        "git reset --hard HEAD",
    ],
)
def test_revert_commands_undo_an_edit(undo):
    assert _reverted(undo)


@pytest.mark.parametrize(
    "undo",
    [
        "git stash list",
        "git stash show -p",
        "git checkout main",  # a branch: nothing edited has that name
        "git checkout -b fix-add",
        "git checkout",
        "git restore --staged calc.py",
        "git restore other.py",
        "git stash push -- other.py",
        "git reset calc.py",  # unstages, the work tree keeps the edit
    ],
)
def test_commands_that_undo_nothing_are_not_reverts(undo):
    assert not _reverted(undo)


def test_a_failed_edit_that_is_reverted_stays_flagged():
    # The edit, the reproduction still failing, then the edit thrown away: the edit was a mistake.
    traj = _traj(
        ("sed -i 's/a - b/a * b/' calc.py", "", 0, "exit"),
        ("python -m pytest -q tests/test_calc.py", "1 failed in 0.02s\n", 1, "exit"),
        ("git checkout -- calc.py", "", 0, "exit"),
    )
    assert _fired(traj) == {0: ["reverted_edit"]}
