"""Critic distillation: fine-tune a model into a single_pass critic on labelled trajectories.

Each labelled trajectory becomes one critic conversation, a small Trajectory of its own:
  system    the template's system prompt ("single_pass/distilled-v1": the four kinds),
  user      the critic prompt: the task and the trajectory with truncated observations; never the
            outcome, the tests or the reference patch (a critic that needs them cannot judge a
            student's episode before it is graded),
  assistant the JSON verdict list, one kind per step (verdicts.verdict_reply).
These conversations are written as a TrajectoryStore (`<out_dir>/examples`) and trained by the
project's own trainer in masking mode "all": srft_ray.masking.render_trajectory, the one function
that builds ids and loss masks, puts the loss on the reply's tokens and its end-of-turn token only,
and the rendered prompt is id for id the prompt the served critic gets (PromptRenderer). The export
(`<out_dir>/<model_name>`, Hugging Face safetensors) is served by vLLM in the critic pool like any
critic model: `critic_config(export_dir, config)`.

Training labels: per step, the label of the first source in `label_sources` that labelled it
(default replay, then the scripted teacher's ground truth; a legacy "bad" reads as "mistake"). A
trajectory with any step left unknown (no source labelled it, or the label is unknown) is skipped
whole and counted: the reply must hold one kind for every step, and a made-up kind would teach
the critic a verdict nobody gave.

    srft train-critic --store runs/r0/labelled --out runs/critic
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from srft_ray.critic.config import CriticConfig, PromptConfig
from srft_ray.critic.prompts import PromptRenderer
from srft_ray.critic.verdicts import verdict_reply
from srft_ray.data.model import Outcome, Provenance, Step, Trajectory, canonical_label
from srft_ray.masking import MaskingConfig
from srft_ray.train.config import TrainConfig
from srft_ray.vllm_engine import EngineConfig

DISTILL_AGENT = "srft-critic-distill/1"
"""Provenance.agent of a critic conversation."""
logger = logging.getLogger(__name__)


def _default_train() -> TrainConfig:
    # The embedded policy training's speed settings: on 2 AVX512-BF16 cores a critic step ran at
    # 101 tokens/s with the TrainConfig defaults, 132 with frozen embeddings and no gradient
    # checkpointing, 242 with bf16 on top ("fast": fp32 where the CPU lacks native bf16).
    return TrainConfig(
        tokens_per_micro_batch=4096,
        lr=2e-5,
        warmup_steps=2,
        num_epochs=2,
        mixed_precision="fast",
        freeze_embeddings=True,
        gradient_checkpointing=False,
    )


@dataclass(kw_only=True)
class DistillConfig:
    """How a critic is distilled from labelled trajectories (`srft train-critic`)."""

    label_sources: list[str] = field(default_factory=lambda: ["replay", "scripted"])
    """Which label teaches a step, in priority order (the first source that labelled it wins)."""
    prompt: PromptConfig = field(default_factory=lambda: PromptConfig(version="distilled-v1"))
    """What the trained critic is shown: template single_pass/<prompt.version> (a four-kind one
    without privileged information) and its budgets; serve the critic with the same."""
    model_name: str = ""
    """Folder name of the export, which the served critic records in StepLabel.model (so
    critic-eval keeps critics apart); empty: "distilled-<base model folder name>"."""
    train: TrainConfig = field(default_factory=_default_train)
    """The fine-tuning run (model_path: the model to distil into, empty for the embedded one).
    dataset_dirs, masking and output_dir are set by train_critic: the examples it writes,
    mode "all" (the reply is the only assistant turn), the export folder."""

    @property
    def prompt_key(self) -> str:
        return f"single_pass/{self.prompt.version}"


@dataclass(kw_only=True)
class ExampleStats:
    """What happened to every labelled trajectory on its way to a critic example."""

    num_trajectories: int = 0
    num_examples: int = 0
    num_skipped_unknown: int = 0
    """Trajectories with a step that no source in label_sources labelled (or labelled unknown)."""
    num_skipped_empty: int = 0
    """Trajectories without steps."""
    kinds: dict[str, int] = field(default_factory=dict)
    """Steps per taught kind."""


def step_kinds(traj: Trajectory, label_sources: Iterable[str]) -> list[str] | None:
    """The kind each step is taught as (first source in `label_sources` wins); None when any
    step is left unknown."""
    sources = tuple(label_sources)
    kinds = []
    for step in traj.steps:
        found = step.label_from(*sources)
        kind = canonical_label(found.label) if found is not None else "unknown"
        if kind == "unknown":
            return None
        kinds.append(kind)
    return kinds


def critic_conversation(traj: Trajectory, kinds: list[str], renderer: PromptRenderer) -> Trajectory:
    """The critic example of `traj`: the critic's prompt as the user turn, `kinds` as its reply."""
    return Trajectory(
        trajectory_id=f"critic:{traj.trajectory_id}",
        instance_id=traj.instance_id,
        system_prompt=renderer.template.system,
        task_prompt=renderer.single_pass_text(traj),
        steps=[Step(index=0, assistant=verdict_reply(kinds))],
        outcome=Outcome(exit_status="critic_example"),
        provenance=Provenance(agent=DISTILL_AGENT, created_at=time.time()),
        observation_template="",
        extra={"critic_prompt": renderer.template.key, "source_trajectory": traj.trajectory_id},
    )


