"""The one function that turns a (labelled) trajectory into token ids and a loss mask.

What is trained (README.md "How it fits together"):
- only assistant tokens: the message content and the end-of-turn token the template closes the turn
  with; never role headers, the newline after the end-of-turn token, system, task or observations;
- mode `rft`: resolved trajectories only (an unresolved one renders with an all-zero mask);
  mode `srft`: every trajectory; steps whose kind is in `masked_kinds` (mistakes, by default, as
  in the paper) keep their tokens in the context with mask 0;
  mode `all`: every assistant step of every trajectory.

How ids are built: the whole chat is rendered once through the tokenizer's own chat template and
tokenized once, as the policy's last turn saw it. Each assistant turn's character span is found by
rendering the chat up to that turn (the prefix property of chat templates); a token belongs to the
turn its first character falls in. Policy-generated steps keep the exact ids that were sampled when
they equal what the template tokenizes for their text. When they differ (re-tokenization drift),
every later turn's context held the re-tokenized text, so that step falls back to the template's
ids and is counted in `num_retokenized_steps`; the last step has no later turn and always keeps
its sampled ids. A template that rewrites earlier turns can hide a turn: it stays untrained and
is counted in `num_prefix_mismatches`.

What is rendered is the policy's view (srft_ray.chat_view): tool calls go through the template
with `tools=` (action_format "tool_calls": the call tokens and the end-of-turn token are trained,
tool responses, schemas and headers never), or become the agent's text actions (action_format
"text", the default, since srft's agent emits text actions); observations are re-formatted with
the policy's observation template. Every conversion and mismatch is counted in the example.

Max-length policy (overflow "elide_observations", the default): a trajectory longer than
`max_length` first has its earliest observations replaced, whole, by a short marker until it
fits (`num_elided_observations`); actions are never elided. What still does not fit is cut from
the end (`num_truncated_tokens`; steps cut off entirely: `num_dropped_steps`). Overflow
"truncate" only cuts from the end (the head is what every later step depends on). Trailing
non-assistant messages (a final observation) carry no loss and are not rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from srft_ray.chat_view import ActionFormat, ChatView, policy_chat
from srft_ray.data.model import LABELS, DataError, Trajectory, canonical_label

Mode = Literal["rft", "srft", "all"]
MODES: tuple[str, ...] = ("rft", "srft", "all")
NOT_A_STEP = -1
# A combined mode (consensus, replay_else_critic, critic_or_rules, ...) writes its final label as
# source "critic" after the raw replay and rule labels it combined: critic comes before them.
DEFAULT_LABEL_SOURCES: tuple[str, ...] = ("human", "critic", "replay", "rule", "outcome")
# The kinds a step can be given (LABELS without "unknown"), and those srft masks by default.
KINDS: tuple[str, ...] = tuple(label for label in LABELS if label != "unknown")
DEFAULT_MASKED_KINDS: tuple[str, ...] = ("mistake",)


@dataclass(kw_only=True)
class MaskingConfig:
    mode: Mode = "srft"
    """rft: resolved trajectories only; srft: all, steps of masked_kinds masked; all: every
    assistant step."""
    max_length: int | None = None
    """Keep the first max_length tokens of a rendered trajectory (None: no limit)."""
    masked_kinds: list[str] = field(default_factory=lambda: list(DEFAULT_MASKED_KINDS))
    """Step kinds srft masks (good, unnecessary, mistake, recover): mistake only, as the paper;
    ["mistake", "unnecessary"] also keeps detours out of the loss."""
    unknown_as: str = "good"
    """The kind srft gives a step whose label is unknown or missing ("good": trained)."""
    label_sources: list[str] = field(default_factory=lambda: list(DEFAULT_LABEL_SOURCES))
    """Which label decides a step, in priority order (the first source that labelled it wins)."""
    action_format: ActionFormat = "text"
    """The action format the policy emits at inference: tool calls in the data are converted to
    it ("text": srft's agent) or rendered natively through the template ("tool_calls"; an error
    naming the file and template when the template has no tool support)."""
    observation_template: str | None = None
    """Observation template the policy sees (Jinja, mini-swe-agent variables); None: the default
    agent's for imported data, as recorded for srft's own; "": keep observations as recorded."""
    overflow: Literal["elide_observations", "truncate"] = "elide_observations"
    """Past max_length: elide whole early observations, then cut the end; or only cut the end."""

    def __post_init__(self) -> None:
        # Configs and runs written before the four kinds say "bad" for a mistake.
        self.unknown_as = canonical_label(self.unknown_as)
        self.masked_kinds = [canonical_label(kind) for kind in self.masked_kinds]
        for name, kinds in (("unknown_as", [self.unknown_as]), ("masked_kinds", self.masked_kinds)):
            wrong = [kind for kind in kinds if kind not in KINDS]
            if wrong:
                raise ValueError(f"masking {name}: {wrong} not among the step kinds {KINDS}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None (no limit), got {self.max_length}")


@dataclass(kw_only=True)
class RenderedExample:
    trajectory_id: str
    input_ids: list[int]
    loss_mask: list[int]
    """1 where the token is trained (its loss counts), 0 elsewhere."""
    step_index: list[int]
    """Per token: the step whose assistant message it belongs to, or -1."""
    step_trained: list[bool]
    """Per step: whether its tokens are trained in this mode."""
    num_retokenized_steps: int = 0
    num_prefix_mismatches: int = 0
    num_truncated_tokens: int = 0
    num_dropped_steps: int = 0
    """Steps cut off entirely by max_length (after eliding every observation)."""
    num_elided_observations: int = 0
    num_converted_tool_calls: int = 0
    """Tool calls rendered as text actions (action_format "text")."""
    num_reformatted_observations: int = 0
    """Observations re-formatted with the policy's template (they differed from the recorded)."""
    num_shortened_observations: int = 0
    """Of those, the ones the recorder showed longer than the policy will see."""
    num_unverified_observations: int = 0
    """Observations from another template kept as recorded: no raw output to re-format."""

    @property
    def num_trained_tokens(self) -> int:
        return sum(self.loss_mask)

    @property
    def num_masked_steps(self) -> int:
        return sum(not trained for trained in self.step_trained)

    @property
    def truncated(self) -> bool:
        return self.num_truncated_tokens > 0


