"""How fast the policy engine serves agent-shaped requests on this CPU, against what the CPU allows.

    python benchmarks/engine_bench.py [--concurrency 1,4,16,32] [--variants before,after]
        [--hf] [--out benchmarks/results/engine_bench.json]
    python benchmarks/engine_bench.py --smoke      # seconds; CI runs it (tests/engine)

1. Limits: torch's bf16 and fp32 matmul GFLOP/s and copy bandwidth on this machine give the
   served model's prefill token/s bound (FLOPs per token = 2 * params + attention) and its decode
   bound at batch B (max of compute and weight + KV bytes over bandwidth per step).
2. The engine as rollout workers use it: an EngineActor on a local Ray cluster, called through
   EngineClient from one thread per episode. An episode is a growing chat rendered with the real
   SmolLM2 template (system + task of ~1k tokens, then per turn a scripted reply and an
   observation, so turn k's prompt is turn k-1's plus ~500 tokens, up to ~3k), each reply
   100-200 generated tokens (min_tokens = max_tokens). Replies in the prompt are scripted, not
   the sampled text, so every variant and transformers see the same prompts.
3. A plain transformers `generate` loop (bf16, batch 1, no prefix reuse) on the same prompts.
4. Engine start-up: a first start on an empty VLLM_CACHE_ROOT and a second on the same one.

Each variant is an EngineConfig (plus the CPUs its actor reserves); the JSON keeps every figure
and the load average beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from srft_ray.vllm_engine import EngineConfig, GenerateRequest

# The embedded run's policy engine (srft_ray/configs/embedded.yaml) before this bench's changes.
BEFORE = EngineConfig(
    max_model_len=4096, kv_cache_memory_gb=2.0, continuous_batching=False, num_threads=0
)
AFTER = replace(BEFORE, continuous_batching=True)  # what the bench kept (EngineConfig defaults)
VARIANTS: dict[str, tuple[EngineConfig, float]] = {
    "before": (BEFORE, 1.0),
    "after": (AFTER, 1.0),
    "after+threads2": (replace(AFTER, num_threads=2), 1.0),
    "after-no-prefix-cache": (replace(AFTER, enable_prefix_caching=False), 1.0),
    "after-fp32": (replace(AFTER, dtype="float32"), 1.0),
    "after-compiled": (replace(AFTER, enforce_eager=False), 1.0),
}


def load() -> float:
    return os.getloadavg()[0]


# ----------------------------------------------------------------------------- limits


def hardware(seconds: float) -> dict[str, float]:
    """Matmul GFLOP/s (bf16, fp32) and copy bandwidth (GB/s) with torch's threads."""

    def rate(fn, work: float) -> float:
        fn()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            fn()
            count += 1
        return work * count / (time.perf_counter() - started)

    out: dict[str, float] = {"torch_threads": torch.get_num_threads()}
    for dtype in (torch.bfloat16, torch.float32):
        a = torch.randn(1024, 1024, dtype=dtype)
        b = torch.randn(1024, 1024, dtype=dtype)
        out[f"{str(dtype)[6:]}_gflops"] = rate(lambda a=a, b=b: a @ b, 2 * 1024**3) / 1e9
    src = torch.empty(64 << 20, dtype=torch.float32).fill_(1.0)  # 256 MiB, far past the caches
    dst = torch.empty_like(src)
    out["copy_gb_per_s"] = rate(lambda: dst.copy_(src), 2 * src.numel() * 4) / 1e9
    return {k: round(v, 1) for k, v in out.items()}


@dataclass
class ModelShape:
    num_params: int
    num_layers: int
    hidden: int
    kv_bytes_per_token_per_byte: int  # K and V entries per token (times the dtype's bytes)

    @classmethod
    def of(cls, model_dir: str) -> ModelShape:
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
        h, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
        head_dim = cfg.get("head_dim") or h // cfg["num_attention_heads"]
        kv_dim = cfg["num_key_value_heads"] * head_dim
        per_layer = h * (h + 2 * kv_dim) + h * h + 3 * h * inter + 2 * h
        params = layers * per_layer + cfg["vocab_size"] * h + h  # tied head: counted once
        return cls(params, layers, h, 2 * layers * kv_dim)

    def flops_per_token(self, context: int) -> float:
        """Weights (the tied head multiplies too) plus attention's QK^T and AV over the context."""
        return 2 * self.num_params + 4 * self.num_layers * self.hidden * context

    def limits(self, hw: dict[str, float], context: int, batch: int, dtype_bytes: int = 2):
        gflops = hw["bfloat16_gflops"] if dtype_bytes == 2 else hw["float32_gflops"]
        flops = self.flops_per_token(context)
        compute_s = batch * flops / (gflops * 1e9)
        bytes_per_step = dtype_bytes * (
            self.num_params + batch * context * self.kv_bytes_per_token_per_byte
        )
        memory_s = bytes_per_step / (hw["copy_gb_per_s"] * 1e9)
        return {
            "prefill": round(gflops * 1e9 / flops, 1),
            "decode": round(batch / max(compute_s, memory_s), 1),
            "decode_bound": "compute" if compute_s >= memory_s else "memory",
        }


