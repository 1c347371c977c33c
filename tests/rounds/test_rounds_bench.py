"""benchmarks/rounds_bench.py's table, on run directories of real Parquet stores: every round of
every seed over the same held-out task ids, a failed (missing) episode unresolved, the JSON in the
shape the rounds issue asks for. No test here says which round or method is better."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from srft_ray.data.model import Outcome, Provenance, Step, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.rounds.stats import paired_comparison

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "rounds_bench.py"
TASKS = ["t-a", "t-b", "t-c", "t-d"]


def load_bench():
    spec = importlib.util.spec_from_file_location("rounds_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def episode(task: str, resolved: bool, round_index: int, number: int) -> Trajectory:
    step = Step(index=0, assistant="THOUGHT: done\n```bash\nsubmit\n```", command="submit")
    return Trajectory(
        trajectory_id=f"{task}-{round_index}-{number}",
        instance_id=task,
        system_prompt="system",
        task_prompt=f"fix {task}",
        steps=[step],
        outcome=Outcome(exit_status="submitted", patch="", resolved=resolved),
        provenance=Provenance(policy_model="m", round=round_index),
    )


def write_eval(folder: Path, solved: dict[str, bool], round_index: int) -> None:
    store = TrajectoryStore(folder)
    store.append([episode(t, ok, round_index, i) for i, (t, ok) in enumerate(solved.items())])
    store.mark_complete()


def build(run_dir: Path, evaluations: dict[int, dict[str, bool]], pass_rate: float) -> None:
    for round_index, solved in evaluations.items():
        if round_index < 0:
            write_eval(run_dir / "base" / "eval", solved, 0)
            continue
        folder = run_dir / f"round-{round_index:03d}"
        write_eval(folder / "eval", solved, round_index)
        collected = {f"train-{i}": i < pass_rate * 4 for i in range(4)}
        write_eval(folder / "collected", collected, round_index)


def test_rounds_bench_tables_paired_rounds_and_methods(tmp_path):
    bench = load_bench()
    base = dict.fromkeys(TASKS, False)
    # rft seed 0: t-d's round-1 episode failed (missing): it counts as unresolved
    build(tmp_path / "rft" / "seed-0", {
        -1: base, 0: {"t-a": True, "t-b": False, "t-c": False, "t-d": True},
        1: {"t-a": True, "t-b": True, "t-c": False}}, 0.5)  # fmt: skip
    build(tmp_path / "rft" / "seed-1", {
        -1: base, 0: {"t-a": False, "t-b": False, "t-c": True, "t-d": False},
        1: {"t-a": True, "t-b": False, "t-c": True, "t-d": True},
        2: {"t-a": True, "t-b": True, "t-c": True, "t-d": True}}, 0.25)  # fmt: skip
    build(tmp_path / "srft" / "seed-0", {
        -1: base, 0: {"t-a": True, "t-b": True, "t-c": False, "t-d": False},
        1: {"t-a": True, "t-b": True, "t-c": True, "t-d": False}}, 0.75)  # fmt: skip
    out = tmp_path / "rounds.json"
    code = bench.main([
        "--summarize-only", "--run-dir", str(tmp_path), "--methods", "rft,srft",
        "--seeds", "0,1", "--out", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert {"command", "methods", "between"} <= set(result)
    rft = result["methods"]["rft"]
    # round 2 exists for seed 1 only: a method's table keeps the rounds every seed reached
    assert [row["round"] for row in rft["rounds"]] == [-1, 0, 1]
    assert all(row["num_tasks"] == 4 and row["num_episodes"] == 8 for row in rft["rounds"])
    round1 = rft["rounds"][2]
    assert round1["resolve_rate"] == pytest.approx((2 / 4 + 3 / 4) / 2)  # t-d missing: unresolved
    assert round1["ci95"][0] <= round1["resolve_rate"] <= round1["ci95"][1]
    assert round1["train_pass_rate"] == pytest.approx((0.5 + 0.25) / 2)
    assert set(rft["pairs"]) == {"r0-vs-base", "r1-vs-r0"}
    expected = paired_comparison(
        {"0": {"t-a": [True], "t-b": [True], "t-c": [False], "t-d": [False]},
         "1": {"t-a": [True], "t-b": [False], "t-c": [True], "t-d": [True]}},
        {"0": {"t-a": [True], "t-b": [False], "t-c": [False], "t-d": [True]},
         "1": {"t-a": [False], "t-b": [False], "t-c": [True], "t-d": [False]}},
    )  # fmt: skip
    assert rft["pairs"]["r1-vs-r0"]["num_tasks"] == 4
    assert rft["pairs"]["r1-vs-r0"]["diff"] == pytest.approx(expected["diff"], abs=1e-4)
    assert rft["pairs"]["r1-vs-r0"]["ci95"] == [round(x, 4) for x in expected["ci95"]]
    srft = result["methods"]["srft"]
    assert set(srft["pairs"]) == {"r0-vs-base", "r1-vs-r0"}
    assert srft["rounds"][2]["resolve_rate"] == pytest.approx(0.75)
    assert set(result["between"]) == {"srft-vs-rft@r0", "srft-vs-rft@r1", "srft-vs-rft@climb-r1-r0"}
    climb = result["between"]["srft-vs-rft@climb-r1-r0"]
    # per task, seeds pooled: srft climbs t-c by 1; rft climbs t-a and t-b by 0.5 each
    # (t-d: seed 0 lost it, its episode missing; seed 1 gained it)
    assert climb["diff"] == pytest.approx((-0.5 - 0.5 + 1 + 0) / 4) and climb["num_tasks"] == 4
    assert result["between"]["srft-vs-rft@r1"]["num_tasks"] == 4


def test_rounds_bench_runs_are_the_embedded_run_per_method_and_seed(tmp_path):
    from srft_ray.config import load_config
    from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig

    bench = load_bench()
    args = bench.argparse.Namespace(
        run_dir=str(tmp_path), rounds=4, eval_tasks=60, overrides=["train_from=last"]
    )
    config = load_config(LoopConfig, [EMBEDDED_CONFIG], bench.run_overrides(args, "rft", 1))
    assert config.num_rounds == 4 and config.tasks.max_eval_tasks == 60
    assert config.train.masking.mode == "rft" and config.train.seed == 1
    assert config.train_from == "last"  # the caller's overrides come last
    assert config.resolved_run_dir() == (tmp_path / "rft" / "seed-1").resolve()


def test_rounds_bench_without_evaluations_says_so(tmp_path, capsys):
    bench = load_bench()
    code = bench.main(
        ["--summarize-only", "--run-dir", str(tmp_path), "--out", str(tmp_path / "x")]
    )
    assert code == 2 and "no evaluations" in capsys.readouterr().err


def write_manifest(round_dir: Path, steps: int, trained_at: float | None, evaluated_at: float):
    """A round manifest in the loop's own format, train and evaluate done at these times."""
    from srft_ray.runstate.manifest import RoundManifest, StageRecord

    index = int(round_dir.name.split("-")[1])
    manifest = RoundManifest.empty(round_dir.parent, index)
    manifest.stages["train"] = StageRecord(
        status="done", finished_at=trained_at, metrics={"num_optimizer_steps": steps}
    )
    manifest.stages["evaluate"] = StageRecord(status="done", finished_at=evaluated_at)
    manifest.save()


