"""The episode loop in the real bwrap sandbox on the embedded pack, graded by the real grader."""

from __future__ import annotations

import itertools

import pytest

from srft_ray.agent.agent_loop import run_episode, trajectory_id
from srft_ray.agent.config import AgentConfig
from srft_ray.agent.scripted import ScriptedTeacher
from srft_ray.data.model import Provenance
from srft_ray.protocols import PolicyReply
from srft_ray.sandbox import SandboxConfig, open_sandbox


class CannedPolicy:
    """Replies with fixed texts in order (a stand-in for a model; everything else is real)."""

    model_name = "canned"
    version = "0"

    def __init__(self, replies, *, num_prompt_tokens=0):
        self.replies = list(replies)
        self.num_prompt_tokens = num_prompt_tokens
        self.seen: list[list[dict]] = []

    def generate(self, messages):
        self.seen.append([dict(m) for m in messages])
        text = self.replies[min(len(self.seen) - 1, len(self.replies) - 1)]
        return PolicyReply(
            text=text,
            token_ids=list(range(len(text.split()))),
            logprobs=[-0.5] * len(text.split()),
            num_prompt_tokens=self.num_prompt_tokens,
        )


def _bash(command: str) -> str:
    return f"THOUGHT: doing it.\n\n```bash\n{command}\n```"


@pytest.fixture
def calc_task(embedded_source):
    return next(t for t in embedded_source.tasks() if t.instance_id.endswith("calc-1"))


def _run(runner, task, policy, **agent):
    config = AgentConfig(**agent)
    with open_sandbox(SandboxConfig(), source_dir=runner.checkout(task)) as box:
        return run_episode(
            task,
            sandbox=box,
            policy=policy,
            config=config,
            trajectory_id=trajectory_id(0, task.instance_id, 0),
            provenance=Provenance(policy_model="canned"),
        )


@pytest.mark.slow
def test_scripted_episodes_resolve_as_the_teacher_planned(scripted_runner, embedded_source):
    # Pick two episodes the teacher means to solve and two it means to fail, then check that
    # real grading of the real sandbox diff agrees with the teacher's plan, step by step labelled.
    wanted = {True: [], False: []}
    for task, seed in itertools.product(embedded_source.tasks(), range(4)):
        plan = ScriptedTeacher(task, seed=seed).will_resolve
        if len(wanted[plan]) < 2:
            wanted[plan].append((task, seed))
    trajs = [scripted_runner.run(t, s) for t, s in wanted[True] + wanted[False]]
    assert [t.outcome.resolved for t in trajs] == [True, True, False, False]
    for traj, (task, seed) in zip(trajs, wanted[True] + wanted[False]):
        assert traj.trajectory_id == f"0/{task.instance_id}/{seed}"
        assert traj.outcome.exit_status == "submitted"
        assert traj.outcome.test_results and traj.outcome.grading_log
        assert traj.provenance.policy_model == "scripted-teacher"
        assert traj.provenance.agent and traj.provenance.config_hash == "test"
        last = traj.steps[-1]
        assert last.end_reason == "submitted" and last.observation is None
        for step in traj.steps:
            (label,) = step.labels
            assert label.source == "scripted" and label.label in ("good", "mistake", "recover")
            if label.label == "recover":  # the teacher undoing its own wrong edit
                assert step.command.startswith("git checkout -- ")
            assert step.observation is not None or step is last
            if step.command is None:
                assert step.end_reason == "format_error" and "Format error" in step.observation
                assert label.label == "mistake"
            else:
                assert "<returncode>" in (step.observation or "<returncode>")
        if traj.outcome.resolved:
            added = [ln for ln in task.patch.splitlines() if ln.startswith("+") and ln[1:3] != "++"]
            assert all(line in traj.outcome.patch for line in added)
    labels = [s.labels[0].label for t in trajs for s in t.steps]
    assert "good" in labels and "mistake" in labels


