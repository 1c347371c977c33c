"""`srft ablate RUN_DIR`: RFT vs SRFT vs no-filter, trained on the same labelled data.

Reads the run's config (run.json) and the labelled stores of its rounds, trains one policy per
method from the base model with everything else equal, evaluates each (and the base model) on
the same held-out tasks, prints the comparison table the paper reports and writes
RUN_DIR/ablate/results.json. Each method keeps its own folder under RUN_DIR/ablate/<method>/;
a method whose result is already written for the same inputs is not redone.

    srft ablate runs/embedded
    srft ablate runs/embedded --methods rft,srft --rounds 0 train.max_steps=4
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from srft_ray.config import ConfigError, load_config, to_dict
from srft_ray.data.model import DataError
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.config import LoopConfig, split_tasks
from srft_ray.rounds.hashing import checkpoint_hash, dataset_hash, json_hash, write_json_atomic
from srft_ray.rounds.run_manifest import RunManifest

METHODS = ("base", "rft", "srft", "all")
"""base: the starting model untrained; rft: resolved trajectories only; srft: bad steps masked;
all: every step of every trajectory trained (the no-filter baseline)."""


def ablate(
    run_dir: Path,
    config: LoopConfig,
    *,
    methods: list[str],
    rounds: list[int] | None = None,
    log=print,
) -> dict[str, Any]:
    """Train and evaluate each method; returns {"methods": {name: row}, ...} (also written)."""
    from srft_ray.model_prep import prepare_model
    from srft_ray.ray_cluster import init_ray
    from srft_ray.rounds.evaluation import evaluate_policy
    from srft_ray.rounds.loop import PolicyEngines, run_training_stage
    from srft_ray.tasks.source import load_task_source
    from srft_ray.train.data import TrainDataError

    run = RunManifest.load(run_dir)
    indices = rounds if rounds is not None else run.round_indices()
    data = [
        str(m.paths.labelled)
        for m in run.rounds()
        if m.round_index in indices and any(m.paths.labelled.glob("part-*.parquet"))
    ]
    if not data:
        raise DataError(f"{run_dir}: no labelled data in rounds {indices} (run `srft run` first)")
    source = load_task_source(config.tasks.source, repos_dir=config.tasks.repos_dir)
    _, eval_tasks = split_tasks(source.tasks(), config.tasks)
    base = str(Path(config.train.model_path or prepare_model(quiet=True)).resolve())
    init_ray(config.ray)
    out_root = Path(run_dir) / "ablate"
    common = {
        "data": json_hash({d: dataset_hash(d) for d in data}),
        "base": checkpoint_hash(base),
        "evaluate": json_hash(to_dict(config.evaluate)),
        "tasks": json_hash(sorted(t.instance_id for t in eval_tasks)),
    }
    log(f"[ablate] {len(data)} labelled store(s), {len(eval_tasks)} held-out tasks: {methods}")
    engines = PolicyEngines(
        config.collect.episode.policy.engine,
        num_cpus=config.policy_engine_num_cpus,
        num_gpus=config.policy_engine_num_gpus,
    )
    rows: dict[str, Any] = {}
    try:
        for method in methods:
            folder = out_root / method
            train_config = replace(
                config.train,
                mode=method if method != "base" else config.train.mode,
                model_path=base,
                dataset_dirs=data,
                output_dir=str(folder / "export"),
                # as in the loop: optimizer-state checkpoints only when asked for
                checkpoint_dir=str(folder / "checkpoint") if config.train.checkpoint_every else "",
            )
            inputs = {
                **common,
                "train": json_hash(to_dict(train_config)) if method != "base" else "",
            }
            result_file = folder / "result.json"
            if result_file.exists():
                done = json.loads(result_file.read_text())
                if done.get("inputs") == inputs:
                    log(f"[ablate] {method}: done earlier on the same inputs, skipped")
                    rows[method] = done["row"]
                    continue
                shutil.rmtree(folder)
            started = time.monotonic()
            row: dict[str, Any] = {"method": method}
            policy = base
            if method != "base":
                engines.release()
                log(f"[ablate] {method}: training from {Path(base).name}")
                try:
                    row.update(
                        run_training_stage(config, train_config, folder / "train" / "metrics.jsonl")
                    )
                    policy = train_config.output_dir
                except TrainDataError as exc:  # e.g. RFT when nothing resolved: say so, go on
                    log(f"[ablate] {method}: nothing to train on: {exc}")
                    row.update(error=str(exc))
                    policy = ""
            if policy:
                log(f"[ablate] {method}: evaluating {Path(policy).name}")
                row.update(
                    evaluate_policy(
                        config.evaluate,
                        policy,
                        eval_tasks,
                        TrajectoryStore(folder / "eval"),
                        source=config.tasks.source,
                        engine=engines.get(policy, log),
                        log=log,
                    )
                )
            row["wall_s"] = round(time.monotonic() - started, 1)
            write_json_atomic(result_file, {"inputs": inputs, "row": row})
            rows[method] = row
    finally:
        engines.release()
    results = {
        "run_dir": str(run_dir),
        "datasets": data,
        "eval_tasks": [t.instance_id for t in eval_tasks],
        "methods": rows,
    }
    write_json_atomic(out_root / "results.json", results)
    return results


def format_table(results: dict[str, Any]) -> str:
    """Resolved rate per method, with trained tokens and masked steps (the paper's comparison)."""
    header = f"{'method':<6}  {'resolved':>12}  {'trained tokens':>16}  {'masked steps':>12}  note"
    lines = [header, "-" * len(header)]
    for method, row in results["methods"].items():
        if "num_tasks" in row:
            resolved = f"{row['num_resolved']}/{row['num_tasks']} {row['resolve_rate']:.0%}"
        else:
            resolved = "n/a"
        if method == "base":
            tokens, masked = "-", "-"
        else:
            tokens = f"{row.get('num_trained_tokens', 0)}/{row.get('num_tokens', 0)}"
            masked = str(row.get("num_masked_steps", "-"))
        note = row.get("error", "")[:60]
        lines.append(f"{method:<6}  {resolved:>12}  {tokens:>16}  {masked:>12}  {note}".rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srft ablate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a run directory written by `srft run`")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"subset of {METHODS}")
    parser.add_argument("--rounds", default="", help="rounds whose data to use (default: all)")
    parser.add_argument("overrides", nargs="*", help="key.path=value overrides of the run config")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        print(f"srft ablate: --methods: unknown {unknown}; choose from {METHODS}", file=sys.stderr)
        return 2
    try:
        run = RunManifest.load(args.run_dir)
        base = copy.deepcopy(run.config or {})
        base.pop("run_dir", None)
        config = load_config(LoopConfig, [], args.overrides, base=base)
        rounds = [int(r) for r in args.rounds.split(",") if r.strip()] or None
        results = ablate(Path(args.run_dir).resolve(), config, methods=methods, rounds=rounds)
    except (ConfigError, DataError, ValueError) as exc:
        print(f"srft ablate: {exc}", file=sys.stderr)
        return 2
    print(format_table(results))
    print(f"wrote {Path(args.run_dir) / 'ablate' / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
