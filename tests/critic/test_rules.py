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
        2: ["reverted_edit", "syntax_error"],
        3: ["failed_command"],
        4: ["reverted_edit"],
    }
    assert edited_files("sed -i.bak -e 's/x/y/' a.py b.py && cat a.py") == {"a.py", "b.py"}
    assert edited_files("python x.py 2>&1 | tee out.log") == {"out.log"}
    assert edited_files("ls -la") == set()


@pytest.mark.parametrize(
    ("critic", "rule", "expected"),
    [
        # critic, rule fired, {mode: label}
        (
            "good",
            False,
            {
                "critic": "good",
                "rules": "good",
                "critic_and_rules": "good",
                "critic_or_rules": "good",
            },
        ),
        (
            "good",
            True,
            {
                "critic": "good",
                "rules": "bad",
                "critic_and_rules": "good",
                "critic_or_rules": "bad",
            },
        ),
        (
            "bad",
            False,
            {
                "critic": "bad",
                "rules": "good",
                "critic_and_rules": "good",
                "critic_or_rules": "bad",
            },
        ),
        (
            "bad",
            True,
            {"critic": "bad", "rules": "bad", "critic_and_rules": "bad", "critic_or_rules": "bad"},
        ),
        (
            "unknown",
            False,
            {
                "critic": "unknown",
                "rules": "good",
                "critic_and_rules": "good",
                "critic_or_rules": "unknown",
            },
        ),
        (
            "unknown",
            True,
            {
                "critic": "unknown",
                "rules": "bad",
                "critic_and_rules": "unknown",
                "critic_or_rules": "bad",
            },
        ),
    ],
)
def test_combination_truth_table(critic, rule, expected):
    critic_label = StepLabel(label=critic, source="critic")
    rules = [StepLabel(label="bad", source="rule", model="failed_command")] if rule else []
    assert {mode: combine(mode, critic_label, rules) for mode in expected} == expected
