"""Replay labels on real episodes: the imitable teacher in the bwrap sandbox, graded by swebench.

The teacher's error profile is turned up so every scripted mistake and recovery appears; the
replay source must put each where the teacher's ground truth has it, without reading it.
"""

from __future__ import annotations

import copy

import pytest

from srft_ray.agent.config import AgentConfig
from srft_ray.agent.episode import EpisodeConfig, EpisodeRunner
from srft_ray.agent.policies import PolicyConfig
from srft_ray.agent.scripted import ScriptedConfig
from srft_ray.agent.teacher import TeacherProfile
from srft_ray.critic.diff_lines import distance, parse_diff, touches
from srft_ray.critic.replay import ReplayLabeller, own_error
from srft_ray.critic.replay_states import ReplayConfig, recorded_states
from srft_ray.data.model import DataError, Step

SOURCE = "generated:40:0:1"
ERRORS = TeacherProfile(
    resolve_probability=0.5,
    failing_command_probability=1.0,
    format_error_probability=1.0,
    wrong_edit_probability=1.0,
    break_after_fix_probability=0.5,
)


@pytest.fixture(scope="module")
def source():
    from srft_ray.tasks.source import load_task_source

    return load_task_source(SOURCE)


@pytest.fixture(scope="module")
def episodes(source):
    policy = PolicyConfig(kind="scripted", scripted=ScriptedConfig(mode="imitable", profile=ERRORS))
    runner = EpisodeRunner(EpisodeConfig(policy=policy), task_source=source, config_hash="t")
    try:
        yield [runner.run(task, 0) for task in source.tasks()[:6]]
    finally:
        runner.close()


@pytest.fixture(scope="module")
def labeller(source):
    labeller = ReplayLabeller(ReplayConfig(tasks=SOURCE), task_source=source)
    yield labeller
    labeller.close()


def test_every_scripted_mistake_and_recovery_gets_its_kind(episodes, labeller):
    labelled = labeller.label_trajectories(episodes)
    seen: dict[str, int] = {}
    for traj in labelled:
        for step in traj.steps:
            truth, replay = step.label_from("scripted"), step.label_from("replay")
            assert replay is not None and replay.model == "replay/v1"
            if truth.rationale == "submits a patch that does not resolve the issue":
                if traj.outcome.resolved:  # the "break" missed every test: the fix stands
                    continue
            where = (
                f"{traj.trajectory_id} step {step.index} ({truth.rationale}): {replay.rationale}"
            )
            assert replay.label == truth.label, where
            seen[truth.rationale] = seen.get(truth.rationale, 0) + 1
    # The profile produced every kind of scripted error, so each was checked above.
    for why in ("reads a file that does not exist", "reply without a command"):
        assert seen.get(why), (why, seen)
    assert seen.get("edits a line that was not wrong") and seen.get("reverts the wrong edit")
    assert labeller.stats.kinds["recover"] >= 1 and labeller.stats.num_test_runs >= 6


def test_recorded_tree_equals_a_fresh_replay(episodes, labeller, source):
    traj = max(episodes, key=lambda t: len({s.tree for s in t.steps}))
    recorded = recorded_states(traj)
    assert recorded is not None and any(recorded)
    stripped = copy.deepcopy(traj)
    for step in stripped.steps:
        step.tree = step.tree_diff = None
    task = labeller.task_of(traj)
    replayed = labeller.replayer.replay(stripped, task)
    assert replayed.first_mismatch is None
    assert replayed.states == recorded
    # The trees agree id for id too, not only as diffs.
    trees = [s.tree for s in traj.steps]
    assert len({t for t in trees if t}) >= 2


def test_a_nondeterministic_command_makes_later_steps_unknown(episodes, labeller):
    traj = copy.deepcopy(episodes[1])
    for step in traj.steps:
        step.tree = step.tree_diff = None
    clock = Step(index=0, assistant="", command="date +%s%N", output="1\n", returncode=0)
    traj.steps.insert(1, clock)
    for index, step in enumerate(traj.steps):
        step.index = index
    labels = labeller.label([traj])[0]
    kinds = [found[0].label for found in labels]
    assert kinds[0] != "unknown"
    assert kinds[1:] == ["unknown"] * (len(traj.steps) - 1)
    assert labeller.stats.num_diverged_steps >= len(traj.steps) - 1


