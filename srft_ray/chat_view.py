"""The chat a trajectory trains on: the policy's view of it at inference, not the recorder's.

`policy_chat` turns a Trajectory into chat messages for `srft_ray.masking.render_trajectory`:
- Tool calls (action_format "tool_calls"): assistant messages keep their OpenAI `tool_calls`
  and every call's response is its own `tool` message; rendered with `tools=` through the
  tokenizer's template. A template that drops tool calls is refused (error naming the file and
  the template), never a silent drop of the actions.
- Tool calls (action_format "text", the default: srft's agent emits text actions): each step's
  calls become one text action in the agent's format (its thought, then a ```bash block with the
  commands, one per line), and the responses one user observation; every converted call is
  counted.
- Observations are re-formatted with the policy's observation template (which holds its
  truncation, e.g. mini-swe-agent's 10000-character head/tail) when the trajectory recorded a
  different template and the raw command output; those re-formatted are counted, and so are
  those that could not be checked (no raw output saved).
- `num_elided` replaces the first observations with a short marker (the max-length policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from srft_ray.data.model import DataError, Step, ToolCall, Trajectory

ActionFormat = Literal["text", "tool_calls"]
ELIDED_OBSERVATION = "[observation elided to fit the training context]"
TEXT_ACTION_FENCE = "bash"  # what srft's scripted teacher writes and the agent's regex accepts
_PROBE = "srft_probe_4f1c"


@dataclass(kw_only=True)
class ChatView:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    num_converted_tool_calls: int = 0
    num_reformatted_observations: int = 0
    num_shortened_observations: int = 0
    """Re-formatted observations that are shorter than recorded (the recorder showed more)."""
    num_unverified_observations: int = 0
    num_elided_observations: int = 0
    observation_positions: list[int] | None = None
    """Message index of each observation message, in order (for the max-length policy)."""


def text_action(step: Step, fence: str = TEXT_ACTION_FENCE) -> str:
    """The step's tool calls as one text action: its thought, then one fenced block."""
    commands = [
        call.command if call.command is not None else _call_line(call) for call in step.tool_calls
    ]
    block = f"```{fence}\n" + "\n".join(commands) + "\n```"
    thought = step.assistant.rstrip()
    return f"{thought}\n\n{block}" if thought else block


def _call_line(call: ToolCall) -> str:
    """A call without a bash `command` (e.g. SWE-agent's editor tool) as `name args...`."""
    args = " ".join(str(v) for v in call.parsed_arguments().values())
    return f"{call.name} {args}".strip()


_TOOL_SUPPORT: dict[str, bool] = {}


