"""`srft ablate RUN_DIR`: base vs no-filter vs RFT vs SRFT, on equal budgets, with intervals.

Every trained arm starts from the base model, reads the SAME collected-and-critiqued
trajectories of the run's rounds, and trains with the same optimizer steps, packed-row size
and schedule (train.max_steps x train.tokens_per_micro_batch; epochs follow from the data and
are reported). Every arm is evaluated on the same held-out tasks, whose repositories never occur
in the training data (checked), with k samples per task; a failed episode counts as unresolved.

Arms: base (untrained); all (every step trained); rft (resolved trajectories only); srft once per
label source (scripted ground truth, rules, critic, critic_or_rules: srft_ray.rounds.label_variants);
optionally srft on ground truth corrupted to a target label F1 (the label-quality curve) and every
method on the first N trajectories (the data-size curve). Trained arms run once per seed.
Each arm keeps a folder under RUN_DIR/ablate/; one whose result is stale (other inputs) or
partial (no result.json) is cleared and redone, never mixed in.

    srft ablate runs/embedded
    srft ablate runs/embedded --methods base,rft,srft --seeds 0,1,2 --samples 2 --out ab.json
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from srft_ray.config import ConfigError, load_config, to_dict, upgrade_config
from srft_ray.data.model import DataError, Task, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.ablate_summary import LABEL_VARIANTS, METHODS, format_table, summarize
from srft_ray.rounds.config import LoopConfig, split_tasks
from srft_ray.rounds.label_variants import (
    VARIANT_SOURCES,
    corrupt,
    label_f1,
    variant_labels,
    with_labels,
)
from srft_ray.runstate.hashing import (
    checkpoint_hash,
    dataset_hash,
    json_hash,
    run_relative_hash,
    write_json_atomic,
)
from srft_ray.runstate.run_manifest import RunManifest


@dataclass(kw_only=True)
class AblateConfig:
    """Which arms to run, how many seeds and samples, and the two curves."""

    methods: list[str] = field(default_factory=lambda: list(METHODS))
    label_sources: list[str] = field(default_factory=lambda: list(LABEL_VARIANTS))
    """SRFT arms: one per label source."""
    curve_seed_label_sources: list[str] = field(default_factory=list)
    """Label sources whose SRFT arm runs on `curve_seeds` only (to fit a time budget)."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Training seeds (data order and initialisation of each trained arm)."""
    samples_per_task: int = 2
    """k episodes per held-out task and arm."""
    temperature: float = 0.7
    """Sampling temperature of the k evaluation samples."""
    label_f1: list[float] = field(default_factory=list)
    """Label-quality curve: SRFT on scripted labels corrupted to these F1 values."""
    data_sizes: list[int] = field(default_factory=list)
    """Data-size curve: train on the first N trajectories (a nested, seeded subset)."""
    data_curve_methods: list[str] = field(default_factory=lambda: ["all", "rft", "srft"])
    curve_seeds: list[int] = field(default_factory=lambda: [0])
    """Seeds of the curve arms (the main table uses `seeds`)."""
    srft_label_source: str = "scripted"
    """The label source of SRFT in the data-size curve and of the pairs named plain "srft"."""
    keep_exports: bool = False
    """Keep each arm's exported weights (about 0.5 GB each) after it is evaluated."""


@dataclass(kw_only=True, frozen=True)
class Arm:
    """One trained-and-evaluated configuration (or the base model when mode is "")."""

    name: str
    mode: str = ""
    variant: str = ""
    """Label source of an srft arm; "corrupt" with target_f1."""
    target_f1: float | None = None
    num_trajectories: int = 0
    """0: all collected trajectories."""
    seed: int = 0

    @property
    def folder(self) -> str:
        return f"{self.name}/seed-{self.seed}".replace("[", "_").replace("]", "").replace("=", "")


