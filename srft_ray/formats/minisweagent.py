"""mini-swe-agent trajectories ("mini-swe-agent-1.1", as mini-swe-agent 2.x saves them).

A file is ``{info: {model_stats, config, mini_version, exit_status, submission}, messages,
trajectory_format}`` (`DefaultAgent.serialize`; batch runs add a top-level `instance_id`).
Messages are OpenAI chat messages plus an `extra` dict: assistant messages carry the parsed
`extra.actions` ([{command, tool_call_id?}]); observations are `user` messages (text-based
models) or `tool` messages (tool-call models) with `extra.returncode`; a reply that failed to
parse leaves no assistant message, only a `user` message with `extra.interrupt_type ==
"FormatError"` (and the raw reply in `extra.model_response` for text-based models); the run
ends with a `role: "exit"` message. Content may be a string, None, or a list of content parts.

Import maps: first system message -> system prompt, first user message -> task prompt, each
assistant message (or rebuilt failed reply) -> a Step whose observation is the next user/tool
message(s); info.exit_status -> Outcome.exit_status, info.submission -> Outcome.patch (a
"Submitted" exit status is not resolution: `resolved` stays None until a harness report says).
Tool-call models (2.x): each `tool_calls[*]` becomes a ToolCall (id, function name, JSON
arguments) and each `role: "tool"` message is matched to its call by `tool_call_id`, so
parallel calls keep their order and their own responses; `extra.raw_output` and
`info.config.model.observation_template` are kept so training can format observations as the
policy will see them.
Export (the same shape, plus a `srft_ray` block that `_restore_srft_block` reads back) lives in
srft_ray.formats.minisweagent_export.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from srft_ray.data.model import Outcome, Provenance, Step, StepLabel, Trajectory
from srft_ray.formats.fields import FieldReader, instance_id_from_filename, read_json
from srft_ray.formats.tool_calls import read_tool_calls, tool_schemas

FORMAT_NAME = "mini-swe-agent"
TRAJECTORY_FORMAT = "mini-swe-agent-1.1"
# mini-swe-agent's text-based models' default action regex (LitellmTextbasedModelConfig), then
# the v1.x default; either must match exactly once, as in minisweagent's parse_regex_actions.
DEFAULT_ACTION_REGEXES = (r"```mswea_bash_command\s*\n(.*?)\n```", r"```bash\s*\n(.*?)\n```")
FORMAT_ERROR = "FormatError"
OBSERVATION_ROLES = ("user", "tool")


def parse_action(text: str, action_regexes: tuple[str, ...] = DEFAULT_ACTION_REGEXES) -> str | None:
    """The bash command in an assistant reply, or None when it does not hold exactly one.

    Same rule as mini-swe-agent: every non-overlapping match (DOTALL), stripped; exactly one
    match is an action, zero or several is a format error. Regexes are tried in order and the
    first that matches at all decides.
    """
    for regex in action_regexes:
        actions = [a.strip() for a in re.findall(regex, text, re.DOTALL)]
        if actions:
            return actions[0] if len(actions) == 1 else None
    return None


def read_minisweagent(path: str | Path) -> Trajectory:
    """Import one mini-swe-agent trajectory file."""
    path = Path(path)
    data, content_hash = read_json(path)
    return minisweagent_to_trajectory(data, source=str(path), content_hash=content_hash)


def minisweagent_to_trajectory(data: Any, *, source: str, content_hash: str = "") -> Trajectory:
    rd = FieldReader(source)
    if isinstance(data, list):  # a bare message list, as mini-swe-agent's inspector accepts
        data = {"messages": data}
    if not isinstance(data, dict):
        raise rd.error("<top level>", f"is {type(data).__name__}, expected an object")
    info = rd.get(data, "info", "info", dict, required=False, default={})
    messages = rd.get(data, "messages", "messages", list)
    config = rd.get(info, "config", "info.config", dict, required=False, default={})
    model_cfg = rd.get(config, "model", "info.config.model", dict, required=False, default={})
    regex = rd.get(model_cfg, "action_regex", "info.config.model.action_regex", str, required=False)
    regexes = (regex,) if regex else DEFAULT_ACTION_REGEXES

    system_prompt, task_prompt, steps, obs_role, exit_extra = _read_messages(messages, rd, regexes)
    exit_status = rd.get(info, "exit_status", "info.exit_status", str, required=False)
    submission = rd.get(info, "submission", "info.submission", str, required=False)
    exit_status = exit_status if exit_status is not None else str(exit_extra.get("exit_status", ""))
    submission = submission if submission is not None else str(exit_extra.get("submission", ""))
    if steps and steps[-1].observation is None and exit_status.lower() == "submitted":
        steps[-1].end_reason = "submitted"

    instance_id = rd.get(data, "instance_id", "instance_id", str, required=False)
    instance_id = instance_id or instance_id_from_filename(Path(source))
    srft = rd.get(data, "srft_ray", "srft_ray", dict, required=False, default={})
    extra: dict[str, Any] = {"source_format": data.get("trajectory_format", "")}
    for key in ("model_stats", "mini_version"):
        if key in info:
            extra[key] = info[key]
    template = rd.get(
        model_cfg,
        "observation_template",
        "info.config.model.observation_template",
        str,
        required=False,
        default="",
    )
    provenance = Provenance(
        policy_model=str(model_cfg.get("model_name", "")),
        sampling_params=model_cfg.get("model_kwargs") or {},
        agent=str(data.get("trajectory_format") or TRAJECTORY_FORMAT),
    )
    traj = Trajectory(
        trajectory_id=f"{instance_id}/mini-swe-agent-{content_hash or 'nohash'}",
        instance_id=instance_id,
        system_prompt=system_prompt,
        task_prompt=task_prompt,
        steps=steps,
        outcome=Outcome(exit_status=exit_status, patch=submission),
        provenance=provenance,
        observation_role=obs_role,
        tools=tool_schemas(steps),
        observation_template=template,
        extra=extra,
    )
    if srft:  # written by our exporter: restore what mini-swe-agent's format has no place for
        _restore_srft_block(traj, srft, rd)
    traj.provenance.source_file = source
    return traj


def _read_messages(
    messages: list[Any], rd: FieldReader, regexes: tuple[str, ...]
) -> tuple[str, str, list[Step], dict[str, Any], str, dict[str, Any]]:
    system_prompt, task_parts = "", []
    steps: list[Step] = []
    observations: dict[int, list[str]] = {}  # step index -> observation texts
    obs_role, exit_extra = "", {}
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise rd.error(where, f"is {type(msg).__name__}, expected an object")
        role, text = _role_and_text(msg, rd, where)
        extra = rd.get(msg, "extra", f"{where}.extra", dict, required=False, default={})
        if role == "system" and not steps and not task_parts:
            system_prompt = text
        elif role == "exit":
            exit_extra = extra
        elif role == "assistant":
            step = Step(index=len(steps), assistant=text)
            step.tool_calls = read_tool_calls(msg.get("tool_calls"), rd, f"{where}.tool_calls")
            step.command = _command(msg, extra, text, rd, where, regexes)
            steps.append(step)
        elif role in OBSERVATION_ROLES:
            failed_reply = extra.get("interrupt_type") == FORMAT_ERROR
            if not steps and not failed_reply:
                task_parts.append(text)  # task prompt (rarely split over several messages)
                continue
            if failed_reply and (not steps or steps[-1].index in observations):
                # mini-swe-agent 2.x keeps no assistant message for an unparsable reply: rebuild
                # the step from the raw reply it saved so the context stays linear.
                steps.append(Step(index=len(steps), assistant=_failed_reply_text(extra)))
            step = steps[-1]
            observations.setdefault(step.index, []).append(text)
            obs_role = obs_role or role
            if failed_reply:
                step.end_reason = "format_error"
            elif role == "tool" or step.tool_calls:
                _answer_call(step, msg, text, extra, rd, where)
            elif isinstance(extra.get("raw_output"), str):
                step.output = extra["raw_output"]
            if step.returncode is None and isinstance(extra.get("returncode"), int):
                step.returncode = extra["returncode"]
                step.end_reason = step.end_reason or _end_reason(extra)
        else:
            raise rd.error(
                f"{where}.role", f"is {role!r}, expected system/user/assistant/tool/exit"
            )
    if not task_parts:
        raise rd.error("messages", "has no user message (the task prompt)")
    for step in steps:
        if step.index in observations:
            step.observation = "\n\n".join(observations[step.index])
    return system_prompt, "\n\n".join(task_parts), steps, obs_role or "user", exit_extra


def _answer_call(
    step: Step, msg: dict[str, Any], text: str, extra: dict[str, Any], rd: FieldReader, where: str
) -> None:
    """Attach a tool message to the call it answers: by `tool_call_id`, else the first open one."""
    call_id = msg.get("tool_call_id", msg.get("call_id"))
    if call_id is not None:
        matches = [call for call in step.tool_calls if call.id == call_id]
        if not matches:
            known = [call.id for call in step.tool_calls]
            raise rd.error(
                f"{where}.tool_call_id", f"is {call_id!r}, not a call of step {step.index} {known}"
            )
        call = matches[0]
    else:
        open_calls = [call for call in step.tool_calls if call.output is None]
        if not open_calls:
            return
        call = open_calls[0]
    call.output = text
    if isinstance(extra.get("raw_output"), str):
        call.raw_output = extra["raw_output"]
    if isinstance(extra.get("returncode"), int):
        call.returncode = extra["returncode"]


def _role_and_text(msg: dict[str, Any], rd: FieldReader, where: str) -> tuple[str, str]:
    if msg.get("object") == "response":  # Responses API reply: text lives in output items
        output = rd.get(msg, "output", f"{where}.output", list)
        texts = [
            rd.text(item.get("content"), f"{where}.output[{j}].content")
            for j, item in enumerate(output)
            if isinstance(item, dict) and item.get("type") == "message"
        ]
        return "assistant", "".join(texts)
    if msg.get("type") == "function_call_output":  # Responses API tool result
        return "tool", rd.text(msg.get("output"), f"{where}.output")
    role = rd.get(msg, "role", f"{where}.role", str)
    return role, rd.text(msg.get("content"), f"{where}.content")


def _command(
    msg: dict[str, Any],
    extra: dict[str, Any],
    text: str,
    rd: FieldReader,
    where: str,
    regexes: tuple[str, ...],
) -> str | None:
    """The step's action: mini-swe-agent's own parse (extra.actions) when it saved one."""
    if "actions" in extra:
        actions = rd.get(extra, "actions", f"{where}.extra.actions", list)
        commands = []
        for j, action in enumerate(actions):
            path = f"{where}.extra.actions[{j}]"
            if not isinstance(action, dict):
                raise rd.error(path, f"is {type(action).__name__}, expected an object")
            commands.append(rd.get(action, "command", f"{path}.command", str))
        return "\n".join(commands) if commands else None
    calls = read_tool_calls(msg.get("tool_calls"), rd, f"{where}.tool_calls")
    if calls:
        for j, call in enumerate(calls):
            if call.command is None:
                path = f"{where}.tool_calls[{j}].function.arguments"
                raise rd.error(path, "has no bash command")
        return "\n".join(call.command or "" for call in calls)
    return parse_action(text, regexes)


def _failed_reply_text(extra: dict[str, Any]) -> str:
    """The unparsable reply's text: `model_response` (text models) or the saved raw response."""
    if isinstance(extra.get("model_response"), str):
        return extra["model_response"]
    try:
        content = extra["response"]["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def _end_reason(extra: dict[str, Any]) -> str:
    kind = str(extra.get("exception_type") or "")
    if "Timeout" in kind:
        return "timeout"
    return "exit"


def _restore_srft_block(traj: Trajectory, srft: dict[str, Any], rd: FieldReader) -> None:
    traj.trajectory_id = rd.get(srft, "trajectory_id", "srft_ray.trajectory_id", str)
    prov = rd.get(srft, "provenance", "srft_ray.provenance", dict, required=False, default={})
    try:
        traj.provenance = Provenance(**{k: v for k, v in prov.items() if k != "source_file"})
    except TypeError as exc:  # an unknown key: written by another version, or edited by hand
        raise rd.error("srft_ray.provenance", f"does not fit Provenance ({exc})") from None
    outcome = rd.get(srft, "outcome", "srft_ray.outcome", dict, required=False, default={})
    traj.outcome.resolved = outcome.get("resolved")
    traj.outcome.test_results = outcome.get("test_results") or {}
    traj.outcome.grading_log = outcome.get("grading_log") or ""
    traj.observation_role = srft.get("observation_role") or traj.observation_role
    traj.extra = srft.get("extra") or {}
    if isinstance(srft.get("tools"), list):
        traj.tools = srft["tools"]
    steps = rd.get(srft, "steps", "srft_ray.steps", list, required=False, default=[])
    if steps and len(steps) != len(traj.steps):
        raise rd.error("srft_ray.steps", f"has {len(steps)} entries for {len(traj.steps)} steps")
    for step, saved in zip(traj.steps, steps):
        step.end_reason = saved.get("end_reason", step.end_reason)
        step.model_seconds = float(saved.get("model_seconds", 0.0))
        step.exec_seconds = float(saved.get("exec_seconds", 0.0))
        try:
            step.labels = [StepLabel(**label) for label in saved.get("labels", [])]
        except (TypeError, ValueError) as exc:
            raise rd.error(
                f"srft_ray.steps[{step.index}].labels", f"is malformed ({exc})"
            ) from None
