"""Helpers for the trainer tests: a tiny random-weight Llama with the real SmolLM2 tokenizer, and
labelled trajectory stores written with the real TrajectoryStore."""

from __future__ import annotations

from pathlib import Path

from srft_ray.data.model import Outcome, Step, StepLabel, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.masking import MaskingConfig
from srft_ray.train.config import TrainConfig


def tiny_llama(path: Path, tokenizer, *, hidden: int, heads: int, kv_heads: int) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(1234)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def make_trajectory(index: int, *, resolved: bool, labels: list[str], words: int = 6) -> Trajectory:
    """A small agent history whose steps carry the given critic labels."""
    steps = []
    for s, label in enumerate(labels):
        text = f"THOUGHT: step {s} of run {index}. " + " ".join(
            f"w{(index * 7 + s * 3 + k) % 23}" for k in range(words + (index + s) % 5)
        )
        steps.append(
            Step(
                index=s,
                assistant=f"{text}\n```bash\nls -la dir{s}\n```",
                command=f"ls -la dir{s}",
                observation=f"total {s + index}\nfile_{index}_{s}.py"
                if s < len(labels) - 1
                else None,
                returncode=0,
                labels=[StepLabel(label=label, source="critic", model="test")],
            )
        )
    return Trajectory(
        trajectory_id=f"traj-{index:03d}",
        instance_id=f"repo__task-{index % 3}",
        system_prompt="You are a careful software engineer.",
        task_prompt=f"Fix bug number {index} in the parser.",
        steps=steps,
        outcome=Outcome(exit_status="submitted", resolved=resolved),
    )


def write_store(path: Path, trajs: list[Trajectory]) -> Path:
    TrajectoryStore(path).append(trajs)
    return path


def tiny_config(model_dir: Path, dataset: Path, tmp: Path, **overrides) -> TrainConfig:
    """A CPU-sized run: short rows so a handful of steps exist, no activation recompute."""
    base = dict(
        model_path=str(model_dir),
        dataset_dirs=[str(dataset)],
        masking=MaskingConfig(mode="srft", max_length=None),
        tokens_per_micro_batch=1024,
        lr=3e-3,
        warmup_steps=1,
        max_steps=4,
        seed=7,
        gradient_checkpointing=False,
        loss_chunk_tokens=64,
        log_every=1,
    )
    base.update(overrides)
    return TrainConfig(**base)