def trained_steps(traj: Trajectory, config: MaskingConfig) -> list[bool]:
    """Which steps of `traj` are trained under `config` (before any truncation)."""
    if config.mode not in MODES:
        raise ValueError(f"masking mode {config.mode!r} is not one of {MODES}")
    if config.mode == "rft":
        return [traj.outcome.resolved is True] * len(traj.steps)
    if config.mode == "all":
        return [True] * len(traj.steps)
    masked = set(config.masked_kinds)
    out = []
    for step in traj.steps:
        verdict = step.label_from(*config.label_sources)
        kind = verdict.label if verdict else "unknown"
        if kind == "unknown":
            kind = config.unknown_as
        out.append(kind not in masked)
    return out


def render_trajectory(
    traj: Trajectory, tokenizer: Any, config: MaskingConfig | None = None, **overrides: Any
) -> RenderedExample:
    """Render `traj` for `tokenizer` into input_ids, loss_mask and step_index (see module doc)."""
    config = config or MaskingConfig()
    if overrides:
        config = MaskingConfig(**{**config.__dict__, **overrides})
    step_trained = trained_steps(traj, config)
    view_options = {
        "action_format": config.action_format,
        "observation_template": config.observation_template,
    }
    view = policy_chat(traj, tokenizer, **view_options)
    example = _render_view(traj, tokenizer, view, step_trained)
    limit = config.max_length
    if limit is None or len(example.input_ids) <= limit:
        return example
    if config.overflow == "elide_observations" and view.observation_positions:
        num_elided = _observations_to_elide(tokenizer, view, len(example.input_ids) - limit)
        view = policy_chat(traj, tokenizer, **view_options, num_elided=num_elided)
        example = _render_view(traj, tokenizer, view, step_trained)
    present = {s for s in example.step_index if s != NOT_A_STEP}
    if len(example.input_ids) > limit:
        example.num_truncated_tokens = len(example.input_ids) - limit
        example.input_ids = example.input_ids[:limit]
        example.loss_mask = example.loss_mask[:limit]
        example.step_index = example.step_index[:limit]
        example.num_dropped_steps = len(present - set(example.step_index))
    return example


