"""The data that flows: Task -> Trajectory (steps, outcome, provenance) -> labelled Trajectory.

A Trajectory is a linear chat: a system prompt, the task prompt, then one assistant message per
step, each followed by the observation the environment returned. Steps keep the exact token ids the
policy sampled (and their logprobs) when a policy produced them, so training never re-tokenizes
text it does not have to. Step labels are first-class: a step carries every label any source gave
it (critic, rules, outcome, a human, the scripted teacher's ground truth); `effective_label` picks
the one training uses. A "labelled trajectory" is the same type with labels filled in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

# The paper's step kinds: a good move; an unnecessary one (harmless but not needed); a mistake
# (the error SRFT keeps out of the loss); a recover (the move that undoes an earlier mistake).
Label = Literal["good", "unnecessary", "mistake", "recover", "unknown"]
LabelSource = Literal["critic", "rule", "outcome", "human", "scripted", "replay"]
LABELS: tuple[str, ...] = ("good", "unnecessary", "mistake", "recover", "unknown")
LABEL_SOURCES: tuple[str, ...] = ("critic", "rule", "outcome", "human", "scripted", "replay")
# Names older stores, critics and code still use: "bad" was the one error kind before the four.
LEGACY_LABELS: dict[str, str] = {"bad": "mistake"}


def canonical_label(label: str) -> str:
    """`label` as one of LABELS when it is a legacy name ("bad" -> "mistake"), else unchanged."""
    return LEGACY_LABELS.get(label, label)


class DataError(ValueError):
    """A record that does not fit the data model; the message names the record and the field."""


@dataclass(kw_only=True)
class Task:
    """One SWE-bench-style task row (classic format: SWE-bench Verified/Lite, SWE-Gym, SWE-smith)."""

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str = ""
    test_patch: str = ""
    fail_to_pass: list[str] = field(default_factory=list)
    pass_to_pass: list[str] = field(default_factory=list)
    version: str = ""
    environment_setup_commit: str = ""
    hints_text: str = ""
    created_at: str = ""
    image: str = ""
    """Container image for the docker sandbox; empty means the SWE-bench instance image name."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Any other columns of the source row, kept so an export loses nothing."""

    @classmethod
    def from_row(cls, row: dict[str, Any], where: str = "") -> Task:
        """Parse a SWE-bench row; FAIL_TO_PASS / PASS_TO_PASS may be JSON strings or lists."""
        where = where or f"task {row.get('instance_id', '?')!r}"
        for key in ("instance_id", "repo", "base_commit", "problem_statement"):
            if not isinstance(row.get(key), str) or not row.get(key):
                raise DataError(f"{where}: field {key!r} is missing or not a non-empty string")
        known = {f for f in cls.__dataclass_fields__ if f not in ("fail_to_pass", "pass_to_pass")}
        kwargs = {k: row[k] for k in known if k in row and k != "extra" and row[k] is not None}
        for key, col in (("fail_to_pass", "FAIL_TO_PASS"), ("pass_to_pass", "PASS_TO_PASS")):
            kwargs[key] = _test_list(row.get(col, row.get(key, [])), f"{where}: field {col!r}")
        for key in ("version", "environment_setup_commit", "hints_text", "created_at", "image"):
            if key in kwargs and not isinstance(kwargs[key], str):
                kwargs[key] = str(kwargs[key])
        extra = dict(row.get("extra") or {})
        skip = set(known) | {"FAIL_TO_PASS", "PASS_TO_PASS", "fail_to_pass", "pass_to_pass"}
        extra.update({k: v for k, v in row.items() if k not in skip})
        return cls(**kwargs, extra=extra)

    def to_row(self) -> dict[str, Any]:
        """The SWE-bench row shape (FAIL_TO_PASS / PASS_TO_PASS as JSON strings, as swebench has it)."""
        row = {k: getattr(self, k) for k in self.__dataclass_fields__}
        row.pop("extra")
        row["FAIL_TO_PASS"] = json.dumps(row.pop("fail_to_pass"))
        row["PASS_TO_PASS"] = json.dumps(row.pop("pass_to_pass"))
        row.update(self.extra)
        return row


@dataclass(kw_only=True)
class StepLabel:
    """A verdict on one step: which kind of move it was (see LABELS); a mistake is the error the
    student should not learn. A legacy "bad" is read as "mistake"."""

    label: Label
    source: LabelSource
    confidence: float | None = None
    """Probability of the verdict (critic token probability or vote share); None when not known."""
    model: str = ""
    """Critic model name (source critic) or rule name (source rule)."""
    prompt_version: str = ""
    rationale: str = ""

    def __post_init__(self) -> None:
        self.label = canonical_label(self.label)  # type: ignore[assignment]
        if self.label not in LABELS:
            raise DataError(f"step label {self.label!r} is not one of {LABELS}")
        if self.source not in LABEL_SOURCES:
            raise DataError(f"label source {self.source!r} is not one of {LABEL_SOURCES}")


