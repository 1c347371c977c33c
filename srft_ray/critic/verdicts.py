"""Critic verdicts: the structured-output contracts, their parsing, confidence, bad-output kinds.

Verdicts come back through vLLM structured output (a choice of "good"/"bad", or a JSON schema with
exactly N verdicts), so a well-behaved engine always returns parseable text; the parser still
checks everything, because an OpenAI-compatible server may ignore the constraint, a reply can be
cut by max_tokens, and a prompt can overflow the context. Every such case raises
`BadCriticOutput` with a kind that the critic counts; the policy is to label the step(s) `unknown`.

Confidence is the probability of the verdict renormalised over the two verdicts: for the token
that decided it, p(chosen) / (p(chosen) + p(other)), where p(other) is read from the top-k
logprobs (when the other verdict is not among them, the smallest top-k probability bounds it, so
the confidence is never overstated). Logprobs are the model's raw distribution, before the
structured-output mask, so this measures what the model believed, not what it was allowed to say.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

from srft_ray.vllm_engine import GenerateResult

VERDICTS = ("good", "bad")
BAD_OUTPUT_KINDS = ("unparseable", "wrong_count", "overflow", "engine_error")


class BadCriticOutput(Exception):
    """A critic reply that yields no verdict; `kind` is one of BAD_OUTPUT_KINDS."""

    def __init__(self, kind: str, detail: str):
        assert kind in BAD_OUTPUT_KINDS, kind
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(kw_only=True)
class Verdict:
    label: str
    """good, bad or unknown."""
    confidence: float | None
    rationale: str = ""


def verdicts_schema(num_steps: int) -> dict:
    """JSON schema of a single_pass reply: exactly `num_steps` verdicts, in step order."""
    return {
        "type": "object",
        "properties": {
            "verdicts": {
                "type": "array",
                "items": {"type": "string", "enum": list(VERDICTS)},
                "minItems": num_steps,
                "maxItems": num_steps,
            }
        },
        "required": ["verdicts"],
        "additionalProperties": False,
    }


def _other(label: str) -> str:
    return "bad" if label == "good" else "good"


def renormalised_confidence(chosen_logprob: float, top: dict[str, float] | None, alt: str) -> float:
    """p(chosen) / (p(chosen) + p(alt)); p(alt) from `top`, bounded by its minimum if absent."""
    p_chosen = math.exp(chosen_logprob)
    if top and alt in top:
        p_alt = math.exp(top[alt])
    elif top:
        p_alt = math.exp(min(top.values()))
    else:
        return p_chosen
    return p_chosen / (p_chosen + p_alt) if p_chosen + p_alt > 0 else 0.5


def _verdict_positions(result: GenerateResult, pieces: list[str]) -> list[tuple[int, str]]:
    """(token index, verdict) for each verdict word, found in the decoded token pieces."""
    found = []
    for index, piece in enumerate(pieces):
        word = piece.strip().strip('"[], ')
        if word in VERDICTS:
            found.append((index, word))
    return found


def _token_confidence(result: GenerateResult, index: int, piece: str, label: str) -> float | None:
    if result.logprobs is None or index >= len(result.logprobs):
        return None
    top = result.top_logprobs[index] if result.top_logprobs else None
    return renormalised_confidence(result.logprobs[index], top, piece.replace(label, _other(label)))


def parse_choice(result: GenerateResult, pieces: list[str]) -> Verdict:
    """A per_step reply constrained to "good"/"bad"; `pieces` are its decoded tokens."""
    text = result.text.strip()
    if text not in VERDICTS:
        raise BadCriticOutput("unparseable", f"expected good or bad, got {result.text[:80]!r}")
    positions = _verdict_positions(result, pieces)
    confidence = None
    if positions:
        index, _ = positions[0]
        confidence = _token_confidence(result, index, pieces[index], text)
    return Verdict(label=text, confidence=confidence)


def parse_verdict_list(result: GenerateResult, pieces: list[str], num_steps: int) -> list[Verdict]:
    """A single_pass reply: JSON {"verdicts": [...]} with exactly `num_steps` good/bad strings."""
    if result.finish_reason == "length":
        raise BadCriticOutput("unparseable", f"reply cut at max_tokens: {result.text[-80:]!r}")
    try:
        data = json.loads(result.text)
    except json.JSONDecodeError as exc:
        raise BadCriticOutput("unparseable", f"not JSON ({exc}): {result.text[:80]!r}") from None
    verdicts = data.get("verdicts") if isinstance(data, dict) else None
    if not isinstance(verdicts, list) or not all(v in VERDICTS for v in verdicts):
        raise BadCriticOutput("unparseable", f"no list of good/bad verdicts: {result.text[:80]!r}")
    if len(verdicts) != num_steps:
        raise BadCriticOutput("wrong_count", f"{len(verdicts)} verdicts for {num_steps} steps")
    positions = _verdict_positions(result, pieces)
    if [word for _, word in positions] != verdicts:
        positions = []  # pieces do not line up with the JSON (e.g. merged tokens): no confidence
    out = []
    for i, label in enumerate(verdicts):
        confidence = None
        if positions:
            index = positions[i][0]
            confidence = _token_confidence(result, index, pieces[index], label)
        out.append(Verdict(label=label, confidence=confidence))
    return out


def vote(samples: list[Verdict]) -> Verdict:
    """Majority over k sampled verdicts; confidence = the winner's share, a tie is unknown."""
    counts = Counter(v.label for v in samples if v.label in VERDICTS)
    if not counts:
        return Verdict(label="unknown", confidence=None, rationale="no valid sample")
    ranked = counts.most_common()
    share = ranked[0][1] / len(samples)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return Verdict(label="unknown", confidence=0.5, rationale=f"tied vote {dict(counts)}")
    return Verdict(label=ranked[0][0], confidence=share, rationale=f"vote {dict(counts)}")


def classify_engine_error(exc: BaseException) -> BadCriticOutput:
    """An engine that rejected a request: overflow when the prompt was too long, else an error."""
    text = str(exc)
    lowered = text.lower()
    markers = ("maximum model length", "maximum context length", "too long", "max_model_len")
    if any(marker in lowered for marker in markers):
        return BadCriticOutput("overflow", text.strip().splitlines()[-1][:200])
    return BadCriticOutput("engine_error", f"{type(exc).__name__}: {text[:200]}")