# ----------------------------------------------------------------------------- episodes


@dataclass
class Episode:
    system: str
    task: str
    turns: list[tuple[str, str, int]] = field(default_factory=list)  # reply, observation, tokens

    def prompts(self, tokenizer) -> list[tuple[list[int], int]]:
        """(prompt ids, tokens to generate) per turn: each prompt extends the one before."""
        messages = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.task},
        ]
        out = []
        for reply, observation, num_tokens in self.turns:
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            out.append((list(ids["input_ids"] if hasattr(ids, "keys") else ids), num_tokens))
            messages += [
                {"role": "assistant", "content": reply},
                {"role": "user", "content": observation},
            ]
        return out


def corpus() -> list[str]:
    """Real code and prose to fill prompts with: this project's own sources, in a fixed order."""
    root = Path(__file__).resolve().parent.parent / "srft_ray"
    return [p.read_text() for p in sorted(root.rglob("*.py")) if p.stat().st_size > 2000]


def episodes(tokenizer, count: int, turns: int, task_tokens: int, seed: int = 0) -> list[Episode]:
    rng, texts = random.Random(seed), corpus()

    def chunk(num_tokens: int) -> str:
        text = rng.choice(texts)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        start = rng.randrange(max(1, len(ids) - num_tokens))
        return tokenizer.decode(ids[start : start + num_tokens])

    system = "You are a software engineer fixing a bug in a repository.\n" + chunk(200)
    made = []
    for index in range(count):
        task = f"Task {index}: the tests fail. Fix the code below.\n" + chunk(task_tokens)
        steps = []
        for _ in range(turns):
            reply = "THOUGHT: look at the code.\n```bash\n" + chunk(rng.randint(60, 120)) + "\n```"
            steps.append((reply, "<output>\n" + chunk(rng.randint(300, 450)) + "\n</output>", 0))
            steps[-1] = (*steps[-1][:2], rng.randint(100, 200))
        made.append(Episode(system=system, task=task, turns=steps))
    return made


# ----------------------------------------------------------------------------- engine


def start_engine(config: EngineConfig, num_cpus: float):
    import ray

    from srft_ray.actors.engine import start_engine_actor

    started = time.monotonic()
    actor = start_engine_actor(config, num_cpus=num_cpus)
    ray.get(actor.stats.remote())
    return actor, round(time.monotonic() - started, 1)


def run_engine(
    actor, prompts: list[list[tuple[list[int], int]]], exec_s: float = 0.0
) -> dict[str, Any]:
    """Every episode at once, one thread each, turn after turn, as rollout workers call it;
    between turns an episode waits 0.5-1.5 x `exec_s` (its sandbox command), which spreads the
    requests out as real episodes do."""
    import ray

    from srft_ray.engine_client import EngineClient

    client = EngineClient(actor)

    def episode(turns) -> dict[str, float]:
        model_s = generated = prompt = cached = 0
        rng = random.Random(len(turns[0][0]))
        for turn, (ids, num_tokens) in enumerate(turns):
            if turn and exec_s:
                time.sleep(exec_s * rng.uniform(0.5, 1.5))
            started = time.monotonic()
            request = GenerateRequest(
                prompt_token_ids=ids, max_tokens=num_tokens, min_tokens=num_tokens
            )
            (result,) = client.generate([request])
            model_s += time.monotonic() - started
            generated += len(result.token_ids)
            prompt += result.num_prompt_tokens
            cached += result.num_cached_tokens
        return {"model_s": model_s, "generated": generated, "prompt": prompt, "cached": cached}

    before = ray.get(actor.stats.remote())
    started, load_before = time.monotonic(), load()
    with ThreadPoolExecutor(len(prompts)) as pool:
        done = list(pool.map(episode, prompts))
    wall = time.monotonic() - started
    after = ray.get(actor.stats.remote())
    generated = sum(d["generated"] for d in done)
    prompt = sum(d["prompt"] for d in done)
    return {
        "tokens_per_s": round(generated / wall, 1),
        "wall_s": round(wall, 1),
        "generated_tokens": generated,
        "prompt_tokens": prompt,
        "cached_prompt_share": round(sum(d["cached"] for d in done) / max(prompt, 1), 3),
        "model_s_per_episode": round(sum(d["model_s"] for d in done) / len(done), 1),
        "engine_steps": after["num_steps"] - before["num_steps"],
        "engine_calls": after["num_batches"] - before["num_batches"],
        "load": [round(load_before, 2), round(load(), 2)],
    }