def test_format_errors_get_the_observation_and_count(scripted_runner, calc_task):
    policy = CannedPolicy(
        [
            "THOUGHT: I forgot the command.",
            "```bash\nls\n```\nand\n```bash\npwd\n```",
            _bash("echo hello > notes.txt && git status --short"),
            "no command",
        ]
    )
    traj = _run(scripted_runner, calc_task, policy, max_consecutive_format_errors=3)
    ends = [s.end_reason for s in traj.steps]
    assert ends == ["format_error", "format_error", "exit"] + ["format_error"] * 3
    assert traj.outcome.exit_status == "format_error_limit"
    assert "found 0 actions" in traj.steps[0].observation
    assert "found 2 actions" in traj.steps[1].observation
    assert "?? notes.txt" in traj.steps[2].observation and traj.steps[2].returncode == 0
    # The raw output and the observation template are recorded: training can re-check them.
    assert traj.steps[2].output.strip() == "?? notes.txt" and traj.steps[0].output is None
    assert "<returncode>" in traj.observation_template
    # New files the agent created are part of the submission.
    assert "+++ b/notes.txt" in traj.outcome.patch and "+hello" in traj.outcome.patch
    # Every step keeps the sampled ids and logprobs the policy returned.
    assert all(s.token_ids is not None and len(s.logprobs) == len(s.token_ids) for s in traj.steps)
    # Linear history: what the policy saw last is the trajectory's chat so far.
    seen_last = policy.seen[-1]
    rebuilt = [{k: v for k, v in m.items() if k != "step"} for m in traj.messages()]
    assert rebuilt[: len(seen_last)] == seen_last


def test_step_and_token_limits(scripted_runner, calc_task):
    looping = CannedPolicy([_bash("true")])
    traj = _run(scripted_runner, calc_task, looping, step_limit=2)
    assert traj.outcome.exit_status == "step_limit" and traj.num_steps == 2
    assert traj.outcome.patch == ""
    big = CannedPolicy([_bash("true")], num_prompt_tokens=5000)
    traj = _run(scripted_runner, calc_task, big, token_limit=4096)
    assert traj.outcome.exit_status == "token_limit" and traj.num_steps == 1
    slow = CannedPolicy([_bash("sleep 1")])
    traj = _run(scripted_runner, calc_task, slow, wall_time_limit_s=0.5)
    assert traj.outcome.exit_status == "time_limit" and traj.num_steps == 1
    hung = CannedPolicy([_bash("sleep 30")])
    traj = _run(scripted_runner, calc_task, hung, step_limit=1, command_timeout_s=1)
    assert traj.steps[0].end_reason == "timeout" and traj.steps[0].returncode is None
    assert "<returncode>-1</returncode>" in traj.steps[0].observation
    assert "<exception>The command timed out after 1 seconds" in traj.steps[0].observation


def test_submission_is_the_diff_against_base_commit(scripted_runner, calc_task):
    policy = CannedPolicy(
        [
            _bash(
                "sed -i 's/middle = len(ordered) \\/\\/ 2/middle = len(ordered) \\/\\/ 2  # mid/'"
                " calc/stats.py && git -c user.name=a -c user.email=a@b.c commit -qam wip"
            ),
            _bash("mkdir -p calc/__pycache__ && echo junk > calc/__pycache__/stats.cpython.pyc"),
            _bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"),
        ]
    )
    traj = _run(scripted_runner, calc_task, policy)
    assert traj.outcome.exit_status == "submitted" and traj.num_steps == 3
    # A committed change still counts (the diff is against base_commit); caches do not.
    assert "+    middle = len(ordered) // 2  # mid" in traj.outcome.patch
    assert "__pycache__" not in traj.outcome.patch
    # A submit marker that fails (nonzero exit) does not submit, as in mini-swe-agent.
    failing = CannedPolicy([_bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT; false")])
    traj = _run(scripted_runner, calc_task, failing, step_limit=1)
    assert traj.outcome.exit_status == "step_limit" and traj.steps[0].returncode == 1


def test_orphaned_episode_workspaces_are_removed_live_ones_kept(tmp_path):
    """A workspace names its owner pid; a dead owner's goes (a killed worker's checkouts), a
    live owner's and foreign folders stay."""
    import os
    import subprocess

    from srft_ray.agent.episode import WORKSPACE_PREFIX, remove_orphaned_workspaces

    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f"{WORKSPACE_PREFIX}{dead.pid}-abc"
    (orphan / "checkout-0").mkdir(parents=True)
    (orphan / "checkout-0" / "f.py").write_text("x = 1\n")
    live = tmp_path / f"{WORKSPACE_PREFIX}{os.getpid()}-def"
    live.mkdir()
    foreign = tmp_path / f"{WORKSPACE_PREFIX}nopid"
    foreign.mkdir()
    assert remove_orphaned_workspaces(str(tmp_path)) == 1
    assert not orphan.exists() and live.exists() and foreign.exists()
