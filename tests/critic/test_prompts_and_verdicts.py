"""Prompt rendering (real SmolLM2 chat template) and verdict parsing, no engine needed."""

import math

import pytest

from srft_ray.critic.config import PromptConfig
from srft_ray.critic.prompts import PromptRenderer, get_template, truncate_middle
from srft_ray.critic.verdicts import (
    BadCriticOutput,
    Verdict,
    classify_engine_error,
    parse_choice,
    parse_verdict_list,
    renormalised_confidence,
    vote,
)
from srft_ray.vllm_engine import GenerateResult

from .trajectories import make_trajectory


def test_truncate_middle_keeps_head_tail_and_says_what_was_cut():
    text = "HEAD" + "m" * 1000 + "TAIL"
    cut = truncate_middle(text, 100)
    assert len(cut) <= 100
    assert cut.startswith("HEAD") and cut.endswith("TAIL")
    assert "[... 908 chars truncated ...]" in cut
    assert truncate_middle("short", 100) == "short"


def test_per_step_prompts_share_the_history_prefix(tokenizer):
    traj = make_trajectory("t", num_steps=6, pad_observations=3000)
    renderer = PromptRenderer(tokenizer, "per_step/v1", PromptConfig(max_observation_chars=500))
    prompts = renderer.per_step_prompts(traj)
    assert len(prompts) == 6
    question_len = len(
        tokenizer(
            get_template("per_step/v1").question.format(index=6)
            + "<|im_end|>\n<|im_start|>assistant\n",
            add_special_tokens=False,
        )["input_ids"]
    )
    for k in range(5):
        history = prompts[k][: len(prompts[k]) - question_len - 1]
        assert prompts[k + 1][: len(history)] == history  # id-for-id prefix
    text = tokenizer.decode(prompts[-1])
    assert text.startswith("<|im_start|>system\nYou review the work")
    assert text.endswith("Answer with one word: good or bad.<|im_end|>\n<|im_start|>assistant\n")
    assert (
        "chars truncated" in text
        and "## Outcome" in text
        and "RESOLVED" not in text.split("## Trajectory")[1][:0]
    )
    assert "return code 4" in text


def test_single_pass_prompt_lists_every_step_and_the_outcome(tokenizer):
    traj = make_trajectory("t", num_steps=4)
    renderer = PromptRenderer(tokenizer, "single_pass/v1", PromptConfig())
    text = tokenizer.decode(renderer.single_pass_prompt(traj))
    assert all(f"### Step {i}" in text for i in range(1, 5))
    assert "NOT RESOLVED" in text and "tests/test_calc.py::test_add: FAILED" in text
    assert "exactly 4 strings" in text
    with pytest.raises(KeyError, match="unknown critic prompt"):
        get_template("per_step/v999")


def _result(text, pieces_logprobs=None, finish="stop", top=None):
    return GenerateResult(
        token_ids=[],
        text=text,
        finish_reason=finish,
        num_prompt_tokens=10,
        logprobs=[lp for _, lp in pieces_logprobs] if pieces_logprobs else None,
        top_logprobs=top,
    )


def test_choice_confidence_is_renormalised_over_the_two_verdicts():
    top = [{"bad": math.log(0.3), "good": math.log(0.1), "The": math.log(0.5)}]
    verdict = parse_choice(_result("bad", [("bad", math.log(0.3))], top=top), ["bad"])
    assert verdict.label == "bad"
    assert verdict.confidence == pytest.approx(0.75)  # 0.3 / (0.3 + 0.1)
    # The other verdict missing from the top-k: bounded by the smallest candidate (0.1 here).
    top = [{"bad": math.log(0.6), "x": math.log(0.2), "y": math.log(0.2)}]
    assert renormalised_confidence(math.log(0.6), top[0], "good") == pytest.approx(0.75)
    with pytest.raises(BadCriticOutput) as err:
        parse_choice(_result("maybe"), ["maybe"])
    assert err.value.kind == "unparseable"


def test_verdict_list_bad_outputs_are_classified():
    good = parse_verdict_list(
        _result('{"verdicts": ["good", "bad"]}', [("x", 0.0)] * 2), ["good", "bad"], 2
    )
    assert [v.label for v in good] == ["good", "bad"]
    cases = {
        '{"verdicts": ["good", "ba': "unparseable",
        "Step 1 was good": "unparseable",
        '{"verdicts": ["good", "meh"]}': "unparseable",
        '["good", "bad"]': "unparseable",
        '{"verdicts": ["good"]}': "wrong_count",
        '{"verdicts": ["good", "bad", "bad"]}': "wrong_count",
    }
    for text, kind in cases.items():
        with pytest.raises(BadCriticOutput) as err:
            parse_verdict_list(_result(text), [], 2)
        assert err.value.kind == kind, text
    with pytest.raises(BadCriticOutput, match="max_tokens"):
        parse_verdict_list(_result('{"verdicts": ["good", "bad"]}', finish="length"), [], 2)


def test_vote_and_engine_errors():
    votes = [Verdict(label=v, confidence=None) for v in ("bad", "good", "bad")]
    assert (vote(votes).label, vote(votes).confidence) == ("bad", pytest.approx(2 / 3))
    assert vote(votes[:2]).label == "unknown"
    too_long = ValueError(
        "The decoder prompt (length 9000) is longer than the maximum model length of 8192."
    )
    assert classify_engine_error(too_long).kind == "overflow"
    vllm_032 = ValueError(
        "This model's maximum context length is 8192 tokens. However, your prompt contains 10808 "
        "input tokens, which exceeds this limit even without any output tokens."
    )
    assert classify_engine_error(vllm_032).kind == "overflow"
    assert classify_engine_error(RuntimeError("CUDA error")).kind == "engine_error"