def plan_arms(cfg: AblateConfig) -> list[Arm]:
    """Every arm the config asks for; curve arms that equal a main arm are not repeated."""
    arms: list[Arm] = []
    for method in cfg.methods:
        if method == "base":
            arms.append(Arm(name="base"))
            continue
        variants = cfg.label_sources if method == "srft" else [""]
        for variant in variants:
            name = f"srft[{variant}]" if method == "srft" else method
            seeds = cfg.curve_seeds if variant in cfg.curve_seed_label_sources else cfg.seeds
            arms += [Arm(name=name, mode=method, variant=variant, seed=s) for s in seeds]
    for f1 in cfg.label_f1:
        name = f"srft[f1={f1:g}]"
        arms += [
            Arm(name=name, mode="srft", variant="corrupt", target_f1=f1, seed=s)
            for s in cfg.curve_seeds
        ]
    for size in cfg.data_sizes:
        for method in cfg.data_curve_methods:
            variant = cfg.srft_label_source if method == "srft" else ""
            name = (f"srft[{variant}]" if method == "srft" else method) + f"@n={size}"
            arms += [
                Arm(name=name, mode=method, variant=variant, num_trajectories=size, seed=s)
                for s in cfg.curve_seeds
            ]
    seen, unique = set(), []
    for arm in arms:
        if arm not in seen:
            seen.add(arm)
            unique.append(arm)
    # Every arm of the first seed first: a run cut short still has every method once.
    return sorted(unique, key=lambda arm: arm.seed)


def nested_subset(trajs: list[Trajectory], size: int) -> list[Trajectory]:
    """The first `size` trajectories in a fixed hashed order: smaller sets nest in larger ones."""
    ordered = sorted(trajs, key=lambda t: hashlib.sha256(t.trajectory_id.encode()).hexdigest())
    return ordered[:size] if size else ordered


def arm_data(arm: Arm, trajs: list[Trajectory], out: Path) -> tuple[Path, dict[str, Any]]:
    """Write the arm's training store (its label variant applied); returns (dir, facts)."""
    chosen = nested_subset(trajs, arm.num_trajectories)
    facts: dict[str, Any] = {"num_trajectories": len(chosen)}
    facts["num_resolved"] = sum(bool(t.outcome.resolved) for t in chosen)
    if arm.mode == "srft":
        if arm.variant == "corrupt":
            truth = [variant_labels(t, "scripted") for t in chosen]
            labels, achieved = corrupt(truth, arm.target_f1 or 1.0, seed=arm.seed)
            source, facts["label_f1"] = "scripted", round(achieved, 4)
        else:
            labels = [variant_labels(t, arm.variant) for t in chosen]
            source = VARIANT_SOURCES[arm.variant]
            truth = [variant_labels(t, "scripted") for t in chosen]
            if all(lab != "unknown" for steps in truth for lab in steps):
                facts["label_f1"] = round(label_f1(truth, labels), 4)
        chosen = [
            with_labels(t, lab, source=source, model=f"ablate:{arm.name}")
            for t, lab in zip(chosen, labels, strict=True)
        ]
        facts["num_mistake_steps"] = sum(lab == "mistake" for steps in labels for lab in steps)
        facts["label_sources"] = [source]
    store = TrajectoryStore(out)
    store.append(chosen)
    return out, facts


def check_disjoint(trajs: list[Trajectory], eval_tasks: list[Task], tasks: dict[str, Task]) -> None:
    """Training and evaluation share no instance and no repository."""
    train_ids = {t.instance_id for t in trajs}
    eval_ids = {t.instance_id for t in eval_tasks}
    if train_ids & eval_ids:
        raise DataError(f"held-out tasks were trained on: {sorted(train_ids & eval_ids)[:5]}")
    train_repos = {tasks[i].repo for i in train_ids if i in tasks}
    shared = train_repos & {t.repo for t in eval_tasks}
    if shared:
        raise DataError(
            f"held-out repositories occur in the training data: {sorted(shared)[:5]} "
            "(use tasks.split_by=repo)"
        )


