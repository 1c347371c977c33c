"""Export to mini-swe-agent trajectories ("mini-swe-agent-1.1"; the shape is described in
srft_ray.formats.minisweagent, which reads them).

The record is what `DefaultAgent.save` writes, plus a `srft_ray` block (trajectory id,
provenance, outcome, per-step labels and timings) that mini-swe-agent ignores and our importer
reads back, so import -> export -> import is exact.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from srft_ray.data.model import Step, ToolCall, Trajectory
from srft_ray.formats.minisweagent import FORMAT_ERROR, TRAJECTORY_FORMAT


def trajectory_to_minisweagent(traj: Trajectory) -> dict[str, Any]:
    """A mini-swe-agent-1.1 record (what `DefaultAgent.save` writes) for `traj`."""
    messages: list[dict[str, Any]] = []
    if traj.system_prompt:
        messages.append({"role": "system", "content": traj.system_prompt})
    messages.append({"role": "user", "content": traj.task_prompt})
    for step in traj.steps:
        messages.extend(_step_messages(step))
    outcome = traj.outcome
    if outcome.exit_status:
        exit_extra = {"exit_status": outcome.exit_status, "submission": outcome.patch}
        messages.append({"role": "exit", "content": outcome.patch, "extra": exit_extra})
    model_stats = traj.extra.get("model_stats") or {
        "instance_cost": 0.0,
        "api_calls": traj.num_steps,
    }
    provenance = {k: v for k, v in asdict(traj.provenance).items() if k != "source_file"}
    return {
        "info": {
            "model_stats": model_stats,
            "config": {
                "model": {
                    "model_name": traj.provenance.policy_model,
                    "model_kwargs": traj.provenance.sampling_params,
                    **(
                        {"observation_template": traj.observation_template}
                        if traj.observation_template
                        else {}
                    ),
                },
                "agent_type": traj.provenance.agent or "srft_ray",
            },
            "mini_version": traj.extra.get("mini_version") or _mini_version(),
            "exit_status": outcome.exit_status,
            "submission": outcome.patch,
        },
        "messages": messages,
        "trajectory_format": TRAJECTORY_FORMAT,
        "instance_id": traj.instance_id,
        "srft_ray": {
            "trajectory_id": traj.trajectory_id,
            "provenance": provenance,
            "outcome": {
                "resolved": outcome.resolved,
                "test_results": outcome.test_results,
                "grading_log": outcome.grading_log,
            },
            "observation_role": traj.observation_role,
            "tools": traj.tools,
            "extra": traj.extra,
            "steps": [
                {
                    "end_reason": step.end_reason,
                    "model_seconds": step.model_seconds,
                    "exec_seconds": step.exec_seconds,
                    "labels": [asdict(label) for label in step.labels],
                }
                for step in traj.steps
            ],
        },
    }


def write_minisweagent(traj: Trajectory, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(trajectory_to_minisweagent(traj), indent=2, ensure_ascii=False))
    return path


def export_minisweagent(trajs: list[Trajectory], out_dir: str | Path) -> list[Path]:
    """One `<out_dir>/<instance_id>/<safe trajectory id>.traj.json` per trajectory."""
    out_dir = Path(out_dir)
    written = []
    for traj in trajs:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", traj.trajectory_id).strip("_") or "trajectory"
        written.append(write_minisweagent(traj, out_dir / traj.instance_id / f"{name}.traj.json"))
    return written


def _step_messages(step: Step) -> list[dict[str, Any]]:
    """The assistant message of `step` and its observation(s), as DefaultAgent saves them."""
    assistant: dict[str, Any] = {"role": "assistant", "content": step.assistant}
    if step.tool_calls:
        assistant["tool_calls"] = [_openai_call(call) for call in step.tool_calls]
        actions = [{"command": c.command, "tool_call_id": c.id} for c in step.tool_calls]
    else:
        actions = [{"command": step.command}] if step.command is not None else []
    assistant["extra"] = {"actions": actions}
    out = [assistant]
    answered = [call for call in step.tool_calls if call.output is not None]
    for call in answered:
        extra: dict[str, Any] = {"returncode": call.returncode}
        if call.raw_output is not None:
            extra["raw_output"] = call.raw_output
        out.append(
            {"role": "tool", "content": call.output, "tool_call_id": call.id, "extra": extra}
        )
    if step.observation is not None and not answered:
        obs_extra: dict[str, Any] = {"returncode": step.returncode}
        if step.output is not None:
            obs_extra["raw_output"] = step.output
        if step.end_reason == "format_error":
            obs_extra["interrupt_type"] = FORMAT_ERROR
        out.append({"role": "user", "content": step.observation, "extra": obs_extra})
    return out


def _openai_call(call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": function}


def _mini_version() -> str:
    try:
        return metadata.version("mini-swe-agent")
    except metadata.PackageNotFoundError:
        return ""
