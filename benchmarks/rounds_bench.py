"""Do rounds climb? `srft run` for several rounds, per method and seed, on the same held-out tasks:
the held-out resolve rate of every round (the base model is round -1) with its interval, and
paired round-to-round differences on the same task ids.

    python benchmarks/rounds_bench.py --rounds 4 --methods rft,srft --seeds 0,1 --eval-tasks 60 \\
        --out benchmarks/results/rounds_bench.json [LoopConfig key=value ...]

Each (method, seed) is one `srft run` (srft_ray.rounds.round_loop.run_loop) in
RUN_DIR/METHOD/seed-S on the embedded defaults plus the overrides: every round trains in the
method's masking mode with the seed, the student collects from round `teacher_rounds` on, and
every round is evaluated on the same held-out tasks (unseen repositories). The base model's
evaluation is done once and copied to the other runs (its stage is keyed on the model, the
evaluation config and the task ids, so a copy on other inputs is redone, not reused). A run cut
short resumes where it stopped: rerun the same command.

--control runs, instead of the runs, the equal-steps control of each finished (method, seed):
round 0 retrained on round 0's data alone for as many optimizer steps as the run's last round
took (RUN_DIR/METHOD/seed-S-control, round 0's collection and labels copied and reused, training
and evaluation redone), then tables everything. An epoch budget gives later rounds more steps;
the control says how much of a climb more steps alone buy.

The JSON (`--out`): {"command", "wall_s", "config": overrides, "methods": {METHOD: {"rounds":
[{"round", "resolve_rate", "ci95", "num_tasks", "num_episodes", "train_pass_rate"}], "pairs":
{"r1-vs-r0": {"diff", "ci95", "p", "num_tasks"}, ...}}}, "between": {"srft-vs-rft@r1": ...},
"controls": {METHOD: {"steps", "resolve_rate", "ci95", "pairs": {"r2-vs-r0@75": ...}}}}.
"between" also has "srft-vs-rft@climb-r2-r0": per task, srft's round 2 - round 0 minus rft's.
A held-out task whose episode failed counts as unresolved (every failure is in the denominator).
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from srft_ray.present.climb import eval_outcomes
from srft_ray.rounds.stats import Outcomes, climb_comparison, paired_comparison, resolve_rate_ci

# ----------------------------------------------------------------------------- the runs


def run_overrides(args: argparse.Namespace, method: str, seed: int) -> list[str]:
    return [
        f"run_dir={Path(args.run_dir) / method / f'seed-{seed}'}",
        f"num_rounds={args.rounds}",
        f"tasks.max_eval_tasks={args.eval_tasks}",
        f"train.masking.mode={method}",
        f"train.seed={seed}",
        "write_report=false",
        *args.overrides,
    ]


def run_all(args: argparse.Namespace, log) -> list[Path]:
    from srft_ray.config import load_config
    from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig
    from srft_ray.rounds.round_loop import run_loop

    run_dirs = []
    for seed, method in itertools.product(args.seeds, args.methods):  # every method once first
        config = load_config(LoopConfig, [EMBEDDED_CONFIG], run_overrides(args, method, seed))
        run_dir = config.resolved_run_dir()
        if run_dirs and not (run_dir / "base").exists() and (run_dirs[0] / "base").exists():
            shutil.copytree(run_dirs[0] / "base", run_dir / "base")
        log(f"[rounds_bench] {method} seed {seed}: {run_dir}")
        run_dirs.append(run_loop(config, log=log))
    return run_dirs


def run_controls(args: argparse.Namespace, log) -> None:
    for seed, method in itertools.product(args.seeds, args.methods):
        if run_control(args, method, seed, log) is None:
            log(f"[rounds_bench] {method} seed {seed}: no finished later round, no control")


def control_dir(run_dir: Path) -> Path:
    return run_dir.with_name(f"{run_dir.name}-control")


def _train_and_evaluate(round_dir: Path):
    """A round's train and evaluate stage records (StageRecord), or None before its manifest."""
    from srft_ray.runstate.manifest import RoundManifest

    path = round_dir / "manifest.json"
    if not path.exists():
        return None
    stages = RoundManifest.load(path).stages
    return stages["train"], stages["evaluate"]