def test_a_trajectory_of_an_unknown_task_is_an_error_naming_it(episodes, labeller):
    traj = copy.deepcopy(episodes[0])
    traj.instance_id, traj.trajectory_id = "nope__nope-1", "0/nope__nope-1/0"
    with pytest.raises(DataError, match="0/nope__nope-1/0"):
        labeller.label([traj])


def test_reproducing_the_bug_is_an_answer_a_wrong_import_is_not():
    bug = 'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n  File "/testbed/pkg/mod.py", line 3, in f\nZeroDivisionError: division by zero\n'
    typo = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nImportError: cannot import name 'g'\n"
    step = Step(index=0, assistant="", command='python -c "from pkg.mod import f; f(0)"')
    step.returncode, step.output = 1, bug
    assert not own_error(step)
    step.output = typo
    assert own_error(step)
    step.command, step.output = "python -m pytest tests/test_mod.py", "1 failed"
    assert not own_error(step)
    step.command, step.output, step.returncode = "cat nope.py", "No such file", 1
    assert own_error(step)


def test_diff_distance_and_touch():
    reference = parse_diff(_diff("a.py", 12, "    return a * b", "    return a + b"))
    same = parse_diff(_diff("a.py", 12, "    return a * b", "    return a + b"))
    wrong_line = parse_diff(_diff("a.py", 30, "    x = 1", "    x = 2"))
    right_line_wrong_fix = parse_diff(_diff("a.py", 12, "    return a * b", "    return a - b"))
    assert distance(same, reference) == 0
    assert distance(parse_diff(""), reference) == 2
    assert distance(right_line_wrong_fix, reference) == 2
    assert distance(wrong_line, reference) == 4
    assert touches(right_line_wrong_fix, reference) and not touches(wrong_line, reference)


def _diff(path: str, line: int, old: str, new: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
        f"@@ -{line - 1},3 +{line - 1},3 @@\n ctx\n-{old}\n+{new}\n ctx\n"
    )


def test_tree_recording_can_be_turned_off(source):
    policy = PolicyConfig(kind="scripted", scripted=ScriptedConfig(mode="imitable"))
    config = EpisodeConfig(agent=AgentConfig(record_trees=False, grade=False), policy=policy)
    runner = EpisodeRunner(config, task_source=source, config_hash="t")
    try:
        traj = runner.run(source.tasks()[0], 0)
    finally:
        runner.close()
    assert all(step.tree is None for step in traj.steps)
    assert recorded_states(traj) is None


def test_edits_that_change_nothing_and_the_checks_around_them():
    from srft_ray.critic.replay import step_kinds
    from srft_ray.critic.replay_states import TestFacts
    from srft_ray.data.model import Trajectory

    example = 'python -c "from pkg.mod import f; print(f(2))"'
    fix = _diff("pkg/mod.py", 12, "    return a * b", "    return a + b")
    failing = TestFacts(ok=True, f2p_passed=0, f2p_total=1, p2p_passed=1, p2p_total=1)
    fixed = TestFacts(ok=True, f2p_passed=1, f2p_total=1, p2p_passed=1, p2p_total=1)

    def step(i, command, output="4\n", returncode=0):
        return Step(index=i, assistant="", command=command, output=output, returncode=returncode)

    steps = [
        step(0, example),
        step(1, "sed -i '3s/a \\* b/a + b/' pkg/mod.py", output=""),  # wrong line: no change
        step(2, example),  # a check after an attempted edit: good, not a repeat
        step(3, example),  # nothing attempted since: unnecessary
        step(
            4,
            "nl -ba pkg.mod.py | sed -n '1,9p'",
            output="nl: pkg.mod.py: No such file or directory\n",
        ),
        step(5, "sed -i '12s/a \\* b/a + b/' pkg/mod.py", output=""),  # the fix
        step(6, "sed -i '12s/a \\* b/a + b/' pkg/mod.py", output=""),  # again: fix in place
    ]
    traj = Trajectory(
        trajectory_id="t", instance_id="i", system_prompt="", task_prompt="", steps=steps
    )
    states = ["", "", "", "", "", fix, fix]
    kinds = [v.kind for v in step_kinds(traj, states, {"": failing, fix: fixed}, parse_diff(fix))]
    assert kinds == ["good", "mistake", "good", "unnecessary", "mistake", "good", "unnecessary"]