def ablate(
    run_dir: Path,
    config: LoopConfig,
    cfg: AblateConfig,
    *,
    rounds: list[int] | None = None,
    log=print,
) -> dict[str, Any]:
    """Run every arm (resuming finished ones); returns the results (also written)."""
    from srft_ray.model_prep import prepare_model
    from srft_ray.ray_cluster import init_ray
    from srft_ray.rounds.stages import PolicyEngines
    from srft_ray.tasks.source import load_task_source

    started = time.monotonic()
    run = RunManifest.load(run_dir)
    indices = rounds if rounds is not None else run.round_indices()
    stores = [
        m.paths.labelled
        for m in run.rounds()
        if m.round_index in indices and any(m.paths.labelled.glob("part-*.parquet"))
    ]
    if not stores:
        raise DataError(f"{run_dir}: no labelled data in rounds {indices} (run `srft run` first)")
    trajs = [t for s in stores for t in TrajectoryStore(s)]
    source = load_task_source(config.tasks.source, repos_dir=config.tasks.repos_dir)
    all_tasks = source.tasks()
    _, eval_tasks = split_tasks(all_tasks, config.tasks)
    check_disjoint(trajs, eval_tasks, {t.instance_id: t for t in all_tasks})
    base = str(Path(config.train.model_path or prepare_model(quiet=True)).resolve())
    init_ray(config.ray)
    out_root = Path(run_dir) / "ablate"
    evaluate = replace(
        config.evaluate, samples_per_task=cfg.samples_per_task, temperature=cfg.temperature
    )
    common = {
        "data": run_relative_hash({str(s): dataset_hash(s) for s in stores}, run_dir),
        "base": checkpoint_hash(base),
        "evaluate": json_hash(to_dict(evaluate)),
        "tasks": json_hash(sorted(t.instance_id for t in eval_tasks)),
    }
    arms = plan_arms(cfg)
    log(
        f"[ablate] {len(trajs)} trajectories ({sum(bool(t.outcome.resolved) for t in trajs)} "
        f"resolved), {len(eval_tasks)} held-out tasks x {cfg.samples_per_task} samples, "
        f"{len(arms)} arms"
    )
    engines = PolicyEngines(
        config.collect.episode.policy.engine,
        num_cpus=config.collect.episode.policy.resources.num_cpus,
        num_gpus=config.collect.episode.policy.resources.num_gpus,
        resources=config.collect.episode.policy.resources.custom,
    )
    rows: list[dict[str, Any]] = []
    try:
        for number, arm in enumerate(arms, start=1):
            arm_started = time.monotonic()
            row = run_arm(
                arm, config, evaluate, common, base, trajs, eval_tasks, out_root, engines, cfg, log
            )
            rows.append(row)
            log(
                f"[ablate] {number}/{len(arms)} {arm.name} seed {arm.seed}: resolved "
                f"{row['num_resolved']}/{row['num_episodes']} "
                f"({time.monotonic() - arm_started:.0f}s)"
            )
    finally:
        engines.release()
    results = summarize(rows, cfg, eval_tasks)
    results.update(
        run_dir=str(run_dir),
        datasets=[str(s) for s in stores],
        eval_tasks=[t.instance_id for t in eval_tasks],
        eval_repos=sorted({t.repo for t in eval_tasks}),
        wall_s=round(time.monotonic() - started, 1),
    )
    write_json_atomic(out_root / "results.json", results)
    return results


