"""Critic verdicts: the structured-output contracts, their parsing, confidence, bad-output kinds.

Two vocabularies: the legacy two verdicts ("good"/"bad", per_step and single_pass/v1; a stored
"bad" reads as "mistake") and the paper's four step KINDS (good, unnecessary, mistake, recover),
which a template asks for with `PromptTemplate.kinds` (single_pass/privileged-v1, distilled-v1).
Verdicts come back through vLLM structured output (a choice of "good"/"bad", or a JSON schema with
exactly N verdicts, each one of the template's kinds), so a well-behaved engine always returns parseable text; the parser still
checks everything, because an OpenAI-compatible server may ignore the constraint, a reply can be
cut by max_tokens, and a prompt can overflow the context. Every such case raises
`BadCriticOutput` with a kind that the critic counts; the policy is to label the step(s) `unknown`.

Confidence is the probability of the verdict renormalised over the two verdicts: for the token
that decided it, p(chosen) / (p(chosen) + p(other)), where p(other) is read from the top-k
logprobs (when the other verdict is not among them, the smallest top-k probability bounds it, so
the confidence is never overstated). With the four kinds the deciding token is the first token of
the kind's word (the kinds differ in their first letter): p(chosen) is renormalised over the
top-k candidates at that position that begin each other kind, each absent kind bounded the same
way. Logprobs are the model's raw distribution, before the
structured-output mask, so this measures what the model believed, not what it was allowed to say.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass

from srft_ray.vllm_engine import GenerateResult

VERDICTS = ("good", "bad")
"""The legacy two verdicts (per_step, single_pass/v1)."""
KINDS = ("good", "unnecessary", "mistake", "recover")
"""The paper's four step kinds, as four-kind templates ask for them."""
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
    """One of the template's kinds (good/bad, or the four KINDS), or unknown."""
    confidence: float | None
    rationale: str = ""


def verdicts_schema(num_steps: int, kinds: tuple[str, ...] = VERDICTS) -> dict:
    """JSON schema of a single_pass reply: exactly `num_steps` of `kinds`, in step order."""
    return {
        "type": "object",
        "properties": {
            "verdicts": {
                "type": "array",
                "items": {"type": "string", "enum": list(kinds)},
                "minItems": num_steps,
                "maxItems": num_steps,
            }
        },
        "required": ["verdicts"],
        "additionalProperties": False,
    }


def verdict_reply(labels: list[str]) -> str:
    """The reply text a single_pass critic gives for `labels` (what a distilled critic learns)."""
    return json.dumps({"verdicts": list(labels)})


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


def parse_verdict_list(
    result: GenerateResult,
    pieces: list[str],
    num_steps: int,
    kinds: tuple[str, ...] = VERDICTS,
) -> list[Verdict]:
    """A single_pass reply: JSON {"verdicts": [...]} with exactly `num_steps` of `kinds`."""
    if result.finish_reason == "length":
        raise BadCriticOutput("unparseable", f"reply cut at max_tokens: {result.text[-80:]!r}")
    try:
        data = json.loads(result.text)
    except json.JSONDecodeError as exc:
        raise BadCriticOutput("unparseable", f"not JSON ({exc}): {result.text[:80]!r}") from None
    verdicts = data.get("verdicts") if isinstance(data, dict) else None
    if not isinstance(verdicts, list) or not all(v in kinds for v in verdicts):
        names = "/".join(kinds)
        raise BadCriticOutput("unparseable", f"no list of {names} verdicts: {result.text[:80]!r}")
    if len(verdicts) != num_steps:
        raise BadCriticOutput("wrong_count", f"{len(verdicts)} verdicts for {num_steps} steps")
    if kinds != VERDICTS:
        confidences = _kind_confidences(result, pieces, verdicts, kinds)
        return [Verdict(label=v, confidence=c) for v, c in zip(verdicts, confidences)]
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


def _kind_confidences(
    result: GenerateResult, pieces: list[str], verdicts: list[str], kinds: tuple[str, ...]
) -> list[float | None]:
    """Per verdict: p(its first token) renormalised over the candidates that begin another kind
    (see the module doc); None where the tokens do not line up with the text."""
    words = list(re.finditer('"(' + "|".join(map(re.escape, kinds)) + ')"', result.text))
    if (
        result.logprobs is None
        or not "".join(pieces).startswith(result.text)  # the stop token may follow the text
        or [m.group(1) for m in words] != verdicts
    ):
        return [None] * len(verdicts)
    starts, offset = [], 0
    for piece in pieces:
        starts.append(offset)
        offset += len(piece)
    out: list[float | None] = []
    for match in words:
        begin = match.start(1)
        index = max(i for i, start in enumerate(starts) if start <= begin and pieces[i])
        if index >= len(result.logprobs):
            out.append(None)
            continue
        before = result.text[starts[index] : begin]  # e.g. the opening quote in the same token
        top = result.top_logprobs[index] if result.top_logprobs else None
        p_chosen = math.exp(result.logprobs[index])
        if not top:
            out.append(p_chosen)
            continue
        p_others = 0.0
        for kind in kinds:
            if kind == match.group(1):
                continue
            found = [
                math.exp(lp)
                for token, lp in top.items()
                if token.startswith(before)
                and token[len(before) :]
                and (kind.startswith(token[len(before) :]) or token[len(before) :].startswith(kind))
            ]
            p_others += sum(found) if found else math.exp(min(top.values()))
        out.append(p_chosen / (p_chosen + p_others) if p_chosen + p_others > 0 else 0.5)
    return out


def vote(samples: list[Verdict]) -> Verdict:
    """Majority over k sampled verdicts; confidence = the winner's share, a tie is unknown."""
    counts = Counter(v.label for v in samples if v.label != "unknown")
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
