"""Critic distillation: examples whose loss falls on the verdict reply only (real SmolLM2 chat
template, the one masking function), and `srft train-critic` end to end: scripted-teacher
episodes in bwrap -> a few training steps of the embedded model -> its export. Serving such an
export in the critic pool, labelling a stream, is the end-to-end test of the loop's distil stage
(tests/rounds/test_critic_stage.py: round 1 labelled by the distilled critic through vLLM)."""

import json
import time
from collections import Counter

import pytest

from srft_ray.critic.config import PromptConfig
from srft_ray.critic.distill import (
    DistillConfig,
    build_examples,
    critic_train_config,
)
from srft_ray.critic.prompts import PromptRenderer
from srft_ray.critic.verdicts import verdict_reply
from srft_ray.data.model import StepLabel
from srft_ray.data.store import TrajectoryStore
from srft_ray.masking import render_trajectory

from .trajectories import make_trajectory


def _check_examples(examples_dir, labelled: dict, config: DistillConfig, tokenizer, expected):
    """Every example: the prompt the served critic gets, then the reply + end-of-turn, trained."""
    renderer = PromptRenderer(tokenizer, config.prompt_key, config.prompt)
    masking = critic_train_config(config, "model", examples_dir, examples_dir).masking
    seen = set()
    for example in TrajectoryStore(examples_dir):
        source = labelled[example.extra["source_trajectory"]]
        rendered = render_trajectory(example, tokenizer, masking)
        prompt = renderer.single_pass_prompt(source)
        assert rendered.input_ids[: len(prompt)] == prompt  # train prompt == serve prompt
        assert rendered.loss_mask == [0] * len(prompt) + [1] * (
            len(rendered.input_ids) - len(prompt)
        )
        trained = [t for t, m in zip(rendered.input_ids, rendered.loss_mask) if m]
        assert tokenizer.decode(trained) == verdict_reply(expected(source)) + "<|im_end|>"
        assert trained[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
        seen.add(source.trajectory_id)
    return seen


def test_examples_train_the_verdict_reply_only(tokenizer, tmp_path):
    first, second, gap = (
        make_trajectory(i, num_steps=n) for i, n in (("a", 5), ("b", 9), ("c", 4))
    )
    first.steps[0].labels.append(
        StepLabel(label="unnecessary", source="replay", rationale="tests unchanged")
    )
    gap.steps[1].labels = [StepLabel(label="good", source="critic", model="some-critic")]
    TrajectoryStore(tmp_path / "labelled").append([first, second, gap])
    config = DistillConfig(prompt=PromptConfig(version="distilled-v1", max_observation_chars=200))
    stats = build_examples(config, [tmp_path / "labelled"], tmp_path / "examples", tokenizer)
    # "c" has a step only a critic labelled: not a training source, so the trajectory is skipped.
    assert (stats.num_trajectories, stats.num_examples, stats.num_skipped_unknown) == (3, 2, 1)
    # The teacher's hand-written truth (its first label), with replay winning on a's first step.
    truth = {t.trajectory_id: [s.labels[0].label for s in t.steps] for t in (first, second)}
    truth["a"][0] = "unnecessary"
    assert stats.kinds == dict(Counter(truth["a"] + truth["b"]))
    labelled = {t.trajectory_id: t for t in TrajectoryStore(tmp_path / "labelled")}
    seen = _check_examples(
        tmp_path / "examples", labelled, config, tokenizer, lambda t: truth[t.trajectory_id]
    )
    assert seen == {"a", "b"}
    example = next(iter(TrajectoryStore(tmp_path / "examples")))
    assert "## Outcome" not in example.task_prompt and "tests unchanged" not in example.task_prompt
    # Scripted labels only (no replay): the hand truth as the teacher wrote it.
    plain = DistillConfig(label_sources=["scripted"])
    stats = build_examples(plain, [tmp_path / "labelled"], tmp_path / "examples", tokenizer)
    truth["a"][0] = first.steps[0].labels[0].label
    assert stats.num_examples == 2 and stats.kinds == dict(Counter(truth["a"] + truth["b"]))


def _episodes(num_tasks: int):
    from srft_ray.agent.episode import EpisodeConfig, EpisodeRunner
    from srft_ray.agent.policies import PolicyConfig
    from srft_ray.agent.scripted import ScriptedConfig
    from srft_ray.tasks.source import load_task_source

    source = load_task_source("embedded")
    policy = PolicyConfig(kind="scripted", scripted=ScriptedConfig())
    runner = EpisodeRunner(EpisodeConfig(policy=policy), task_source=source)
    try:
        return [runner.run(task, 0) for task in source.tasks()[:num_tasks]]
    finally:
        runner.close()


@pytest.mark.slow
def test_train_critic_job_writes_examples_metrics_and_an_export(tokenizer, tmp_path):
    from srft_ray.jobs.train_critic import main as train_critic_job

    trajs = _episodes(4)
    TrajectoryStore(tmp_path / "labelled").append(trajs)
    overrides = [
        "critic.prompt.max_observation_chars=300",
        "critic.prompt.max_assistant_chars=600",
        "critic.train.max_steps=2",
        "critic.train.tokens_per_micro_batch=2560",  # one example per row
        "critic.train.gradient_checkpointing=false",
        "critic.train.freeze_embeddings=true",  # a CPU-sized step: train the top 6 of 30 layers
        "critic.train.freeze_layers=24",
        "critic.train.lr=0.00001",
    ]
    began = time.monotonic()
    out = tmp_path / "critic"
    code = train_critic_job(["--store", str(tmp_path / "labelled"), "--out", str(out), *overrides])
    assert code == 0
    summary = json.loads((out / "train_critic.json").read_text())
    print(f"train-critic: {time.monotonic() - began:.1f}s", json.dumps(summary, indent=1))
    export = out / "distilled-SmolLM2-135M-Instruct"
    assert summary["export_dir"] == str(export) and (export / "model.safetensors").exists()
    assert summary["examples"]["num_examples"] == 4 and summary["train"]["num_optimizer_steps"] == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    config = DistillConfig(
        prompt=PromptConfig(
            version="distilled-v1", max_observation_chars=300, max_assistant_chars=600
        )
    )
    labelled = {t.trajectory_id: t for t in trajs}

    def truth(traj):
        return [s.label_from("replay", "scripted").label for s in traj.steps]

    assert len(_check_examples(out / "examples", labelled, config, tokenizer, truth)) == 4