def last_round_steps(run_dir: Path) -> tuple[int, int] | None:
    """(the last trained round, its optimizer steps), from the run's manifests."""
    last = None
    for folder in sorted(run_dir.glob("round-*")):
        records = _train_and_evaluate(folder)
        steps = records[0].metrics.get("num_optimizer_steps") if records else None
        if records and records[0].status == "done" and steps:
            last = (int(folder.name.split("-")[1]), int(steps))
    return last


def control_outcomes(control: Path, steps: int) -> dict[str, list[bool]] | None:
    """The control's round-0 evaluation, only once it evaluated a model trained for `steps`
    (a copied round 0 holds the original's evaluation until the control redoes it)."""
    records = _train_and_evaluate(control / "round-000")
    if records is None:
        return None
    train, evaluate = records
    evaluated = (
        train.status == "done"
        and train.metrics.get("num_optimizer_steps") == steps
        and evaluate.status == "done"
        and (evaluate.finished_at or 0) >= (train.finished_at or float("inf"))
    )
    return eval_outcomes(control / "round-000" / "eval") if evaluated else None


def control_overrides(args: argparse.Namespace, method: str, seed: int, steps: int) -> list[str]:
    run_dir = Path(args.run_dir) / method / f"seed-{seed}"
    extra = [f"run_dir={control_dir(run_dir)}", "num_rounds=1", f"train.max_steps={steps}"]
    return [*run_overrides(args, method, seed), *extra]


def run_control(args: argparse.Namespace, method: str, seed: int, log) -> Path | None:
    """Round 0 again, on its own data, trained for the last round's optimizer steps."""
    from srft_ray.config import load_config
    from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig
    from srft_ray.rounds.round_loop import run_loop

    run_dir = Path(args.run_dir) / method / f"seed-{seed}"
    found = last_round_steps(run_dir)
    if found is None or found[0] == 0:
        return None
    control = control_dir(run_dir)
    for part in ("base", "round-000"):  # the stage keys decide what is reused
        if not (control / part).exists() and (run_dir / part).exists():
            shutil.copytree(run_dir / part, control / part)
    overrides = control_overrides(args, method, seed, found[1])
    config = load_config(LoopConfig, [EMBEDDED_CONFIG], overrides)
    log(f"[rounds_bench] {method} seed {seed} control: round 0 at {found[1]} steps: {control}")
    return run_loop(config, log=log)


# ----------------------------------------------------------------------------- the table


def round_outcomes(run_dir: Path) -> dict[int, dict[str, list[bool]]]:
    """round index (-1: the base model) -> instance_id -> resolved flags, for one run."""
    found = {}
    base = eval_outcomes(run_dir / "base" / "eval")
    if base is not None:
        found[-1] = base
    for folder in sorted(run_dir.glob("round-*")):
        outcomes = eval_outcomes(folder / "eval")
        if outcomes is not None:
            found[int(folder.name.split("-")[1])] = outcomes
    return found


def train_pass_rate(run_dir: Path, round_index: int) -> float | None:
    """The share of a round's collected episodes that resolved their training task."""
    from srft_ray.data.store import TrajectoryStore

    store = run_dir / f"round-{round_index:03d}" / "collected"
    if not store.is_dir():
        return None
    resolved = [bool(t.outcome.resolved) for t in TrajectoryStore(store)]
    return sum(resolved) / len(resolved) if resolved else None


def all_tasks(runs: dict[str, dict[str, dict[int, dict[str, list[bool]]]]]) -> list[str]:
    """Every task id any round of any run was evaluated on."""
    return sorted(
        {t for seeds in runs.values() for rs in seeds.values() for o in rs.values() for t in o}
    )