def template_supports_tools(tokenizer: Any) -> bool:
    """Whether the chat template renders both a tool call's arguments and a tool response."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if template not in _TOOL_SUPPORT:
        from srft_ray.formats.tool_calls import BASH_TOOL

        call = ToolCall(id="c1", name="bash", arguments=f'{{"command": "{_PROBE}"}}')
        messages = [
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "", "tool_calls": [call.to_openai()]},
            {"role": "tool", "content": _PROBE + "_out", "tool_call_id": "c1"},
        ]
        try:
            text = tokenizer.apply_chat_template(messages, tools=[BASH_TOOL], tokenize=False)
        except Exception:  # a template that cannot render tools at all
            text = ""
        _TOOL_SUPPORT[template] = _PROBE in text.replace(_PROBE + "_out", "") and (
            _PROBE + "_out" in text
        )
    return _TOOL_SUPPORT[template]


def policy_chat(
    traj: Trajectory,
    tokenizer: Any,
    *,
    action_format: ActionFormat = "text",
    observation_template: str | None = None,
    num_elided: int = 0,
) -> ChatView:
    """The messages (and tools) to render for training; see the module docstring."""
    has_calls = any(step.tool_calls for step in traj.steps)
    native = has_calls and action_format == "tool_calls"
    if native and not template_supports_tools(tokenizer):
        raise DataError(
            f"{traj.provenance.source_file or traj.trajectory_id}: the chat template of "
            f"{getattr(tokenizer, 'name_or_path', '') or 'this tokenizer'} does not render tool "
            "calls; set masking action_format=text to train them as the agent's text actions"
        )
    policy_template = _policy_template(traj, observation_template)
    reformat = policy_template is not None and _norm(policy_template) != _norm(
        traj.observation_template
    )
    view = ChatView(messages=[], tools=traj.tools or None if native else None)
    out = view.messages
    if traj.system_prompt:
        out.append({"role": "system", "content": traj.system_prompt})
    out.append({"role": "user", "content": traj.task_prompt})
    positions: list[int] = []
    for step in traj.steps:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": step.assistant,
            "step": step.index,
        }
        answered = [call for call in step.tool_calls if call.output is not None]
        if native and step.tool_calls:
            # No key for a step without a call: `tool_calls: []` makes single-call templates
            # (Llama 3.1) raise "only supports single tool-calls".
            message["tool_calls"] = [call.to_openai() for call in step.tool_calls]
        elif step.tool_calls:
            message["content"] = text_action(step)
            view.num_converted_tool_calls += len(step.tool_calls)
        out.append(message)
        if native and answered:
            for call in answered:
                text = _observation(
                    view,
                    call.output or "",
                    call.raw_output,
                    call.returncode,
                    reformat,
                    policy_template,
                )
                positions.append(len(out))
                out.append({"role": "tool", "content": text, "tool_call_id": call.id})
            continue
        if step.observation is None:
            continue
        if step.end_reason == "format_error":
            text = step.observation  # the agent's format-error message, not a command output
        elif step.tool_calls:
            # One text action runs the calls' commands in sequence: one output, the last code.
            raws = [call.raw_output for call in step.tool_calls]
            raw = "".join(r for r in raws if r is not None) if None not in raws else None
            code = step.tool_calls[-1].returncode
            text = _observation(view, step.observation, raw, code, reformat, policy_template)
        else:
            text = _observation(
                view, step.observation, step.output, step.returncode, reformat, policy_template
            )
        positions.append(len(out))
        role = traj.observation_role if native and step.end_reason != "format_error" else "user"
        out.append({"role": role, "content": text})
    last_assistant = (
        max(i for i, m in enumerate(out) if m["role"] == "assistant") if traj.steps else 0
    )
    positions = [pos for pos in positions if pos < last_assistant]  # a final one is not rendered
    for pos in positions[:num_elided]:
        out[pos] = {**out[pos], "content": ELIDED_OBSERVATION}
    view.num_elided_observations = min(num_elided, len(positions))
    view.observation_positions = positions
    return view


def _observation(
    view: ChatView,
    recorded: str,
    raw: str | None,
    returncode: int | None,
    reformat: bool,
    template: str | None,
) -> str:
    if not reformat or template is None:
        return recorded
    if raw is None:
        view.num_unverified_observations += 1
        return recorded
    from jinja2 import Template

    output = {
        "output": raw,
        "returncode": -1 if returncode is None else returncode,
        "exception_info": "",
    }
    try:
        text = Template(template).render(output=output)
    except Exception:  # a template needing variables we did not record: keep what was seen
        view.num_unverified_observations += 1
        return recorded
    if text != recorded:
        view.num_reformatted_observations += 1
        view.num_shortened_observations += len(text) < len(recorded)
    return text


def _policy_template(traj: Trajectory, configured: str | None) -> str | None:
    """The observation template the policy sees; None: keep observations as recorded."""
    if configured is not None:
        return configured or None
    if traj.provenance.agent.startswith("srft-bash-agent"):
        return None  # our own agent recorded exactly what the policy saw
    return _default_agent_template()


@lru_cache(maxsize=1)
def _default_agent_template() -> str:
    from srft_ray.agent.actions import load_templates
    from srft_ray.agent.config import AgentConfig

    return load_templates(AgentConfig().templates).observation


def _norm(template: str) -> str:
    return template.strip()