def run_arm(arm, config, evaluate, common, base, trajs, eval_tasks, out_root, engines, cfg, log):
    """Train (unless base) and evaluate one arm, or reuse its finished result."""
    from srft_ray.rounds.evaluation import evaluate_policy, resolve_metrics
    from srft_ray.runstate.hashing import read_json
    from srft_ray.train.data import TrainDataError
    from srft_ray.train.stage import run_training_stage

    folder = out_root / arm.folder
    inputs = {**common, "arm": json_hash(to_dict(arm))}
    if arm.mode:
        inputs["train"] = json_hash(to_dict(config.train.without_resources()))
    result_file = folder / "result.json"
    if result_file.exists():
        done = read_json(result_file, "ablation result")
        if done.get("inputs") == inputs:
            return done["row"]
    if folder.exists():  # stale or partial: never mixed in
        shutil.rmtree(folder)
    row: dict[str, Any] = {"arm": arm.name, "seed": arm.seed, "mode": arm.mode or "base"}
    policy = base
    if arm.mode:
        data_dir, facts = arm_data(arm, trajs, folder / "data")
        row.update(facts)
        masking = replace(
            config.train.masking,
            mode=arm.mode,
            label_sources=facts.get("label_sources", list(config.train.masking.label_sources)),
        )
        train_config = replace(
            config.train,
            masking=masking,
            seed=arm.seed,
            model_path=base,
            dataset_dirs=[str(data_dir)],
            output_dir=str(folder / "export"),
            checkpoint_dir=str(folder / "checkpoint") if config.train.checkpoint_every else "",
        )
        try:
            row.update(run_training_stage(train_config, folder / "train-metrics.jsonl"))
            policy = train_config.output_dir
        except TrainDataError as exc:  # e.g. rft with nothing resolved: counted, unresolved
            log(f"[ablate] {arm.name}: nothing to train on: {exc}")
            row["error"], policy = str(exc), ""
    outcomes = {t.instance_id: [False] * cfg.samples_per_task for t in eval_tasks}
    if policy:
        metrics = evaluate_policy(
            evaluate,
            policy,
            eval_tasks,
            TrajectoryStore(folder / "eval"),
            round_index=arm.seed,
            source=config.tasks.source,
            engine=_engine_for(engines, policy),
            log=lambda line: None,
        )
        row["num_failed_episodes"] = metrics.get("num_failed_episodes", 0)
        resolved = resolve_metrics(
            TrajectoryStore(folder / "eval"), eval_tasks, cfg.samples_per_task
        )
        outcomes, row["ended"] = resolved["outcomes"], resolved["ended"]
    row["outcomes"] = outcomes
    row["num_episodes"] = sum(len(v) for v in outcomes.values())
    row["num_resolved"] = sum(sum(v) for v in outcomes.values())
    if arm.mode and not cfg.keep_exports:
        for weights in (folder / "export").glob("*.safetensors"):
            weights.unlink()
    write_json_atomic(result_file, {"inputs": inputs, "row": row})
    return row


def _engine_for(engines, policy: str):
    """The policy engine serving `policy`: an idle engine reloads the new weights in place
    (seconds) instead of a new actor being started for every arm."""
    import ray

    if engines.actor is not None and engines.model != str(policy):
        ray.get(engines.actor.reload.remote(str(policy)))
        engines.model = str(policy)
    return engines.get(policy, lambda line: None)


def _list(text: str, kind=str) -> list:
    return [kind(x.strip()) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srft ablate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a run directory written by `srft run`")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"subset of {METHODS}")
    parser.add_argument("--label-sources", default=",".join(LABEL_VARIANTS))
    parser.add_argument("--seeds", default="0,1,2", help="training seeds")
    parser.add_argument("--samples", type=int, default=2, help="episodes per held-out task")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--label-f1", default="", help="label-quality curve, e.g. 0.74,0.5")
    parser.add_argument("--data-sizes", default="", help="data-size curve, e.g. 25,50,100")
    parser.add_argument("--rounds", default="", help="rounds whose data to use (default: all)")
    parser.add_argument("--out", default="", help="also write the results JSON here")
    parser.add_argument("overrides", nargs="*", help="key.path=value overrides of the run config")
    args = parser.parse_args(argv)
    cfg = AblateConfig(
        methods=_list(args.methods),
        label_sources=_list(args.label_sources),
        seeds=_list(args.seeds, int),
        samples_per_task=args.samples,
        temperature=args.temperature,
        label_f1=_list(args.label_f1, float),
        data_sizes=_list(args.data_sizes, int),
    )
    bad = sorted(set(cfg.methods) - set(METHODS)) + sorted(
        set(cfg.label_sources) - set(LABEL_VARIANTS)
    )
    if bad:
        print(f"srft ablate: unknown method or label source {bad}", file=sys.stderr)
        return 2
    try:
        run = RunManifest.load(args.run_dir)
        base = upgrade_config(LoopConfig, copy.deepcopy(run.config or {}))
        base.pop("run_dir", None)
        config = load_config(LoopConfig, [], args.overrides, base=base)
        rounds = [int(r) for r in args.rounds.split(",") if r.strip()] or None
        results = ablate(Path(args.run_dir).resolve(), config, cfg, rounds=rounds)
    except (ConfigError, DataError, ValueError) as exc:
        print(f"srft ablate: {exc}", file=sys.stderr)
        return 2
    print(format_table(results))
    written = Path(args.run_dir) / "ablate" / "results.json"
    if args.out:
        write_json_atomic(args.out, results)
        written = Path(args.out)
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