def filled(outcomes: dict[str, list[bool]], tasks: list[str]) -> dict[str, list[bool]]:
    """Every held-out task, one unresolved sample where its episode is missing (failed)."""
    return {task: list(outcomes.get(task) or [False]) for task in tasks}


def summarize(
    runs: dict[str, dict[str, dict[int, dict[str, list[bool]]]]],
    pass_rates: dict[str, dict[str, dict[int, float | None]]] | None = None,
) -> dict[str, Any]:
    """runs: method -> seed -> round -> instance_id -> flags. Rounds every seed of a method
    reached are tabled; pairs are over the same task ids, pooled over seeds."""
    pass_rates = pass_rates or {}
    tasks = all_tasks(runs)
    methods: dict[str, Any] = {}
    by_round: dict[str, dict[int, Outcomes]] = {}
    for method, seeds in runs.items():
        common = sorted(set.intersection(*(set(rounds) for rounds in seeds.values())))
        by_round[method] = {
            r: {seed: filled(rounds[r], tasks) for seed, rounds in seeds.items()} for r in common
        }
        table = []
        for r, outcomes in by_round[method].items():
            rate, (low, high) = resolve_rate_ci(outcomes)
            rates = [pass_rates.get(method, {}).get(s, {}).get(r) for s in seeds]
            rates = [x for x in rates if x is not None]
            table.append(
                {
                    "round": r,
                    "resolve_rate": round(rate, 4),
                    "ci95": [round(low, 4), round(high, 4)],
                    "num_tasks": len(tasks),
                    "num_episodes": sum(len(s) for o in outcomes.values() for s in o.values()),
                    "train_pass_rate": round(sum(rates) / len(rates), 4) if rates else None,
                }
            )
        pairs = {}
        for later, earlier in itertools.combinations(sorted(by_round[method], reverse=True), 2):
            if earlier < 0 and later != 0:
                continue  # the base model only against round 0
            name = f"r{later}-vs-{'base' if earlier < 0 else f'r{earlier}'}"
            pairs[name] = _rounded(
                paired_comparison(by_round[method][later], by_round[method][earlier])
            )
        methods[method] = {"rounds": table, "pairs": dict(sorted(pairs.items()))}
    between = {}
    for a, b in itertools.combinations(sorted(by_round), 2):
        shared = sorted(set(by_round[a]) & set(by_round[b]))
        for r in shared:
            if r >= 0:
                between[f"{b}-vs-{a}@r{r}"] = _rounded(
                    paired_comparison(by_round[b][r], by_round[a][r])
                )
        if shared and shared[-1] > 0 and 0 in shared:  # whose climb from round 0 is larger
            last = shared[-1]
            between[f"{b}-vs-{a}@climb-r{last}-r0"] = _rounded(
                climb_comparison(
                    by_round[b][last], by_round[b][0], by_round[a][last], by_round[a][0]
                )
            )
    return {"methods": methods, "between": between}