def thread_info(actor) -> dict[str, Any]:
    import ray

    return ray.get(actor.thread_info.remote())


# ----------------------------------------------------------------------------- transformers


def run_hf(
    model_dir: str, prompts: list[list[tuple[list[int], int]]], dtype: torch.dtype
) -> dict[str, Any]:
    """transformers generate, one prompt at a time (batch 1), greedy, fixed lengths."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
    generated, started = 0, time.monotonic()
    with torch.inference_mode():
        for turns in prompts:
            for ids, num_tokens in turns:
                out = model.generate(
                    torch.tensor([ids]),
                    max_new_tokens=num_tokens,
                    min_new_tokens=num_tokens,
                    do_sample=False,
                    pad_token_id=model.config.eos_token_id,
                )
                generated += out.shape[1] - len(ids)
    wall = time.monotonic() - started
    return {
        "tokens_per_s": round(generated / wall, 1),
        "wall_s": round(wall, 1),
        "generated_tokens": generated,
        "torch_threads": torch.get_num_threads(),
        "dtype": str(dtype).removeprefix("torch."),
        "load": round(load(), 2),
    }


# ----------------------------------------------------------------------------- episodes' time


def episode_times(store_dir: str) -> dict[str, Any]:
    """Where a stored round's episodes spent their time, per episode (mean, median, share):
    model (Step.model_seconds), sandbox commands (Step.exec_seconds), the rest of the agent loop,
    grading + checkout + sandbox setup (worker_seconds - wall_seconds), and Ray scheduling,
    queueing and transfer (ray_seconds: the driver's submit-to-settle less the worker's time).
    Stores written before worker_seconds/ray_seconds existed leave those columns out."""
    from statistics import median

    from srft_ray.data.store import TrajectoryStore

    rows = []
    for traj in TrajectoryStore(store_dir):
        model = sum(step.model_seconds for step in traj.steps)
        exec_s = sum(step.exec_seconds for step in traj.steps)
        wall = float(traj.extra.get("wall_seconds", 0.0))
        row = {"model": model, "exec": exec_s, "agent_other": max(0.0, wall - model - exec_s)}
        if "worker_seconds" in traj.extra:
            row["grading_and_setup"] = max(0.0, traj.extra["worker_seconds"] - wall)
        if "ray_seconds" in traj.extra:
            row["ray_scheduling"] = max(0.0, traj.extra["ray_seconds"])
        row["generated_tokens"] = sum(len(step.token_ids or []) for step in traj.steps)
        rows.append(row)
    if not rows:
        return {"num_episodes": 0}
    keys = [k for k in rows[0] if k != "generated_tokens" and all(k in r for r in rows)]
    total = sum(sum(r[k] for k in keys) for r in rows)
    return {
        "num_episodes": len(rows),
        "generated_tokens_per_episode": round(sum(r["generated_tokens"] for r in rows) / len(rows)),
        **{
            k: {
                "mean_s": round(sum(r[k] for r in rows) / len(rows), 2),
                "median_s": round(median(r[k] for r in rows), 2),
                "share": round(sum(r[k] for r in rows) / total, 3) if total else 0.0,
            }
            for k in keys
        },
    }


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; shapes, not speeds")
    parser.add_argument("--concurrency", default="1,4,16,32")
    parser.add_argument("--variants", default="before,after")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--exec-s", type=float, default=1.0, help="mean sandbox time per turn")
    parser.add_argument("--starts", type=int, default=2, help="engine starts per variant")
    parser.add_argument("--hf", action="store_true", help="also time transformers generate")
    parser.add_argument("--store", default="", help="a round's store: its episodes' time table")
    parser.add_argument("--out", default="")
    parser.add_argument("--log-dir", default="", help="engine logs (default: a temp folder)")
    args = parser.parse_args()
    from srft_ray.logs import setup_logging
    from srft_ray.model_prep import prepare_model
    from srft_ray.ray_cluster import init_ray, shutdown_ray

    model_dir = str(prepare_model(quiet=True))
    levels = [int(c) for c in args.concurrency.split(",")]
    turns, task_tokens, hw_seconds = args.turns, 700, 1.0
    if args.smoke:
        levels, turns, task_tokens, hw_seconds = [1, 2], 1, 200, 0.1
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pool = [e.prompts(tokenizer) for e in episodes(tokenizer, max(levels), turns, task_tokens)]
    if args.smoke:
        pool = [[(ids, 4) for ids, _ in turns_] for turns_ in pool]
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln), ""
    )
    hw = hardware(hw_seconds)
    shape = ModelShape.of(model_dir)
    context = sum(len(ids) for t in pool for ids, _ in t) // sum(len(t) for t in pool)
    result: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/engine_bench.py", *sys.argv[1:]]),
        "cpu": cpu,
        "num_cores": os.cpu_count(),
        "load_at_start": round(load(), 2),
        "hardware": hw,
        "model_params": shape.num_params,
        "mean_prompt_tokens": context,
        "limit_tokens_per_s": {str(b): shape.limits(hw, context, b) for b in levels},
        "variants": {},
    }
    cache_root = tempfile.mkdtemp(prefix="srft-engine-bench-cache-")
    os.environ["VLLM_CACHE_ROOT"] = cache_root  # empty: the first start compiles from nothing
    log_dir = setup_logging(args.log_dir or tempfile.mkdtemp(prefix="srft-engine-bench-"))
    print(f"engine logs: {log_dir}", flush=True)
    init_ray()
    try:
        if args.hf or args.smoke:  # before the engines: nothing else of ours runs beside it
            # One turn: transformers on CPU decodes a token at a time in Python (bf16 took over
            # 5 minutes for two 150-token turns at load 15), so one turn is what fits.
            first_turn = [pool[0][:1]]
            result["generate_tokens_per_s"] = run_hf(model_dir, first_turn, torch.float32)
            print(json.dumps({"generate": result["generate_tokens_per_s"]}), flush=True)
        for name in args.variants.split(","):
            config, num_cpus = VARIANTS[name]
            config = replace(config, model=model_dir)
            if args.smoke:
                config = replace(config, max_model_len=1024, kv_cache_memory_gb=0.25)
            entry: dict[str, Any] = {"config": asdict(config), "num_cpus": num_cpus}
            starts = []
            num_starts = 1 if args.smoke else max(1, args.starts)
            for index in range(num_starts):
                actor, seconds = start_engine(config, num_cpus)
                starts.append(seconds)
                if index + 1 < num_starts:
                    import ray

                    ray.kill(actor)
            entry["start_s"] = {"first": starts[0], "second": starts[-1], "load": round(load(), 2)}
            entry["threads"] = thread_info(actor)
            result["variants"][name] = entry
            entry["by_concurrency"] = {}
            for c in levels:  # written as it goes: a run cut short keeps what it measured
                entry["by_concurrency"][str(c)] = run_engine(
                    actor, pool[:c], 0.0 if args.smoke else args.exec_s
                )
                print(json.dumps({name: {str(c): entry["by_concurrency"][str(c)]}}), flush=True)
                if args.out:
                    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
            import ray

            ray.kill(actor)
    finally:
        shutdown_ray()
    summarize(result)
    if args.store:
        result["episode_times"] = episode_times(args.store)
    check_shapes(result, levels)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


def summarize(result: dict[str, Any]) -> None:
    """The headline keys: tokens/s and start-up seconds per variant (before and after among them)."""
    variants = result["variants"]
    result["engine_tokens_per_s"] = {
        name: {c: run["tokens_per_s"] for c, run in entry["by_concurrency"].items()}
        for name, entry in variants.items()
    }
    result["engine_start_s"] = {
        name: {k: v for k, v in entry["start_s"].items() if k != "load"}
        for name, entry in variants.items()
    }


def check_shapes(result: dict[str, Any], levels: list[int]) -> None:
    """What every run must produce (the smoke test's assertions: shapes, never speeds)."""
    assert set(result["limit_tokens_per_s"]) == {str(c) for c in levels}
    for entry in result["variants"].values():
        assert set(entry["by_concurrency"]) == {str(c) for c in levels}
        for c, run in entry["by_concurrency"].items():
            assert run["generated_tokens"] > 0 and run["tokens_per_s"] > 0, (c, run)
        assert entry["start_s"]["first"] > 0


if __name__ == "__main__":
    main()