@dataclass(kw_only=True)
class ToolCall:
    """One function call of an assistant turn, with the tool response matched to it by id."""

    id: str
    name: str
    arguments: str
    """The arguments as the model wrote them: JSON text (e.g. '{"command": "ls"}')."""
    output: str | None = None
    """The tool message answering this call (matched by tool_call_id); None when none came."""
    raw_output: str | None = None
    """The command's output before the agent's observation template formatted it, when saved."""
    returncode: int | None = None

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as an object ({} when they are not a JSON object)."""
        try:
            value = json.loads(self.arguments) if self.arguments else {}
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def to_openai(self) -> dict[str, Any]:
        """The call as chat templates take it (OpenAI shape, arguments parsed to an object)."""
        function = {"name": self.name, "arguments": self.parsed_arguments()}
        return {"id": self.id, "type": "function", "function": function}

    @property
    def command(self) -> str | None:
        """The bash command this call ran (its `command` argument), if it has one."""
        value = self.parsed_arguments().get("command")
        return value if isinstance(value, str) else None


@dataclass(kw_only=True)
class Step:
    """One agent step: the assistant message, the action it took and what the environment said."""

    index: int
    assistant: str
    """The assistant message text as the model wrote it (special tokens stripped)."""
    token_ids: list[int] | None = None
    """The exact ids the policy sampled, end-of-turn token included when it stopped on it."""
    logprobs: list[float] | None = None
    """Logprob of each sampled id, when the policy returned them."""
    command: str | None = None
    """What ran: the text action's bash command, or the tool calls' commands joined by newlines;
    None when the reply had no valid action."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """The action as tool calls, in order (parallel calls: several); empty for a text action."""
    output: str | None = None
    """A text action's raw command output, before the observation template formatted it."""
    observation: str | None = None
    """The message the environment answered with (the next user/tool turn); None after the last."""
    returncode: int | None = None
    end_reason: str = ""
    """How the command ended: exit, timeout, memory_limit, output_limit, format_error, submitted."""
    model_seconds: float = 0.0
    exec_seconds: float = 0.0
    tree: str | None = None
    """Git tree id of the working tree after this step's command (recorded during collection or
    a replay; None when not recorded). Equal ids mean identical trees."""
    tree_diff: str | None = None
    """The working tree after this step as a diff against base_commit, recorded when `tree`
    differs from the tree before the step (None: unchanged or not recorded)."""
    labels: list[StepLabel] = field(default_factory=list)

    def label_from(self, *sources: str) -> StepLabel | None:
        """The last label given by the first of `sources` that labelled this step."""
        for source in sources:
            found = [lab for lab in self.labels if lab.source == source]
            if found:
                return found[-1]
        return None


@dataclass(kw_only=True)
class Outcome:
    """How the episode ended and whether its patch resolved the task."""

    exit_status: str = ""
    """submitted, step_limit, time_limit, token_limit, format_error_limit, sandbox_error, ..."""
    patch: str = ""
    resolved: bool | None = None
    """None until graded (or when the task has no tests, e.g. an imported trajectory)."""
    test_results: dict[str, str] = field(default_factory=dict)
    """Test name -> PASSED / FAILED / ERROR / SKIPPED, as the swebench log parser read it."""
    grading_log: str = ""


@dataclass(kw_only=True)
class Provenance:
    """Where a trajectory came from, so a dataset can always be traced back to its policy."""

    policy_model: str = ""
    policy_version: str = ""
    round: int = 0
    sampling_params: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    agent: str = ""
    """Agent name and version, e.g. srft-bash-agent/1 or mini-swe-agent-1.1 (imported)."""
    created_at: float = 0.0
    source_file: str = ""
    """For imported trajectories: the file they came from."""


@dataclass(kw_only=True)
class Trajectory:
    """A linear agent history plus its outcome and provenance."""

    trajectory_id: str
    instance_id: str
    system_prompt: str
    task_prompt: str
    steps: list[Step] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    provenance: Provenance = field(default_factory=Provenance)
    observation_role: str = "user"
    """Role of observation messages in the chat template ("user" for mini-swe-agent, or "tool")."""
    tools: list[dict[str, Any]] = field(default_factory=list)
    """Tool schemas offered to the model (OpenAI `tools=` shape) when the agent used tool calls."""
    observation_template: str = ""
    """The agent's Jinja observation template (mini-swe-agent's `output.output/returncode/
    exception_info` variables), which also holds its truncation rule; empty when not known."""
    extra: dict[str, Any] = field(default_factory=dict)

    def messages(self) -> list[dict[str, Any]]:
        """The chat as the policy saw it; assistant messages carry the index of their step.

        Tool-call steps give an assistant message with OpenAI `tool_calls` (arguments parsed to
        objects, as chat templates expect) and one `tool` message per answered call.
        """
        out: list[dict[str, Any]] = []
        if self.system_prompt:
            out.append({"role": "system", "content": self.system_prompt})
        out.append({"role": "user", "content": self.task_prompt})
        for step in self.steps:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": step.assistant,
                "step": step.index,
            }
            if step.tool_calls:
                message["tool_calls"] = [call.to_openai() for call in step.tool_calls]
            out.append(message)
            answered = [call for call in step.tool_calls if call.output is not None]
            if answered:
                for call in answered:
                    out.append({"role": "tool", "content": call.output, "tool_call_id": call.id})
            elif step.observation is not None:
                out.append({"role": self.observation_role, "content": step.observation})
        return out

    @property
    def num_steps(self) -> int:
        return len(self.steps)


def _test_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not a JSON list of test names ({exc})") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: expected a list of test names, got {value!r:.80}")
    return list(value)
