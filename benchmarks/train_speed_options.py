"""What makes a SmolLM2-135M training step faster on this CPU: the trainer's own step (FSDP2 on
one rank, packed rows, chunked masked loss) under each speed option, side by side in one run on
the same packed rows, as ratios to the fp32 full-model step.

    python benchmarks/train_speed_options.py [--steps 4] [--row-tokens 4096] [--only a,b]
    pip install peft   # for the LoRA variant (skipped with a message without it)

Variants: fp32; bf16 (FSDP2 param dtype, `train.mixed_precision=fast` on a CPU with native bf16);
bf16 + frozen embeddings (the embedded default); + `train.freeze_layers=10`; + torch.compile of
every decoder layer; LoRA (peft, r=16 on every linear layer of the decoder) in bf16. Rows look
like the embedded run's: teacher-sized documents (700-1400 tokens) packed into 4096-token rows,
about a third of the tokens trained. Each variant loads the model afresh, runs one untimed step
(compile, allocator warm-up), then times --steps steps.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

from srft_ray.model_prep import prepare_model as prepare_embedded
from srft_ray.train.config import TrainConfig
from srft_ray.train.distributed import setup_distributed, teardown_distributed
from srft_ray.train.packing import Document, MicroBatch, pack_documents
from srft_ray.train.train_loop import build_optimizer, run_step, wrap_for_training


def packed_rows(vocab: int, row_tokens: int, count: int, seed: int) -> list[MicroBatch]:
    """`count` rows of teacher-sized documents, a trained span (the replies) after each prompt."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        docs, room = [], row_tokens
        while room >= 700:
            length = min(room, rng.randint(700, 1400))
            prompt = length * 2 // 3
            docs.append(
                Document(
                    input_ids=[rng.randrange(vocab) for _ in range(length)],
                    loss_mask=[0] * prompt + [1] * (length - prompt),
                )
            )
            room -= length
        rows.append(pack_documents(docs))
    return rows


def lora(model: torch.nn.Module) -> None:
    """peft LoRA adapters on every linear layer of the decoder (in place; the base is frozen)."""
    from peft import LoraConfig, get_peft_model

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))


def compile_layers(model: torch.nn.Module) -> None:
    for layer in model.model.layers:
        layer.compile()


def freeze(model: torch.nn.Module, embeddings: bool, layers: int = 0) -> None:
    if embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    for layer in model.model.layers[:layers]:
        layer.requires_grad_(False)


VARIANTS: dict[str, tuple[torch.dtype, Callable[[torch.nn.Module], None]]] = {
    "fp32": (torch.float32, lambda m: None),
    "bf16": (torch.bfloat16, lambda m: None),
    "bf16+frozen-embeddings (default)": (torch.bfloat16, lambda m: freeze(m, True)),
    "bf16+frozen-embeddings+freeze_layers=10": (torch.bfloat16, lambda m: freeze(m, True, 10)),
    "bf16+frozen-embeddings+compile": (
        torch.bfloat16,
        lambda m: (freeze(m, True), compile_layers(m)),
    ),
    "bf16+lora-r16": (torch.bfloat16, lora),
}


def time_variant(name: str, model_path: str, rows: list[MicroBatch], steps: int) -> dict:
    dtype, prepare = VARIANTS[name]
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    prepare(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ctx = setup_distributed()
    try:
        wrapper = wrap_for_training(
            model, ctx=ctx, dtype=dtype, gradient_checkpointing=False, loss_chunk_tokens=1024
        )
        optimizer = build_optimizer(wrapper, TrainConfig(lr=1e-4), ctx.device)
        began = time.perf_counter()
        run_step(wrapper, optimizer, [rows[0]], ctx, 1.0)
        first_s = time.perf_counter() - began
        began = time.perf_counter()
        losses = [
            run_step(wrapper, optimizer, [row], ctx, 1.0)["loss"] for row in rows[1 : steps + 1]
        ]
        seconds = time.perf_counter() - began
    finally:
        teardown_distributed(ctx)
    tokens = sum(row.num_tokens for row in rows[1 : steps + 1])
    return {
        "variant": name,
        "trainable_params": trainable,
        "first_step_s": first_s,
        "step_s": seconds / steps,
        "tokens_per_s": tokens / seconds,
        "last_loss": losses[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--row-tokens", type=int, default=4096)
    parser.add_argument("--only", default="", help="comma-separated variant names (default all)")
    args = parser.parse_args()
    names = [n for n in VARIANTS if not args.only or n in args.only.split(",")]
    try:
        import peft  # noqa: F401
    except ImportError:
        print("peft is not installed: the LoRA variant is skipped (pip install peft)")
        names = [n for n in names if "lora" not in n]
    hf_logging.disable_progress_bar()  # one line per variant, no per-load bars
    torch.manual_seed(0)
    model_path = prepare_embedded(quiet=True)
    vocab = AutoModelForCausalLM.from_pretrained(model_path).config.vocab_size
    rows = packed_rows(vocab, args.row_tokens, args.steps + 1, seed=0)
    print(
        f"{torch.get_num_threads()} threads, {args.steps} timed steps of one {args.row_tokens}-token row"
    )
    results = []
    for name in names:
        try:
            results.append(time_variant(name, model_path, rows, args.steps))
        except Exception as exc:  # a variant this torch cannot run is a result too
            print(f"{name}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        r = results[-1]
        print(
            f"{name:<42} {r['trainable_params'] / 1e6:6.1f}M trainable  first step"
            f" {r['first_step_s']:6.1f} s  step {r['step_s']:6.2f} s  {r['tokens_per_s']:6.0f} tok/s"
        )
    base = next((r for r in results if r["variant"] == "fp32"), results[0] if results else None)
    for r in results:
        print(
            f"{r['variant']:<42} {base['step_s'] / r['step_s']:5.2f}x the {base['variant']} step rate"
        )


if __name__ == "__main__":
    main()
