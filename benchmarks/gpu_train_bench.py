"""Training-step throughput and MFU on one GPU: packed vs padded, with/without activation
checkpointing, chunked loss, bf16 (FSDP2 mixed precision, fp32 master weights, fused AdamW).

Imports ONLY torch + transformers + srft_ray.train's torch-only modules and the standard-library
masking config they nest (the GPU machine has no Ray, vLLM or pyarrow). Random-weight
Qwen2.5-1.5B-shaped model, documents of 2k-14k tokens packed into 16k-token rows, or padded two
per batch. Run from the repository root:

    python benchmarks/gpu_train_bench.py                # H100/H200, ~3-5 minutes
    python benchmarks/gpu_train_bench.py --tiny         # CPU smoke test with small shapes

Writes a table to stdout and JSON to $OUT/gpu_bench.json (or --out).
MFU = (6 * N_dense * T + 6 * V * d * T_trained + 6 * L * d_attn * sum(doc_len^2)) / s / peak,
counting only real (unpadded) tokens and causal attention, against --peak-tflops (790: the
measured bf16 dense matmul ceiling of H100/H200).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout

import torch  # noqa: E402
from transformers import Qwen2Config, Qwen2ForCausalLM  # noqa: E402

from srft_ray.train.attention import register_packed_attention  # noqa: E402
from srft_ray.train.config import TrainConfig  # noqa: E402
from srft_ray.train.distributed import setup_distributed, teardown_distributed  # noqa: E402
from srft_ray.train.packing import Document, pack_documents, pad_documents, plan_bins  # noqa: E402
from srft_ray.train.train_loop import build_optimizer, run_step, wrap_for_training  # noqa: E402

QWEN25_15B = dict(
    hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
    intermediate_size=8960, vocab_size=151936, max_position_embeddings=32768,
    tie_word_embeddings=True, rope_theta=1_000_000.0,
)  # fmt: skip
TINY = dict(
    hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=256, vocab_size=1000, max_position_embeddings=4096, tie_word_embeddings=True,
)  # fmt: skip


def make_documents(num: int, lo: int, hi: int, vocab: int, trained_frac: float, seed: int):
    """Agent-like documents: alternating context / trained spans, `trained_frac` of tokens trained."""
    rng = random.Random(seed)
    docs = []
    for i in range(num):
        n = rng.randint(lo, hi)
        mask, pos = [], 0
        while pos < n:
            span = min(n - pos, rng.randint(64, 512))
            bit = 1 if rng.random() < trained_frac else 0
            mask += [bit] * span
            pos += span
        ids = [rng.randrange(vocab) for _ in range(n)]
        docs.append(Document(input_ids=ids, loss_mask=mask, doc_id=f"doc{i}"))
    return docs


def model_flops(batch_docs, cfg, trained_tokens: int) -> float:
    d, layers = cfg.hidden_size, cfg.num_hidden_layers
    head_dim = d // cfg.num_attention_heads
    kv = cfg.num_key_value_heads * head_dim
    per_layer = d * (d + 2 * kv) + d * d + 3 * d * cfg.intermediate_size
    tokens = sum(len(doc) for doc in batch_docs)
    attn = sum(len(doc) ** 2 for doc in batch_docs)  # causal: half of the 12 L d s^2 full cost
    return (
        6 * layers * per_layer * tokens
        + 6 * cfg.vocab_size * d * trained_tokens
        + 6 * layers * cfg.num_attention_heads * head_dim * attn
    )


def batches_for(kind: str, docs, rows: int, per_padded: int, pad_id: int):
    """Yield (micro_batch, its documents) forever, cycling over the documents."""
    while True:
        if kind == "packed":
            for group in plan_bins([len(d) for d in docs], rows):
                members = [docs[i] for i in group]
                yield pack_documents(members), members
        else:
            for i in range(0, len(docs) - per_padded + 1, per_padded):
                members = docs[i : i + per_padded]
                yield pad_documents(members, pad_id), members


def run_case(name, kind, gc_on, wrapper, causal_lm, optimizer, ctx, docs, args, cfg, sync):
    if gc_on:
        causal_lm.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    else:
        causal_lm.gradient_checkpointing_disable()
    # Padded batches run transformers' own SDPA with its padding mask (the plain HF way).
    causal_lm.set_attn_implementation(register_packed_attention() if kind == "packed" else "sdpa")
    source = batches_for(kind, docs, args.row_tokens, 2, 0)
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, flops, real, fed, trained = [], 0.0, 0, 0, 0
    for step in range(args.warmup + args.steps):
        mb, members = next(source)
        sync()
        began = time.perf_counter()
        stats = run_step(wrapper, optimizer, [mb], ctx, 1.0)
        sync()
        seconds = time.perf_counter() - began
        if step >= args.warmup:
            times.append(seconds)
            flops += model_flops(members, cfg, int(stats["num_trained_tokens"]))
            real += int(stats["num_tokens"])
            fed += mb.input_ids.numel()
            trained += int(stats["num_trained_tokens"])
        print(f"  {name} step {step}: {seconds:.3f}s loss {stats['loss']:.3f}", flush=True)
    total = sum(times)
    peak_mem = torch.cuda.max_memory_allocated() / 2**30 if ctx.device.type == "cuda" else 0.0
    return {
        "case": name, "layout": kind, "gradient_checkpointing": gc_on, "steps": len(times),
        "seconds_per_step": total / len(times), "tokens_per_s": real / total,
        "trained_tokens_per_s": trained / total, "padding_fraction": 1 - real / fed,
        "tflops_per_s": flops / total / 1e12, "mfu": flops / total / (args.peak_tflops * 1e12),
        "peak_memory_gib": peak_mem,
    }  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small shapes (CPU smoke test)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--row-tokens", type=int, default=16384)
    parser.add_argument("--min-doc", type=int, default=2048)
    parser.add_argument("--max-doc", type=int, default=14336)
    parser.add_argument("--num-docs", type=int, default=24)
    parser.add_argument("--trained-frac", type=float, default=0.6)
    parser.add_argument("--loss-chunk", type=int, default=2048)
    parser.add_argument("--peak-tflops", type=float, default=790.0)
    parser.add_argument("--cases", default="packed+gc,padded+gc,packed,padded")
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args(argv)
    if args.tiny:
        args.row_tokens, args.min_doc, args.max_doc, args.num_docs = 512, 48, 400, 12
        args.loss_chunk = 64
    started = time.perf_counter()
    ctx = setup_distributed()
    cuda = ctx.device.type == "cuda"
    torch.manual_seed(0)
    cfg = Qwen2Config(**(TINY if args.tiny else QWEN25_15B))
    with torch.device(ctx.device):
        causal_lm = Qwen2ForCausalLM(cfg).to(torch.float32)
    num_params = sum(p.numel() for p in causal_lm.parameters())
    print(
        f"model: {num_params / 1e6:.1f}M params on {ctx.device}, init {time.perf_counter() - started:.1f}s"
    )
    dtype = torch.bfloat16 if cuda else torch.float32
    wrapper = wrap_for_training(
        causal_lm, ctx=ctx, dtype=dtype, gradient_checkpointing=True,
        loss_chunk_tokens=args.loss_chunk,
    )  # fmt: skip
    config = TrainConfig(lr=1e-5, weight_decay=0.0)
    optimizer = build_optimizer(wrapper, config, ctx.device)
    docs = make_documents(
        args.num_docs, args.min_doc, args.max_doc, cfg.vocab_size, args.trained_frac, 0
    )
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    device_name = torch.cuda.get_device_name() if cuda else platform.processor() or "cpu"
    results = []
    for case in args.cases.split(","):
        kind, gc_on = case.split("+")[0], case.endswith("+gc")
        try:
            results.append(
                run_case(
                    case, kind, gc_on, wrapper, causal_lm, optimizer, ctx, docs, args, cfg, sync
                )
            )
        except torch.cuda.OutOfMemoryError as exc:
            print(f"  {case}: out of memory: {str(exc).splitlines()[0]}")
            results.append({"case": case, "error": "out of memory"})
        except Exception as exc:  # keep measuring the other cases; the JSON says what broke
            traceback.print_exc()
            results.append({"case": case, "error": f"{type(exc).__name__}: {exc}"})
        optimizer.zero_grad(set_to_none=True)
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    teardown_distributed(ctx)

    print(f"\n{device_name}, torch {torch.__version__}, {num_params / 1e9:.2f}B params")
    print(
        f"{'case':<12}{'s/step':>8}{'tok/s':>10}{'trained/s':>11}{'pad':>7}{'TFLOP/s':>9}{'MFU':>7}{'mem GiB':>9}"
    )
    for r in results:
        if "error" in r:
            print(f"{r['case']:<12}  {r['error']}")
            continue
        print(
            f"{r['case']:<12}{r['seconds_per_step']:>8.3f}{r['tokens_per_s']:>10.0f}"
            f"{r['trained_tokens_per_s']:>11.0f}{r['padding_fraction']:>7.1%}"
            f"{r['tflops_per_s']:>9.1f}{r['mfu']:>7.1%}{r['peak_memory_gib']:>9.1f}"
        )
    report = {
        "device": device_name, "torch": torch.__version__, "params": num_params,
        "model": "tiny" if args.tiny else "Qwen2.5-1.5B-shaped (random weights)",
        "args": vars(args), "results": results, "seconds_total": time.perf_counter() - started,
    }  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_bench.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / 'gpu_bench.json'} in {report['seconds_total']:.0f}s")
    # Out of memory is a measurement (padded batches without checkpointing may not fit an
    # H100); any other error is a failure.
    return 0 if all(r.get("error", "out of memory") == "out of memory" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
