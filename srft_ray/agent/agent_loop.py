"""The episode loop of the bash-only, linear-history agent (mini-swe-agent compatible).

Why our own loop rather than mini-swe-agent's `DefaultAgent`: DefaultAgent keeps history as
free-form dicts and signals format errors, submission and limits by exceptions raised *inside*
`model.query` / `env.execute`; a format error therefore never becomes an assistant message with
its sampled token ids, and the submission is whatever the agent echoed, not the sandbox's diff.
We need every reply (format errors included) as a Step with its exact token ids and logprobs,
per-step timings and end reasons, a token limit, and the diff taken from the sandbox. So the
loop (~100 lines) is ours, and everything that defines mini-swe-agent's behaviour is reused as
is: its YAML templates, its action regex convention, its `parse_regex_actions` (same format-error
message), its observation formatting and its `COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT` submit rule.
The message history is the same linear chat, so trajectories export to "mini-swe-agent-1.1".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from srft_ray.agent.actions import (
    format_observation,
    load_templates,
    parse_action,
    platform_vars,
    render,
)
from srft_ray.agent.config import AgentConfig
from srft_ray.agent.tree_snapshot import TreeRecorder
from srft_ray.data.model import Outcome, Provenance, Step, Task, Trajectory
from srft_ray.protocols import PolicyClient, Sandbox

AGENT_NAME = "srft-bash-agent/1"
# Byproducts of running Python / pytest are not changes the agent made.
DIFF_EXCLUDES = "':(exclude,glob)**/__pycache__/**' ':(exclude,glob)**/*.pyc' ':(exclude,glob)**/.pytest_cache/**'"

Grader = Callable[[Task, str], Outcome]


class ContextLimitExceeded(RuntimeError):
    """A policy raises this when the chat no longer fits its context window."""


def trajectory_id(round_index: int, instance_id: str, sample_index: int) -> str:
    """Deterministic id: a retried episode gets the same id, so the store keeps it once."""
    return f"{round_index}/{instance_id}/{sample_index}"


def run_episode(
    task: Task,
    *,
    sandbox: Sandbox,
    policy: PolicyClient,
    config: AgentConfig,
    trajectory_id: str,
    provenance: Provenance,
    grader: Grader | None = None,
) -> Trajectory:
    """Run one agent episode in `sandbox` and return its trajectory (graded if `grader`)."""
    templates = load_templates(config.templates)
    variables: dict[str, Any] = {
        **platform_vars(),
        "task": task.problem_statement,
        "step_limit": config.step_limit,
    }
    traj = Trajectory(
        trajectory_id=trajectory_id,
        instance_id=task.instance_id,
        system_prompt=render(templates.system, **variables),
        task_prompt=render(templates.instance, **variables),
        provenance=provenance,
        # What the policy saw of each command: training re-formats imported data with this.
        observation_template=templates.observation,
        extra={"templates": templates.source},
    )
    messages = [
        {"role": "system", "content": traj.system_prompt},
        {"role": "user", "content": traj.task_prompt},
    ]
    recorder = TreeRecorder(sandbox, task.base_commit) if config.record_trees else None
    started = time.monotonic()
    exit_status, consecutive_format_errors = "", 0
    while not exit_status:
        if 0 < config.step_limit <= len(traj.steps):
            exit_status = "step_limit"
            break
        if 0 < config.wall_time_limit_s <= time.monotonic() - started:
            exit_status = "time_limit"
            break
        asked = time.monotonic()
        try:
            reply = policy.generate(messages)
        except ContextLimitExceeded:
            exit_status = "token_limit"
            break
        step = Step(
            index=len(traj.steps),
            assistant=reply.text,
            token_ids=reply.token_ids,
            logprobs=reply.logprobs,
            model_seconds=reply.seconds or time.monotonic() - asked,
            labels=list(getattr(reply, "labels", None) or []),
        )
        traj.steps.append(step)
        messages.append({"role": "assistant", "content": reply.text})
        action = parse_action(
            reply.text,
            action_regex=config.action_regex,
            format_error_template=templates.format_error,
            finish_reason=reply.finish_reason,
        )
        if action.command is None:
            consecutive_format_errors += 1
            step.end_reason = "format_error"
            step.observation = action.error_observation
            if 0 < config.max_consecutive_format_errors <= consecutive_format_errors:
                exit_status = "format_error_limit"
        else:
            consecutive_format_errors = 0
            step.command = action.command
            if recorder is None:
                result = sandbox.run(action.command, timeout_s=config.command_timeout_s)
            else:
                result = _run_recording_tree(sandbox, recorder, action.command, config, step)
            step.exec_seconds = result.duration_s
            step.returncode = result.returncode
            step.output = result.output
            step.end_reason = result.end_reason
            first_line = (result.output.lstrip().splitlines() or [""])[0].strip()
            if first_line == config.submit_marker and result.returncode == 0:
                step.end_reason = "submitted"
                exit_status = "submitted"
            else:
                step.observation = format_observation(
                    templates.observation,
                    output=result.output,
                    returncode=result.returncode,
                    exception_info=_why_stopped(result.end_reason, config.command_timeout_s),
                )
        if step.observation is not None:
            messages.append({"role": traj.observation_role, "content": step.observation})
        used = reply.num_prompt_tokens + len(reply.token_ids or [])
        if not exit_status and 0 < config.token_limit <= used:
            exit_status = "token_limit"
    traj.outcome = Outcome(exit_status=exit_status)
    traj.outcome.patch = final_patch(sandbox, task.base_commit)
    traj.extra["wall_seconds"] = round(time.monotonic() - started, 3)
    if grader is not None and config.grade:
        graded = grader(task, traj.outcome.patch)
        traj.outcome.resolved = graded.resolved
        traj.outcome.test_results = graded.test_results
        traj.outcome.grading_log = graded.grading_log
    return traj


def _run_recording_tree(
    sandbox: Sandbox, recorder: TreeRecorder, command: str, config: AgentConfig, step: Step
):
    """Run the step's command with the tree snapshot riding along; fill step.tree(_diff)."""
    result = sandbox.run(recorder.wrap(command), timeout_s=config.command_timeout_s)
    result, state = recorder.unwrap(result)
    if state is None:
        state = recorder.snapshot()
    step.tree, step.tree_diff = state.tree, state.diff
    return result


def _why_stopped(end_reason: str, timeout_s: float) -> str:
    """What mini-swe-agent's <exception> block says when a command did not simply exit."""
    if end_reason == "exit":
        return ""
    if end_reason == "timeout":
        return f"The command timed out after {timeout_s:g} seconds and was killed."
    return f"The command was stopped by the sandbox ({end_reason.replace('_', ' ')})."


def final_patch(sandbox: Sandbox, base_commit: str) -> str:
    """Everything the agent changed, committed or not, new files included, against base_commit.

    The diff goes to a file and is read back whole, so a large patch is never cut by the
    command-output cap.
    """
    git = "git -c safe.directory='*' -c core.quotepath=off"
    out = "/tmp/srft-final.patch"
    command = (
        f"{git} add -A >/dev/null 2>&1; "
        f"{git} diff --cached --no-color --no-ext-diff {base_commit} -- . {DIFF_EXCLUDES} "
        f"> {out} 2>/tmp/srft-final-diff.err || {{ cat /tmp/srft-final-diff.err; exit 1; }}"
    )
    result = sandbox.run(command, timeout_s=60)
    if result.returncode != 0:
        raise RuntimeError(
            f"final git diff failed (returncode {result.returncode}): {result.output[-500:]}"
        )
    return sandbox.read_file(out)
