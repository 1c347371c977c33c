"""SWE-agent `.traj` files (import only).

SWE-agent (1.x, `DefaultAgent.get_trajectory_data`) saves ``{trajectory, history, info,
replay_config, environment}``:
- `history`: the linear message list the model saw: {role, content, message_type, agent,
  thought?, action?, tool_calls?, tool_call_ids?, is_demo?}; content is a string or a list of
  content parts; observations are `user` (or `tool`) messages after each assistant action.
- `trajectory`: one entry per step: {action, observation, response, thought, state,
  execution_time, query, extra_info}.
- `info`: {exit_status, submission, model_stats {instance_cost, tokens_sent, tokens_received,
  api_calls}, swe_agent_version, ...}; `replay_config`: the run config as a JSON string.
We prefer `history` (exactly what the model saw, as text) and fall back to `trajectory`.
Function-calling runs: assistant items carry OpenAI `tool_calls` (kept as ToolCalls; the step's
command is SWE-agent's parsed `action`) and `tool` messages name their calls in
`tool_call_ids`; the tool schemas come from replay_config's agent.tools when recorded.
Demonstration messages (`is_demo`) are left out of the steps; their number is kept in `extra`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srft_ray.data.model import Outcome, Provenance, Step, Trajectory
from srft_ray.formats.fields import FieldReader, instance_id_from_filename, read_json
from srft_ray.formats.tool_calls import read_tool_calls, tool_schemas

FORMAT_NAME = "swe-agent"


def read_sweagent(path: str | Path) -> Trajectory:
    """Import one SWE-agent `.traj` file."""
    path = Path(path)
    data, content_hash = read_json(path)
    return sweagent_to_trajectory(data, source=str(path), content_hash=content_hash)


def sweagent_to_trajectory(data: Any, *, source: str, content_hash: str = "") -> Trajectory:
    rd = FieldReader(source)
    if not isinstance(data, dict):
        raise rd.error("<top level>", f"is {type(data).__name__}, expected an object")
    info = rd.get(data, "info", "info", dict, required=False, default={})
    records = rd.get(data, "trajectory", "trajectory", list, required=False, default=[])
    extra: dict[str, Any] = {"source_format": FORMAT_NAME}
    if data.get("history") is not None:
        history = rd.get(data, "history", "history", list)
        system_prompt, task_prompt, steps, obs_role = _from_history(history, rd, extra)
        if len(records) == len(steps):  # same steps: take the timings the history lacks
            for step, record in zip(steps, records):
                if isinstance(record, dict):
                    step.exec_seconds = _seconds(record.get("execution_time"))
    elif "trajectory" in data:
        system_prompt, task_prompt, steps = _from_trajectory(records, rd)
        obs_role = "user"
    else:
        raise rd.error("history", "missing (and no 'trajectory' to fall back to)")

    exit_status = rd.get(info, "exit_status", "info.exit_status", str, required=False, default="")
    submission = rd.get(info, "submission", "info.submission", (str, dict), required=False)
    if isinstance(submission, dict):  # non-patch submissions: keep them, the patch stays empty
        extra["submission"] = submission
        submission = ""
    if steps and exit_status.startswith("submitted"):
        steps[-1].end_reason = "submitted"
    for key in ("model_stats", "swe_agent_version", "swe_agent_hash"):
        if key in info:
            extra[key] = info[key]

    replay = _replay_config(data.get("replay_config"))
    statement = replay.get("problem_statement") if isinstance(replay, dict) else None
    instance_id = statement.get("id") if isinstance(statement, dict) else None
    if not isinstance(instance_id, str) or not instance_id:
        instance_id = instance_id_from_filename(Path(source))
    model = replay.get("agent", {}).get("model", {}) if isinstance(replay, dict) else {}
    model = model if isinstance(model, dict) else {}
    sampling = {k: model[k] for k in ("temperature", "top_p") if k in model}
    return Trajectory(
        trajectory_id=f"{instance_id}/swe-agent-{content_hash or 'nohash'}",
        instance_id=instance_id,
        system_prompt=system_prompt,
        task_prompt=task_prompt,
        steps=steps,
        outcome=Outcome(exit_status=exit_status, patch=submission or ""),
        provenance=Provenance(
            policy_model=str(model.get("name", "")),
            sampling_params=sampling,
            agent=FORMAT_NAME,
            source_file=source,
        ),
        observation_role=obs_role,
        tools=tool_schemas(steps, _recorded_tools(replay)),
        extra=extra,
    )


def _recorded_tools(replay: dict[str, Any]) -> list[Any]:
    tools = replay.get("agent", {}).get("tools", {}) if isinstance(replay, dict) else {}
    schemas = tools.get("tools") if isinstance(tools, dict) else None
    return schemas if isinstance(schemas, list) else []


def _from_history(
    history: list[Any], rd: FieldReader, extra: dict[str, Any]
) -> tuple[str, str, list[Step], str]:
    system_prompt, task_parts = "", []
    steps: list[Step] = []
    observations: dict[int, list[str]] = {}
    obs_role, num_demo = "", 0
    for i, item in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(item, dict):
            raise rd.error(where, f"is {type(item).__name__}, expected an object")
        role = rd.get(item, "role", f"{where}.role", str)
        if "content" not in item:
            raise rd.error(f"{where}.content", "missing")
        text = rd.text(item["content"], f"{where}.content")
        if item.get("is_demo"):
            num_demo += 1
        elif role == "system" and not steps and not task_parts:
            system_prompt = text
        elif role == "assistant":
            action = rd.get(item, "action", f"{where}.action", str, required=False)
            step = Step(index=len(steps), assistant=text, command=action)
            step.tool_calls = read_tool_calls(item.get("tool_calls"), rd, f"{where}.tool_calls")
            steps.append(step)
        elif role in ("user", "tool"):
            if not steps:
                task_parts.append(text)
            else:
                observations.setdefault(steps[-1].index, []).append(text)
                obs_role = obs_role or role
                if role == "tool":
                    _answer_calls(steps[-1], item, text, rd, where)
        else:
            raise rd.error(f"{where}.role", f"is {role!r}, expected system/user/assistant/tool")
    if not task_parts:
        raise rd.error("history", "has no user message (the task prompt)")
    for step in steps:
        if step.index in observations:
            step.observation = "\n\n".join(observations[step.index])
    if num_demo:
        extra["num_demo_messages"] = num_demo
    return system_prompt, "\n\n".join(task_parts), steps, obs_role or "user"


def _answer_calls(step: Step, item: dict[str, Any], text: str, rd: FieldReader, where: str):
    """A tool message answers the calls in its `tool_call_ids` (else the first open call)."""
    ids = item.get("tool_call_ids")
    if ids is None and isinstance(item.get("tool_call_id"), str):
        ids = [item["tool_call_id"]]
    if ids is None:
        open_calls = [call for call in step.tool_calls if call.output is None]
        ids = [open_calls[0].id] if open_calls else []
    if not isinstance(ids, list):
        raise rd.error(f"{where}.tool_call_ids", f"is {type(ids).__name__}, expected a list")
    for call_id in ids:
        matches = [call for call in step.tool_calls if call.id == call_id]
        if not matches:
            raise rd.error(f"{where}.tool_call_ids", f"names {call_id!r}, not a call of the step")
        matches[0].output = text


def _from_trajectory(records: list[Any], rd: FieldReader) -> tuple[str, str, list[Step]]:
    steps = []
    for i, record in enumerate(records):
        where = f"trajectory[{i}]"
        if not isinstance(record, dict):
            raise rd.error(where, f"is {type(record).__name__}, expected an object")
        steps.append(
            Step(
                index=i,
                assistant=rd.get(record, "response", f"{where}.response", str),
                command=rd.get(record, "action", f"{where}.action", str, required=False),
                observation=rd.get(record, "observation", f"{where}.observation", str),
                exec_seconds=_seconds(record.get("execution_time")),
            )
        )
    # Without `history` the prompts survive only in the first step's `query` (the model input).
    query = records[0].get("query") if records and isinstance(records[0], dict) else None
    if not isinstance(query, list):
        raise rd.error("trajectory[0].query", "missing (needed for the prompts without 'history')")
    system_prompt, task_prompt = "", None
    for j, msg in enumerate(query):
        if not isinstance(msg, dict) or msg.get("is_demo"):
            continue
        text = rd.text(msg.get("content"), f"trajectory[0].query[{j}].content")
        if msg.get("role") == "system" and task_prompt is None:
            system_prompt = text
        elif msg.get("role") == "user" and task_prompt is None:
            task_prompt = text
    if task_prompt is None:
        raise rd.error("trajectory[0].query", "has no user message (the task prompt)")
    return system_prompt, task_prompt, steps


def _replay_config(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