def test_the_control_is_round_zero_at_the_last_rounds_steps_on_the_same_tasks(tmp_path):
    bench = load_bench()
    run = tmp_path / "srft" / "seed-0"
    build(run, {
        -1: dict.fromkeys(TASKS, False),
        0: {"t-a": True, "t-b": False, "t-c": False, "t-d": False},
        1: {"t-a": True, "t-b": True, "t-c": False, "t-d": False},
        2: {"t-a": True, "t-b": True, "t-c": True, "t-d": False}}, 0.5)  # fmt: skip
    for index, steps in enumerate((40, 57, 75)):
        write_manifest(run / f"round-{index:03d}", steps, 10.0 * index, 10.0 * index + 5)
    assert bench.last_round_steps(run) == (2, 75)
    args = bench.argparse.Namespace(run_dir=str(tmp_path), rounds=3, eval_tasks=4, overrides=[])
    control = bench.control_dir(run)
    assert control == tmp_path / "srft" / "seed-0-control"

    # A copied round 0 still holds the original's evaluation: it is not the control yet.
    build(control, {0: {"t-a": True, "t-b": False, "t-c": False, "t-d": False}}, 0.5)
    write_manifest(control / "round-000", 40, 0.0, 5.0)
    out = tmp_path / "rounds.json"
    argv = ["--summarize-only", "--run-dir", str(tmp_path), "--methods", "srft", "--seeds", "0",
            "--out", str(out)]  # fmt: skip
    assert bench.main(argv) == 0 and "controls" not in json.loads(out.read_text())
    write_manifest(control / "round-000", 75, 100.0, 50.0)  # trained, not yet evaluated again
    assert bench.main(argv) == 0 and "controls" not in json.loads(out.read_text())
    write_manifest(control / "round-000", 75, None, 5.0)  # no finish time recorded
    assert bench.main(argv) == 0 and "controls" not in json.loads(out.read_text())

    shutil.rmtree(control / "round-000" / "eval")
    write_eval(control / "round-000" / "eval", {"t-a": True, "t-b": True, "t-c": False}, 0)
    write_manifest(control / "round-000", 75, 100.0, 200.0)  # t-d failed: unresolved
    assert bench.main(argv) == 0
    found = json.loads(out.read_text())["controls"]["srft"]
    assert found["steps"] == 75 and found["resolve_rate"] == pytest.approx(0.5)
    assert set(found["pairs"]) == {"r0@75-vs-r0", "r2-vs-r0@75"}
    assert found["pairs"]["r0@75-vs-r0"]["diff"] == pytest.approx(0.25)
    assert found["pairs"]["r2-vs-r0@75"]["diff"] == pytest.approx(0.25)
    assert found["pairs"]["r2-vs-r0@75"]["num_tasks"] == 4

    from srft_ray.config import load_config
    from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig

    args.overrides = ["train.max_steps=0", "train.num_epochs=1.0"]  # the run's epoch budget
    overrides = bench.control_overrides(args, "srft", 0, 75)
    config = load_config(LoopConfig, [EMBEDDED_CONFIG], overrides)
    assert config.num_rounds == 1 and config.train.max_steps == 75
    assert config.train.masking.mode == "srft" and config.tasks.max_eval_tasks == 4
    assert config.resolved_run_dir() == control.resolve()
