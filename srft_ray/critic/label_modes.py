"""Label modes that combine the replay source with the critic (the critic-and-rules modes live in
srft_ray.critic.rules.combine).

- replay: the replay source's kind (unknown where replay could not decide).
- replay_else_critic: replay's kind where it decided, else the critic's.
- consensus: a kind only where replay and the critic agree on it (mistake only where both say
  mistake, good only where both say good); every disagreement is `unknown`, which training
  treats as `masking.unknown_as` says (good, i.e. trained, by default; set it to mistake to mask
  every step the two sources disagree on). The split is counted, so its effect is measurable. Those unknowns count toward the
  critique pool's `max_unknown_share` guard: with a weak critic, consensus is mostly unknown.
A critic verdict whose confidence is below `critic.min_confidence` counts as no verdict.
"""

from __future__ import annotations

from srft_ray.data.model import StepLabel, canonical_label

REPLAY_MODES = ("replay", "replay_else_critic", "consensus")
CRITIC_FREE_MODES = ("rules", "replay")
"""Modes that need no critic model (no engine is started for them)."""


def gated(critic: StepLabel | None, min_confidence: float) -> str:
    """The critic's kind, or unknown when it gave none or was less sure than `min_confidence`."""
    if critic is None:
        return "unknown"
    if critic.confidence is not None and critic.confidence < min_confidence:
        return "unknown"
    return canonical_label(critic.label)


def combine_replay(mode: str, replay: StepLabel | None, critic_kind: str) -> str:
    """The final kind under a replay mode (see the module doc)."""
    replay_kind = canonical_label(replay.label) if replay is not None else "unknown"
    if mode == "replay":
        return replay_kind
    if mode == "replay_else_critic":
        return replay_kind if replay_kind != "unknown" else critic_kind
    if mode == "consensus":
        return replay_kind if replay_kind == critic_kind else "unknown"
    raise ValueError(f"unknown replay label mode {mode!r} (known: {', '.join(REPLAY_MODES)})")
