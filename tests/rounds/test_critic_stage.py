"""A critic distilled inside `srft run` (train_critic=true): round 0 labels with replay, the
`distil` stage trains a critic on those labels, later rounds are labelled by it through the vLLM
critique pool, and a rerun redoes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from srft_ray.critic.config import CriticConfig
from srft_ray.data.store import TrajectoryStore
from srft_ray.jobs.loop import parse_config
from srft_ray.present.progress import format_round_summary
from srft_ray.rounds.config import EMBEDDED_CONFIG
from srft_ray.rounds.critic_stage import critic_export, critic_of_round
from srft_ray.runstate.manifest import RoundManifest

REPO = Path(__file__).resolve().parents[2]
EXPORT_NAME = "distilled-SmolLM2-135M-Instruct"


def _ctx(run_dir: Path, *overrides: str) -> SimpleNamespace:
    config = parse_config([f"run_dir={run_dir}", *overrides])
    base = str(run_dir / "models" / "SmolLM2-135M-Instruct")
    return SimpleNamespace(config=config, base_model=base, run=SimpleNamespace(run_dir=run_dir))


def test_a_trained_critic_needs_a_label_mode_that_asks_it(tmp_path):
    assert parse_config([f"run_dir={tmp_path}", "train_critic=true", "critic.labels=consensus"])
    with pytest.raises(ValueError, match="critic.labels=replay never asks a critic"):
        parse_config([f"run_dir={tmp_path}", "train_critic=true"])
    done = subprocess.run(
        [sys.executable, "-m", "srft_ray.jobs.loop", "--run-dir", str(tmp_path / "run"),
         "train_critic=true", "critic.labels=rules"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "critic.labels=rules never asks a critic" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def test_each_round_labels_with_the_critic_it_should(tmp_path):
    critic = CriticConfig(labels="consensus", mode="per_step")
    off = _ctx(tmp_path, "critic.labels=consensus")
    assert critic_of_round(off, 1, critic) is critic  # no trained critic: the config's own
    ctx = _ctx(tmp_path, "train_critic=true", "critic.labels=consensus",
               "critic_distill.prompt.max_observation_chars=300")  # fmt: skip
    first = critic_of_round(ctx, 0, critic)
    assert first.labels == "replay" and first.mode == "per_step"  # the labels it learns from
    with pytest.raises(FileNotFoundError, match=f"round-000/critic/{EXPORT_NAME}"):
        critic_of_round(ctx, 1, critic)
    export = critic_export(ctx)
    export.mkdir(parents=True)
    later = critic_of_round(ctx, 2, critic)
    assert later.labels == "consensus" and later.mode == "single_pass"
    assert later.engine.model == str(export) and later.prompt.version == "distilled-v1"
    assert later.prompt.max_observation_chars == 300  # served with the prompt it trained on


def test_the_distil_stage_is_recorded_only_where_it_ran(tmp_path):
    plain = RoundManifest.load_or_create(tmp_path, 0)
    assert "distil" not in plain.stages
    assert "\n  distil" not in format_round_summary(plain)
    stage = plain.stage("distil")
    stage.start({"data": "abc"})
    stage.finish(outputs={}, metrics={"model_name": EXPORT_NAME, "num_examples": 4,
                                      "num_optimizer_steps": 2, "final_loss": 0.5})  # fmt: skip
    loaded = RoundManifest.load(plain.path)
    assert loaded.stages["distil"].status == "done"
    assert f"critic {EXPORT_NAME} from 4 examples, 2 steps, loss 0.5" in format_round_summary(
        loaded
    )
    with pytest.raises(KeyError, match="unknown stage"):
        loaded.stage("distill")


SMALL = [
    "num_rounds=2",
    "teacher_rounds=2",  # both rounds collect with the teacher: only labelling differs
    "last_stage=critique",
    "evaluate_base=false",
    "write_report=false",
    "tasks.source=generated:40:0",
    "tasks.max_train_tasks=2",  # CI time: the critic engine labels 2 episodes
    "collect.num_workers=1",
    "collect.episodes_per_worker=2",
    "critique_pool.resources.num_cpus=0.25",
    "train_critic=true",
    "critic.labels=replay_else_critic",
    "critic.engine.kv_cache_memory_gb=0.5",
    "critic_distill.prompt.max_observation_chars=300",
    "critic_distill.prompt.max_assistant_chars=600",
    "critic_distill.train.max_steps=2",
    "critic_distill.train.tokens_per_micro_batch=2560",
    "critic_distill.train.gradient_checkpointing=false",
    "critic_distill.train.freeze_embeddings=true",  # a CPU-sized step: the top 6 of 30 layers
    "critic_distill.train.freeze_layers=24",
]


@pytest.mark.slow
def test_a_run_distils_its_critic_and_labels_later_rounds_with_it(ray_cluster, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "srft_ray.jobs.loop", "-c", str(EMBEDDED_CONFIG),
               "--run-dir", str(run_dir), f"ray.address={ray_cluster['address']}", *SMALL]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    first = json.loads((run_dir / "round-000" / "manifest.json").read_text())["stages"]
    distil = first["distil"]
    export = run_dir / "round-000" / "critic" / EXPORT_NAME
    assert distil["status"] == "done" and (export / "model.safetensors").exists()
    assert distil["metrics"]["num_optimizer_steps"] == 2
    teacher_steps = [
        s for t in TrajectoryStore(run_dir / "round-000" / "labelled") for s in t.steps
    ]
    assert all(s.label_from("replay") for s in teacher_steps)
    assert not any(lab.source == "critic" for s in teacher_steps for lab in s.labels)
    assert distil["metrics"]["num_examples"] == len(
        TrajectoryStore(run_dir / "round-000" / "labelled").read_all()
    )

    # Round 1: the distilled critic judged every step, beside replay; replay_else_critic decides.
    second = json.loads((run_dir / "round-001" / "manifest.json").read_text())["stages"]
    assert "distil" not in second and second["critique"]["status"] == "done"
    later = TrajectoryStore(run_dir / "round-001" / "labelled").read_all()
    assert len(later) == 2
    for traj in later:
        for step in traj.steps:
            critic = [
                lab for lab in step.labels if lab.source == "critic" and lab.model == EXPORT_NAME
            ]
            assert critic and critic[0].prompt_version == "single_pass/distilled-v1"
            assert step.label_from("replay") is not None

    # A rerun on the same inputs redoes no stage, the distillation included.
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "[distil] round 0 distil: done earlier on the same inputs, skipped" in again.stdout
    assert (
        again.stdout.count("on the same inputs, skipped") == 5
    )  # 2 x (collect, critique) + distil
    assert json.loads((run_dir / "round-000" / "manifest.json").read_text())["stages"] == first
