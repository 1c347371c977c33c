"""The one function that turns a (labelled) trajectory into token ids and a loss mask.

What is trained (DESIGN.md "Masking is the heart of the method"):
- only assistant tokens: the message content and the end-of-turn token the template closes the turn
  with; never role headers, the newline after the end-of-turn token, system, task or observations;
- mode `rft`: resolved trajectories only (an unresolved one renders with an all-zero mask);
  mode `srft`: every trajectory, steps labelled bad keep their tokens in the context with mask 0;
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

Truncation policy: with `max_length`, the first `max_length` tokens are kept (the system prompt,
the task and the earliest steps are what every later step depends on). A step cut in the middle
keeps its trained tokens that fit; `num_truncated_tokens` counts what was dropped. Trailing
non-assistant messages (a final observation) carry no loss and are not rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from srft_ray.data.model import Trajectory

Mode = Literal["rft", "srft", "all"]
MODES: tuple[str, ...] = ("rft", "srft", "all")
NOT_A_STEP = -1
DEFAULT_LABEL_SOURCES: tuple[str, ...] = ("human", "critic", "rule", "outcome")


@dataclass(kw_only=True)
class MaskingConfig:
    mode: Mode = "srft"
    """rft: resolved trajectories only; srft: all, bad steps masked; all: every assistant step."""
    max_length: int | None = None
    """Keep the first max_length tokens of a rendered trajectory (None: no limit)."""
    unknown_as: Literal["good", "bad"] = "good"
    """How srft treats steps whose label is unknown or missing."""
    label_sources: list[str] = field(default_factory=lambda: list(DEFAULT_LABEL_SOURCES))
    """Which label decides a step, in priority order (the first source that labelled it wins)."""


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
    out = []
    for step in traj.steps:
        verdict = step.label_from(*config.label_sources)
        label = verdict.label if verdict else "unknown"
        if label == "unknown":
            label = config.unknown_as
        out.append(label == "good")
    return out


def render_trajectory(
    traj: Trajectory, tokenizer: Any, config: MaskingConfig | None = None, **overrides: Any
) -> RenderedExample:
    """Render `traj` for `tokenizer` into input_ids, loss_mask and step_index (see module doc)."""
    config = config or MaskingConfig()
    if overrides:
        config = MaskingConfig(**{**config.__dict__, **overrides})
    step_trained = trained_steps(traj, config)
    messages = traj.messages()
    positions = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not positions:
        return RenderedExample(
            trajectory_id=traj.trajectory_id,
            input_ids=[],
            loss_mask=[],
            step_index=[],
            step_trained=step_trained,
        )
    text = _chat_text(tokenizer, messages[: positions[-1] + 1], add_generation_prompt=False)
    spans, num_mismatches = _assistant_spans(tokenizer, messages, positions, text)
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
    num_truncated = 0
    if config.max_length is not None and len(ids) > config.max_length:
        num_truncated = len(ids) - config.max_length
        ids, mask = ids[: config.max_length], mask[: config.max_length]
        step_of_token = step_of_token[: config.max_length]
    return RenderedExample(
        trajectory_id=traj.trajectory_id,
        input_ids=ids,
        loss_mask=mask,
        step_index=step_of_token,
        step_trained=step_trained,
        num_retokenized_steps=num_retokenized,
        num_prefix_mismatches=num_mismatches,
        num_truncated_tokens=num_truncated,
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


def _chat_text(tokenizer: Any, messages: list[dict[str, Any]], *, add_generation_prompt: bool):
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    if not plain:
        return ""
    return tokenizer.apply_chat_template(
        plain, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def _assistant_spans(
    tokenizer: Any, messages: list[dict[str, Any]], positions: list[int], text: str
) -> tuple[dict[int, tuple[int, int]], int]:
    """Character span of each assistant turn's trained part (content + end-of-turn) in `text`.

    Each turn is located by rendering the chat up to it: the text the template adds for the turn,
    after the assistant header, up to and including the first special token. A template that
    rewrites earlier turns can make a turn unfindable: it is left untrained and counted.
    """
    specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if t]
    spans: dict[int, tuple[int, int]] = {}
    cursor = num_mismatches = 0
    for i in positions:
        context = _chat_text(tokenizer, messages[:i], add_generation_prompt=True)
        full = _chat_text(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not full.startswith(context):
            raise ValueError(
                "the chat template does not render the assistant header as a prefix of the "
                f"assistant turn (step {messages[i]['step']}); it cannot be trained per step"
            )
        added = full[len(context) :]
        ends = [added.find(t) + len(t) for t in specials if t in added]
        piece = added[: min(ends)] if ends else added
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