def summarize_controls(
    runs: dict[str, dict[str, dict[int, dict[str, list[bool]]]]],
    controls: dict[str, dict[str, tuple[int, int, dict[str, list[bool]]]]],
) -> dict[str, Any]:
    """controls: method -> seed -> (last round, its steps, the control's outcomes). The control
    against round 0 (what more steps buy) and the last round against the control (what the
    later rounds' data buys at equal steps), on the same task ids, pooled over seeds."""
    tasks = all_tasks(runs)
    found = {}
    for method, seeds in controls.items():
        shapes = {(last, steps) for last, steps, _ in seeds.values()}
        if len(shapes) != 1:
            continue  # seeds whose last rounds differ are not pooled
        ((last, steps),) = shapes
        control = {seed: filled(o, tasks) for seed, (_, _, o) in seeds.items()}
        rounds = {r: {s: filled(runs[method][s][r], tasks) for s in seeds} for r in (0, last)}
        rate, (low, high) = resolve_rate_ci(control)
        found[method] = {
            "steps": steps,
            "resolve_rate": round(rate, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "num_episodes": sum(len(v) for o in control.values() for v in o.values()),
            "pairs": {
                f"r0@{steps}-vs-r0": _rounded(paired_comparison(control, rounds[0])),
                f"r{last}-vs-r0@{steps}": _rounded(paired_comparison(rounds[last], control)),
            },
        }
    return found


def _rounded(pair: dict[str, Any]) -> dict[str, Any]:
    return {
        "diff": round(pair["diff"], 4),
        "ci95": [round(x, 4) for x in pair["ci95"]],
        "p": round(pair["p"], 4),
        "num_tasks": pair["num_tasks"],
    }


def format_table(result: dict[str, Any]) -> str:
    lines = []
    for method, found in result["methods"].items():
        lines.append(f"{method}:")
        for row in found["rounds"]:
            name = "base" if row["round"] < 0 else f"round {row['round']}"
            low, high = row["ci95"]
            passed = row["train_pass_rate"]
            lines.append(
                f"  {name:<8} {row['resolve_rate']:.3f} [{low:.3f}, {high:.3f}]"
                f"  {row['num_episodes']} episodes"
                + (f"  train pass rate {passed:.2f}" if passed is not None else "")
            )
        for name, pair in found["pairs"].items():
            lines.append(f"  {name:<12} {_pair(pair)}")
    for name, pair in result["between"].items():
        lines.append(f"{name:<20} {_pair(pair)}")
    for method, control in result.get("controls", {}).items():
        low, high = control["ci95"]
        lines.append(
            f"{method} control (round 0 at {control['steps']} steps): "
            f"{control['resolve_rate']:.3f} [{low:.3f}, {high:.3f}]"
        )
        for name, pair in control["pairs"].items():
            lines.append(f"  {name:<16} {_pair(pair)}")
    return "\n".join(lines)


def _pair(pair: dict[str, Any]) -> str:
    low, high = pair["ci95"]
    return f"{pair['diff']:+.3f} [{low:+.3f}, {high:+.3f}] p {pair['p']:.3f}"


def main(argv: list[str] | None = None) -> int:
    from srft_ray.logs import setup_logging
    from srft_ray.runstate.hashing import write_json_atomic

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/rounds_bench")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--methods", default="rft,srft")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--eval-tasks", type=int, default=60)
    parser.add_argument("--summarize-only", action="store_true", help="table what is on disk")
    parser.add_argument(
        "--control", action="store_true", help="instead of the runs: round 0 at their last steps"
    )
    parser.add_argument("--out", default="benchmarks/results/rounds_bench.json")
    parser.add_argument("overrides", nargs="*", help="LoopConfig key=value overrides")
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    began = time.time()
    if not args.summarize_only:
        setup_logging()
        (run_controls if args.control else run_all)(args, print)
    runs, rates, controls = {}, {}, {}
    for method in args.methods:
        for seed in args.seeds:
            run_dir = Path(args.run_dir) / method / f"seed-{seed}"
            found = round_outcomes(run_dir)
            if found:
                runs.setdefault(method, {})[str(seed)] = found
                rates.setdefault(method, {})[str(seed)] = {
                    r: train_pass_rate(run_dir, r) for r in found if r >= 0
                }
            last = last_round_steps(run_dir)
            control = control_outcomes(control_dir(run_dir), last[1]) if last else None
            if control is not None and last[0] in found:
                controls.setdefault(method, {})[str(seed)] = (*last, control)
    if not runs:
        print(f"rounds_bench: no evaluations under {args.run_dir}", file=sys.stderr)
        return 2
    result = {
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
        "config": args.overrides,
        "wall_s": round(time.time() - began, 1),
        **summarize(runs, rates),
    }
    if controls:
        result["controls"] = summarize_controls(runs, controls)
    print(format_table(result))
    write_json_atomic(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
