"""OpenAI-style tool calls in imported files: validated reading and the tool schemas they imply.

Every importer that meets `tool_calls: [{id, type: "function", function: {name, arguments}}]`
(mini-swe-agent 2.x, SWE-agent function calling, messages tables) reads them here, so a call
with no id, no name or arguments that are not JSON fails with the file and the field named.
"""

from __future__ import annotations

import json
from typing import Any

from srft_ray.data.model import Step, ToolCall
from srft_ray.formats.fields import FieldReader

# The bash tool as mini-swe-agent and SWE-agent describe it to the model; used when a file
# records the calls but not the schemas (mini-swe-agent 2.x does not save `tools=`).
BASH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "bash",
        "description": "Execute a bash command",
        "parameters": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The bash command to execute"}
            },
            "required": ["command"],
        },
    },
}


def read_tool_calls(raw: Any, rd: FieldReader, path: str) -> list[ToolCall]:
    """The calls of one assistant message, in order; [] when it has none."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise rd.error(path, f"is {type(raw).__name__}, expected a list")
    calls = []
    for j, call in enumerate(raw):
        where = f"{path}[{j}]"
        if not isinstance(call, dict):
            raise rd.error(where, f"is {type(call).__name__}, expected an object")
        function = rd.get(call, "function", f"{where}.function", dict)
        name = rd.get(function, "name", f"{where}.function.name", str)
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some providers hand back parsed arguments
            arguments = json.dumps(arguments, ensure_ascii=False)
        if not isinstance(arguments, str):
            raise rd.error(f"{where}.function.arguments", "missing or not a JSON string")
        try:
            json.loads(arguments) if arguments.strip() else None
        except json.JSONDecodeError as exc:
            raise rd.error(f"{where}.function.arguments", f"is not JSON ({exc.msg})") from None
        call_id = call.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise rd.error(f"{where}.id", f"is {type(call_id).__name__}, expected a string")
        calls.append(ToolCall(id=call_id or f"call_{j}", name=name, arguments=arguments))
    return calls


def tool_schemas(steps: list[Step], recorded: list[Any] | None = None) -> list[dict[str, Any]]:
    """The `tools=` schemas: as recorded, else one per function name the calls used."""
    if recorded:
        return [tool for tool in recorded if isinstance(tool, dict)]
    names: list[str] = []
    for step in steps:
        names += [call.name for call in step.tool_calls if call.name not in names]
    out = []
    for name in names:
        if name == "bash":
            out.append(BASH_TOOL)
            continue
        keys: list[str] = []
        for step in steps:
            for call in step.tool_calls:
                if call.name == name:
                    keys += [k for k in call.parsed_arguments() if k not in keys]
        properties = {key: {"type": "string"} for key in keys}
        parameters = {"type": "object", "properties": properties}
        out.append({"type": "function", "function": {"name": name, "parameters": parameters}})
    return out