def _observations_to_elide(tokenizer: Any, view: ChatView, excess: int) -> int:
    """How many leading observations to elide so that about `excess` tokens go (all, at most)."""
    from srft_ray.chat_view import ELIDED_OBSERVATION

    marker = len(tokenizer(ELIDED_OBSERVATION, add_special_tokens=False)["input_ids"])
    saved = 0
    positions = view.observation_positions or []
    for count, pos in enumerate(positions, 1):
        content = view.messages[pos]["content"]
        saved += len(tokenizer(content, add_special_tokens=False)["input_ids"]) - marker
        if saved >= excess:
            return count
    return len(positions)


def _render_view(
    traj: Trajectory, tokenizer: Any, view: ChatView, step_trained: list[bool]
) -> RenderedExample:
    """Ids, mask and step index of the whole chat of `view` (no length limit)."""
    messages, tools = view.messages, view.tools
    counts = {
        "num_elided_observations": view.num_elided_observations,
        "num_converted_tool_calls": view.num_converted_tool_calls,
        "num_reformatted_observations": view.num_reformatted_observations,
        "num_shortened_observations": view.num_shortened_observations,
        "num_unverified_observations": view.num_unverified_observations,
    }
    positions = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not positions:
        return RenderedExample(
            trajectory_id=traj.trajectory_id,
            input_ids=[],
            loss_mask=[],
            step_index=[],
            step_trained=step_trained,
            **counts,
        )
    render = _Renderer(tokenizer, tools, traj)
    text = render(messages[: positions[-1] + 1], add_generation_prompt=False)
    spans, num_mismatches = _assistant_spans(render, messages, positions, text)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoded["input_ids"])
    step_of_token = _tokens_in_spans(encoded["offset_mapping"], spans)
    token_ranges: dict[int, tuple[int, int]] = {}
    for pos, step in enumerate(step_of_token):
        if step != NOT_A_STEP:
            token_ranges[step] = (token_ranges.get(step, (pos, pos))[0], pos + 1)
    trained_flags = [1] * len(ids)

    # Policy-generated steps keep their sampled ids where those agree with the template, and in
    # the last step, which no later turn re-reads; elsewhere the template's ids win (counted).
    num_retokenized = 0
    last_step = messages[positions[-1]]["step"]
    for step in traj.steps:
        if step.token_ids is None or step.index not in token_ranges:
            continue
        first, stop = token_ranges[step.index]
        template_ids = ids[first:stop]
        sampled, flags = _sampled_with_end_of_turn(step.token_ids, template_ids)
        if sampled == template_ids:
            trained_flags[first:stop] = flags
        elif step.index == last_step:
            ids[first:stop] = sampled
            step_of_token[first:stop] = [step.index] * len(sampled)
            trained_flags[first:stop] = flags
            token_ranges[step.index] = (first, first + len(sampled))
        else:
            num_retokenized += 1

    # Tokens after the last assistant turn (e.g. ChatML's trailing newline) carry no loss.
    end = token_ranges[last_step][1] if last_step in token_ranges else len(ids)
    ids, step_of_token, trained_flags = ids[:end], step_of_token[:end], trained_flags[:end]
    mask = [
        flag if step != NOT_A_STEP and step_trained[step] else 0
        for step, flag in zip(step_of_token, trained_flags)
    ]
    return RenderedExample(
        trajectory_id=traj.trajectory_id,
        input_ids=ids,
        loss_mask=mask,
        step_index=step_of_token,
        step_trained=step_trained,
        num_retokenized_steps=num_retokenized,
        num_prefix_mismatches=num_mismatches,
        **counts,
    )


