"""Trained tokens/s on CPU: this trainer (packed rows, FSDP2 step, chunked loss) vs a plain
Hugging Face style loop (one trajectory per row, each batch padded to its longest, full logits),
same random-weight model, same variable-length rendered trajectories, side by side in one run.

    python benchmarks/train_cpu_bench.py [--docs 24] [--rows 2048] [--batch 4]
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from srft_ray.data.model import Outcome, Step, StepLabel, Trajectory
from srft_ray.masking import MaskingConfig, render_trajectory
from srft_ray.model_prep import prepare_model as prepare_embedded
from srft_ray.train.config import TrainConfig
from srft_ray.train.data import PackedSchedule, documents_from_rendered
from srft_ray.train.distributed import setup_distributed, teardown_distributed
from srft_ray.train.packing import pad_documents
from srft_ray.train.train_loop import build_optimizer, run_step, wrap_for_training


def trajectories(count: int, seed: int) -> list[Trajectory]:
    """Agent-like histories of 1-8 steps with long-tailed observation sizes; some bad steps."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        steps = []
        for s in range(rng.randint(1, 8)):
            thought = " ".join(f"tok{rng.randint(0, 500)}" for _ in range(rng.randint(10, 60)))
            obs_words = int(rng.paretovariate(1.5) * 12)
            steps.append(
                Step(
                    index=s,
                    assistant=f"THOUGHT: {thought}\n```bash\ngrep -rn x{s} src/\n```",
                    observation=" ".join(f"line{rng.randint(0, 999)}" for _ in range(obs_words)),
                    labels=[
                        StepLabel(label=rng.choice(["good", "good", "mistake"]), source="critic")
                    ],
                )
            )
        out.append(
            Trajectory(
                trajectory_id=f"bench-{i}",
                instance_id="bench",
                system_prompt="You are a software engineer.",
                task_prompt=f"Fix issue {i}.",
                steps=steps,
                outcome=Outcome(resolved=True),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument(
        "--rows",
        type=int,
        default=0,
        help="packed row tokens (default: batch x max-length,"
        " the token budget of one padded batch, so both take the same number of steps)",
    )
    parser.add_argument("--batch", type=int, default=4, help="trajectories per padded batch")
    parser.add_argument("--max-length", type=int, default=1024)
    args = parser.parse_args()
    args.rows = args.rows or args.batch * args.max_length
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(prepare_embedded(quiet=True))
    model_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=256, intermediate_size=768, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
    )  # fmt: skip
    config = TrainConfig(
        tokens_per_micro_batch=args.rows, masking=MaskingConfig(max_length=args.max_length), num_epochs=1,
        gradient_checkpointing=False, lr=1e-4, seed=0,
    )  # fmt: skip
    rendered = [
        (t.trajectory_id, render_trajectory(t, tokenizer, mode="srft", max_length=args.max_length))
        for t in trajectories(args.docs, seed=1)
    ]
    docs, stats = documents_from_rendered(rendered, config, model_config.vocab_size)
    lengths = sorted(len(d) for d in docs)
    print(
        f"{len(docs)} trajectories, {stats.num_tokens} tokens ({stats.num_trained_tokens} trained),"
        f" lengths {lengths[0]}..{lengths[-1]} (median {lengths[len(lengths) // 2]})"
    )

    # Baseline: plain HF loop. Batches in data order, padded to the longest, model's own loss.
    baseline = LlamaForCausalLM(model_config).train()
    optimizer = torch.optim.AdamW(baseline.parameters(), lr=1e-4)
    batches = [docs[i : i + args.batch] for i in range(0, len(docs), args.batch)]
    padded_tokens = 0
    began = time.perf_counter()
    for group in batches:
        batch = pad_documents(group, tokenizer.pad_token_id)
        padded_tokens += batch.input_ids.numel()
        # HF shifts labels itself: give it the unshifted ids with -100 where untrained.
        labels = torch.where(
            torch.nn.functional.pad(batch.targets, (1, 0), value=-100)[:, :-1] != -100,
            batch.input_ids,
            torch.full_like(batch.input_ids, -100),
        )
        out = baseline(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=labels
        )
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(baseline.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    base_s = time.perf_counter() - began

    # This trainer: packed rows, FSDP2 (1 rank), chunked loss over trained tokens only.
    ctx = setup_distributed()
    ours = wrap_for_training(
        LlamaForCausalLM(model_config), ctx=ctx, dtype=torch.float32,
        gradient_checkpointing=False, loss_chunk_tokens=config.loss_chunk_tokens,
    )  # fmt: skip
    optimizer = build_optimizer(ours, config, ctx.device)
    schedule = PackedSchedule(docs, config, 1, tokenizer.pad_token_id)
    packed_tokens = 0
    began = time.perf_counter()
    for step in range(schedule.steps_per_epoch):
        micro = schedule.micro_batches(step, 0)
        packed_tokens += sum(mb.input_ids.numel() for mb in micro)
        run_step(ours, optimizer, micro, ctx, 1.0)
    ours_s = time.perf_counter() - began
    teardown_distributed(ctx)

    trained = stats.num_trained_tokens
    print(f"{'':<28}{'seconds':>9}{'rows':>7}{'tokens fed':>12}{'padding':>9}{'trained tok/s':>15}")
    for name, sec, rows, fed in (
        (f"HF padded (batch {args.batch})", base_s, len(batches), padded_tokens),
        (f"srft packed ({args.rows}/row)", ours_s, schedule.steps_per_epoch, packed_tokens),
    ):
        pad = 1 - stats.num_tokens / fed
        print(f"{name:<28}{sec:>9.2f}{rows:>7}{fed:>12}{pad:>9.1%}{trained / sec:>15.0f}")
    print(f"speed-up (trained tokens/s, packed / padded): {base_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