def build_examples(
    config: DistillConfig, stores: Iterable[str | Path], examples_dir: Path, tokenizer
) -> ExampleStats:
    """Write the critic conversation of every usable trajectory of `stores` to `examples_dir`
    (replaced if it exists)."""
    from srft_ray.data.store import TrajectoryStore

    renderer = PromptRenderer(tokenizer, config.prompt_key, config.prompt)
    if renderer.template.privileged:
        raise ValueError(f"{config.prompt_key}: a distilled critic cannot see privileged facts")
    shutil.rmtree(examples_dir, ignore_errors=True)
    out = TrajectoryStore(examples_dir)
    stats, kinds_seen, pending = ExampleStats(), Counter(), []
    for store in stores:
        if not Path(store).is_dir():
            raise FileNotFoundError(f"{store}: labelled store does not exist")
        for traj in TrajectoryStore(store):
            stats.num_trajectories += 1
            if not traj.steps:
                stats.num_skipped_empty += 1
                continue
            kinds = step_kinds(traj, config.label_sources)
            if kinds is None:
                stats.num_skipped_unknown += 1
                continue
            kinds_seen.update(kinds)
            pending.append(critic_conversation(traj, kinds, renderer))
            if len(pending) >= 64:  # one Parquet part per 64 examples
                stats.num_examples += out.append(pending)
                pending = []
    stats.num_examples += out.append(pending) if pending else 0
    out.mark_complete()
    stats.kinds = dict(sorted(kinds_seen.items()))
    return stats


def critic_train_config(config: DistillConfig, model_path: str, examples: Path, export: Path):
    """The trainer's run for these examples: mode "all" over the one assistant turn."""
    masking = MaskingConfig(mode="all", max_length=None, observation_template="")
    return replace(
        config.train,
        model_path=model_path,
        dataset_dirs=[str(examples)],
        dataset_modes=[],
        masking=masking,
        output_dir=str(export),
    )


def critic_config(
    export_dir: str | Path,
    config: DistillConfig,
    *,
    engine: EngineConfig | None = None,
    **overrides,
) -> CriticConfig:
    """How the critic pool serves a distilled critic: vLLM over the export (`engine`'s other
    settings kept), single_pass, the prompt it was trained with; `overrides`: CriticConfig
    fields (labels, max_model_len, ...)."""
    return CriticConfig(
        mode="single_pass",
        prompt=replace(config.prompt),
        engine=replace(engine or EngineConfig(), model=str(export_dir)),
        **overrides,
    )


def train_critic(config: DistillConfig, stores: Iterable[str | Path], out_dir: str | Path) -> Path:
    """Distil a critic from the labelled `stores` into `out_dir`; returns the export folder.

    Writes `<out_dir>/examples` (the critic conversations), `metrics.jsonl` (per step),
    `train_critic.json` (what was built and trained) and `<out_dir>/<model_name>` (the export).
    Trains in this process (train.resources.num_workers 0) or on Ray Train workers (a Ray
    cluster must be up)."""
    from transformers import AutoTokenizer

    from srft_ray.train.data import TrainDataError
    from srft_ray.train.stage import run_training_stage

    began = time.monotonic()
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    model_path = config.train.model_path
    if not model_path:
        from srft_ray.model_prep import prepare_model

        model_path = str(prepare_model(quiet=True))
    model_path = str(Path(model_path).expanduser().resolve())
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    stores = [str(Path(s).expanduser().resolve()) for s in stores]
    stats = build_examples(config, stores, out / "examples", tokenizer)
    logger.info(
        f"[train-critic] {stats.num_examples} examples of {stats.num_trajectories} trajectories "
        f"({stats.num_skipped_unknown} skipped: a step without a {'/'.join(config.label_sources)}"
        f" label); step kinds {stats.kinds}"
    )
    if not stats.num_examples:
        raise TrainDataError(
            f"{', '.join(stores)}: no trajectory has every step labelled by one of "
            f"{config.label_sources} ({stats.num_trajectories} read); set label_sources=..."
        )
    export = out / (config.model_name or f"distilled-{Path(model_path).name}")
    train = critic_train_config(config, model_path, out / "examples", export)
    metrics_file = out / "metrics.jsonl"
    metrics_file.unlink(missing_ok=True)
    trained = time.monotonic()
    metrics = run_training_stage(
        train, metrics_file, storage_path=str(out / "ray-train"), run_name="train-critic"
    )
    train_s = time.monotonic() - trained  # model load, steps and export
    summary = {
        "export_dir": str(export),
        "model_name": export.name,
        "prompt_version": config.prompt_key,
        "label_sources": list(config.label_sources),
        "base_model": model_path,
        "stores": stores,
        "examples": asdict(stats),
        "train": metrics,
        "train_seconds": round(train_s, 1),
        "tokens_per_s": round(metrics["num_tokens"] / train_s, 1) if train_s else None,
        "seconds": round(time.monotonic() - began, 1),
    }
    (out / "train_critic.json").write_text(json.dumps(summary, indent=2) + "\n")
    return export
