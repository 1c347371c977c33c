"""Builders for a synthetic run directory: the real store, manifests and safetensors files."""

from __future__ import annotations

import math
import random
from pathlib import Path

from srft_ray.data.model import LABELS, Outcome, Provenance, Step, StepLabel, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.runstate.manifest import append_train_metrics, dataset_hash
from srft_ray.runstate.run_manifest import RunManifest


def make_trajectory(
    rng: random.Random, round_index: int, number: int, *, labels: bool
) -> Trajectory:
    num_steps = rng.randint(2, 6)
    steps = []
    for i in range(num_steps):
        step = Step(
            index=i,
            assistant=f"THOUGHT: look around ({i})\n```bash\nls -la src/{i}\n```",
            command=f"ls -la src/{i}",
            observation=None if i == num_steps - 1 else f"<returncode>0</returncode> file{i}.py",
            returncode=0,
            end_reason="exit",
        )
        if labels:
            kinds = ["good", "unnecessary", "mistake", "recover", "unknown"]
            verdict = rng.choices(kinds, weights=[5, 1, 3, 0.5, 1])[0]
            step.labels.append(StepLabel(label=verdict, source="critic", model="smollm2"))
        steps.append(step)
    resolved = rng.random() < 0.3 + 0.2 * round_index
    return Trajectory(
        trajectory_id=f"r{round_index}-t{number:03d}",
        instance_id=f"pack__bug-{number % 5}",
        system_prompt="You are a careful engineer.",
        task_prompt=f"Fix bug {number % 5} <script>alert(1)</script>",
        steps=steps,
        outcome=Outcome(exit_status="submitted", patch="diff --git a/x b/x", resolved=resolved),
        provenance=Provenance(policy_model="smollm2", round=round_index),
    )


def write_safetensors(folder: Path, seed: int) -> None:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    save_file({"w": torch.randn(4, 4, generator=generator)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"model_type": "llama"}\n')


def build_run(run_dir: Path, num_rounds: int = 2, num_trajs: int = 12) -> Path:
    """Two finished rounds: stores, train metrics, an export, manifests with metrics."""
    rng = random.Random(0)
    run = RunManifest.load_or_create(run_dir, {"rounds": num_rounds, "mode": "srft"})
    for r in range(num_rounds):
        manifest = run.round(r)
        paths = manifest.paths
        collected = TrajectoryStore(paths.collected)
        trajs = [make_trajectory(rng, r, n, labels=False) for n in range(num_trajs)]
        collected.append(trajs[: num_trajs // 2])
        collected.append(trajs[num_trajs // 2 :])
        collected.mark_complete()
        stage = manifest.stage("collect").start({"config": "cfg", "policy": f"policy-{r}"})
        num_resolved = sum(bool(t.outcome.resolved) for t in trajs)
        stage.finish(
            {"trajectories": paths.collected},
            {"num_trajectories": len(trajs), "num_resolved": num_resolved},
        )

        labelled_trajs = [make_trajectory(rng, r, n, labels=True) for n in range(num_trajs)]
        TrajectoryStore(paths.labelled).append(labelled_trajs)
        counts = dict.fromkeys(LABELS, 0)
        for traj in labelled_trajs:
            for step in traj.steps:
                counts[step.labels[0].label] += 1
        stage = manifest.stage("critique").start({"trajectories": dataset_hash(paths.collected)})
        stage.finish(
            {"labelled": paths.labelled},
            {"num_steps": sum(counts.values()), **{f"num_{k}": v for k, v in counts.items()}},
        )

        stage = manifest.stage("train").start({"labelled": dataset_hash(paths.labelled)})
        for step in range(1, 21):
            loss = 2.5 * math.exp(-step / (15 + 5 * r)) + 0.3 + 0.05 * rng.random()
            append_train_metrics(
                paths.train_metrics,
                {
                    "step": step,
                    "loss": loss,
                    "lr": 1e-5,
                    "tokens_per_s": 900.0,
                    "trained_tokens": 200,
                    "tokens": 1000,
                },
            )
        write_safetensors(paths.export, seed=r)
        stage.finish(
            {"model": paths.export},
            {"trained_token_share": 0.2 + 0.01 * r, "final_loss": loss, "num_tokens": 20000},
        )

        eval_trajs = [make_trajectory(rng, r, n, labels=False) for n in range(5)]
        TrajectoryStore(paths.eval).append(eval_trajs)
        stage = manifest.stage("evaluate").start({"model": "x"})
        num_resolved = sum(bool(t.outcome.resolved) for t in eval_trajs)
        stage.finish(
            {"episodes": paths.eval},
            {"num_tasks": 5, "num_resolved": num_resolved, "resolve_rate": num_resolved / 5},
        )
    return run_dir