def encode_chat(
    tokenizer: Any, messages: list[dict[str, Any]], *, add_generation_prompt: bool
) -> list[int]:
    """Token ids of `messages` through the tokenizer's chat template.

    Policies render their prompts with this same function, so a policy's context and the
    training sequence tokenize the same text the same way.
    """
    text = _chat_text(tokenizer, messages, add_generation_prompt=add_generation_prompt)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def _chat_text(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    *,
    add_generation_prompt: bool,
    tools: list[dict[str, Any]] | None = None,
):
    plain = [{k: v for k, v in m.items() if k != "step"} for m in messages]
    if not plain:
        return ""
    extra = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(
        plain, tokenize=False, add_generation_prompt=add_generation_prompt, **extra
    )


class _Renderer:
    """`_chat_text` for one trajectory and tool list; a template error names file and template."""

    def __init__(self, tokenizer: Any, tools: list[dict[str, Any]] | None, traj: Trajectory):
        self.tokenizer, self.tools, self.traj = tokenizer, tools, traj

    def __call__(self, messages: list[dict[str, Any]], *, add_generation_prompt: bool) -> str:
        from jinja2 import TemplateError

        try:
            return _chat_text(
                self.tokenizer,
                messages,
                add_generation_prompt=add_generation_prompt,
                tools=self.tools,
            )
        except TemplateError as exc:
            source = self.traj.provenance.source_file or self.traj.trajectory_id
            name = getattr(self.tokenizer, "name_or_path", "") or "this tokenizer"
            raise DataError(
                f"{source}: the chat template of {name} cannot render this trajectory: {exc}"
            ) from None


def _assistant_spans(
    render: _Renderer, messages: list[dict[str, Any]], positions: list[int], text: str
) -> tuple[dict[int, tuple[int, int]], int]:
    """Character span of each assistant turn's trained part (content + end-of-turn) in `text`.

    Each turn is located by rendering the chat up to it: the text the template adds for the turn,
    after the assistant header, up to and including the last special token it adds (the
    end-of-turn token; tool-call markup such as `<tool_call>` may be special tokens too). A
    template that rewrites earlier turns can make a turn unfindable: it is left untrained and
    counted.
    """
    specials = [t for t in getattr(render.tokenizer, "all_special_tokens", []) if t]
    spans: dict[int, tuple[int, int]] = {}
    cursor = num_mismatches = 0
    for i in positions:
        context = render(messages[:i], add_generation_prompt=True)
        full = render(messages[: i + 1], add_generation_prompt=False)
        if not full.startswith(context):
            raise ValueError(
                "the chat template does not render the assistant header as a prefix of the "
                f"assistant turn (step {messages[i]['step']}); it cannot be trained per step"
            )
        added = full[len(context) :]
        ends = [added.rfind(t) + len(t) for t in specials if t in added]
        piece = added[: max(ends)] if ends else added
        where = len(context) if text.startswith(full) else text.find(piece, cursor)
        if where < 0:
            num_mismatches += 1
            continue
        spans[messages[i]["step"]] = (where, where + len(piece))
        cursor = where + len(piece)
    return spans, num_mismatches


def _tokens_in_spans(
    offsets: list[tuple[int, int]], spans: dict[int, tuple[int, int]]
) -> list[int]:
    """Step index per token: a token belongs to the span its first character falls in."""
    ordered = sorted(spans.items(), key=lambda item: item[1])
    out, k = [], 0
    for start, _ in offsets:
        while k < len(ordered) and start >= ordered[k][1][1]:
            k += 1
        inside = k < len(ordered) and ordered[k][1][0] <= start
        out.append(ordered[k][0] if inside else NOT_A_STEP)
    return out


def _sampled_with_end_of_turn(
    sampled: list[int], template_ids: list[int]
) -> tuple[list[int], list[int]]:
    """Sampled ids plus the template's end-of-turn token when generation stopped without it.

    A closing token the policy never sampled (it hit max_tokens) is context, not a trained token.
    """
    sampled = list(sampled)
    if template_ids and (not sampled or sampled[-1] != template_ids[-1]):
        return sampled + [template_ids[-1]], [1] * len(sampled) + [0]
    return sampled, [1] * len(sampled)
