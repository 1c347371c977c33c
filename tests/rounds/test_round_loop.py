"""The SRFT loop for real: a driver killed with SIGKILL mid-run resumes, `srft ablate`, and a
stage launched through `ray job submit` on the session's Ray cluster.

The loop runs as `python -m srft_ray.jobs.loop` subprocesses joined to the session cluster (so
killing the driver kills its actors, as on a real cluster), with the ScriptedTeacher, rule
labels, in-process training and a real vLLM evaluation of each exported checkpoint.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from srft_ray.data.store import TrajectoryStore
from srft_ray.jobs.loop import parse_config
from srft_ray.rounds.config import EMBEDDED_CONFIG, TaskSplitConfig, split_tasks
from srft_ray.tasks.source import load_task_source

REPO = Path(__file__).resolve().parents[2]
NUM_TRAIN_TASKS = 3
# Tiny, fast settings over the embedded defaults: teacher rounds only, rule labels.
TINY = [
    "num_rounds=2",
    "teacher_rounds=2",
    "critic.labels=rules",
    f"tasks.max_train_tasks={NUM_TRAIN_TASKS}",
    "tasks.max_eval_tasks=1",
    "collect.num_workers=1",
    "collect.episodes_per_worker=1",
    "critique_pool.resources.num_cpus=0.25",
    "train.max_steps=1",
    "train.masking.max_length=1024",
    "train.tokens_per_micro_batch=1024",
    "evaluate.episode.agent.step_limit=1",
    "evaluate.episode.policy.sampling.max_tokens=32",
    "collect.episode.policy.resources.num_cpus=0.5",
    "collect.episode.policy.engine.kv_cache_memory_gb=0.5",
    "train.export_dtype=bfloat16",
    "write_report=false",
]


def stored_ids(store: Path) -> list[str]:
    """Every id in every part (duplicates included, unlike TrajectoryStore.ids())."""
    parts = sorted(store.glob("part-*.parquet"))
    return [i for part in parts for i in pq.read_table(part).column("trajectory_id").to_pylist()]


def manifest(run_dir: Path, index: int) -> dict:
    path = run_dir / f"round-{index:03d}" / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def stage_status(run_dir: Path, index: int, stage: str) -> str:
    return manifest(run_dir, index).get("stages", {}).get(stage, {}).get("status", "")


def loop_command(run_dir: Path, ray_address: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "srft_ray.jobs.loop",
        "-c",
        str(EMBEDDED_CONFIG),
        "--run-dir",
        str(run_dir),
        f"ray.address={ray_address}",
        *TINY,
    ]


def start_loop(run_dir: Path, ray_address: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            loop_command(run_dir, ray_address),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            preexec_fn=_own_group_dying_with_parent,
        )


def _own_group_dying_with_parent() -> None:
    """In the child: its own process group (a SIGKILL reaches all of it), and killed when the
    test process dies (a CI timeout must not leave a driver behind)."""
    import ctypes

    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def kill_when(proc: subprocess.Popen, condition, log: Path, timeout_s: float = 900) -> None:
    """SIGKILL the driver's process group as soon as `condition()` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"loop exited ({proc.returncode}) before the kill point:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"kill point not reached in {timeout_s}s:\n{tail(log)}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def tail(log: Path, num_chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-num_chars:]


def test_split_is_stable_disjoint_and_salted():
    tasks = load_task_source("embedded").tasks()
    config = TaskSplitConfig(eval_fraction=0.25)
    train, held = split_tasks(tasks, config)
    again_train, again_held = split_tasks(list(reversed(tasks)), config)
    assert {t.instance_id for t in held} == {t.instance_id for t in again_held}
    assert {t.instance_id for t in train} == {t.instance_id for t in again_train}
    assert not {t.instance_id for t in train} & {t.instance_id for t in held}
    assert len(train) + len(held) == len(tasks) and held
    other = split_tasks(tasks, TaskSplitConfig(eval_fraction=0.25, split_salt="other"))[1]
    assert {t.instance_id for t in other} != {t.instance_id for t in held}
    with pytest.raises(ValueError, match="eval_fraction"):
        split_tasks(tasks, TaskSplitConfig(eval_fraction=1.0))


def test_student_rounds_can_be_masked_by_outcome(tmp_path):
    """student_masking=rft: round 1 trains the teacher's store by step, the student's by outcome."""
    from types import SimpleNamespace

    from srft_ray.rounds.train_evaluate import train_config_for
    from srft_ray.runstate.layout import round_paths

    def round_one(*overrides: str):
        config = parse_config([f"run_dir={tmp_path}", *overrides])
        ctx = SimpleNamespace(
            config=config, base_model="BASE", run=SimpleNamespace(run_dir=tmp_path)
        )
        manifest = SimpleNamespace(round_index=1, paths=round_paths(tmp_path, 1))
        return train_config_for(ctx, manifest, "POLICY")

    mixed = round_one("student_masking=rft")
    assert mixed.dataset_dirs == [str(round_paths(tmp_path, i).labelled) for i in (0, 1)]
    assert mixed.dataset_modes == ["srft", "rft"]
    assert [mixed.masking_for(i).mode for i in (0, 1)] == ["srft", "rft"]
    same = round_one()  # one mode everywhere: no per-store list
    assert same.dataset_modes == [] and same.masking.mode == "srft"
    last = round_one("student_masking=rft", "train_from=last")
    assert last.dataset_dirs == [str(round_paths(tmp_path, 1).labelled)]
    assert last.model_path == "POLICY" and last.masking.mode == "rft" and last.dataset_modes == []


def test_the_teachers_rounds_are_weighted_or_dropped_once_the_student_collects(tmp_path):
    from types import SimpleNamespace

    from srft_ray.rounds.train_evaluate import train_config_for
    from srft_ray.runstate.layout import round_paths

    def round_of(index: int, *overrides: str):
        config = parse_config([f"run_dir={tmp_path}", "teacher_rounds=1", *overrides])
        ctx = SimpleNamespace(
            config=config, base_model="BASE", run=SimpleNamespace(run_dir=tmp_path)
        )
        manifest = SimpleNamespace(round_index=index, paths=round_paths(tmp_path, index))
        return train_config_for(ctx, manifest, "POLICY")

    stores = [str(round_paths(tmp_path, i).labelled) for i in (0, 1, 2)]
    assert round_of(2).dataset_dirs == stores and round_of(2).dataset_weights == []
    weighted = round_of(2, "teacher_weight=0.5")
    assert weighted.dataset_dirs == stores and weighted.dataset_weights == [0.5, 1.0, 1.0]
    free = round_of(2, "teacher_weight=0")  # teacher-free: the student's rounds only
    assert free.dataset_dirs == stores[1:] and free.dataset_weights == []
    # Round 0 is the teacher's: its own data, whatever the weight.
    assert round_of(0, "teacher_weight=0").dataset_dirs == stores[:1]
    assert round_of(0, "teacher_weight=3").dataset_weights == []
    assert round_of(2, "teacher_weight=0", "train_from=last").dataset_dirs == stores[2:]
    with pytest.raises(ValueError, match="teacher_weight must be >= 0"):
        parse_config([f"run_dir={tmp_path}", "teacher_weight=-1"])


def test_run_defaults_are_the_embedded_config(tmp_path):
    config = parse_config([])
    assert config.resolved_run_dir() == (Path("runs") / "embedded").resolve()
    assert config.teacher.kind == "scripted" and config.collect.episode.policy.kind == "vllm"
    assert config.critic.backend == "vllm" and config.collect.episode.sandbox.backend == "bwrap"
    assert config.num_rounds == 2 and config.collect.episode.policy.sampling.max_tokens <= 160
    # a family a small student can learn, held out by repository, a teacher it can imitate
    assert config.tasks.source.startswith("generated:") and config.tasks.split_by == "repo"
    assert config.teacher.scripted.mode == "imitable" and config.evaluate_base
    # limits that fit the imitable teacher's longest plan (11 steps) and the whole trajectory
    assert config.teacher_step_limit >= 11 and config.train.masking.max_length >= 2048
    config = parse_config(["--run-dir", str(tmp_path), "num_rounds=3", "train.masking.mode=rft"])
    assert config.resolved_run_dir() == tmp_path and config.num_rounds == 3
    assert config.train.masking.mode == "rft"
    with pytest.raises(ValueError, match="num_round"):
        parse_config(["num_round=3"])


@pytest.fixture(scope="module")
def resumed_run(ray_cluster, smollm_dir, tmp_path_factory):
    """A two-round run whose driver is SIGKILLed twice (mid-collect, then mid-evaluate of round
    1) and restarted each time; yields what the test checks."""
    run_dir = tmp_path_factory.mktemp("loop") / "run"
    log = run_dir.parent / "loop.log"
    address = ray_cluster["address"]
    collected0 = run_dir / "round-000" / "collected"
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        started.append(start_loop(run_dir, address, log))
        return started[-1]

    try:
        first = start()
        kill_when(first, lambda: len(list(collected0.glob("part-*.parquet"))) >= 1, log)
        parts_at_kill = {p.name: p.read_bytes() for p in collected0.glob("part-*.parquet")}
        ids_at_kill = stored_ids(collected0)

        second = start()
        kill_when(second, lambda: stage_status(run_dir, 1, "evaluate") == "running", log)
        before_third = {i: manifest(run_dir, i) for i in (0, 1)}

        third = start()
        assert third.wait(timeout=900) == 0, tail(log)
        # The full rerun goes to a copy: a moved or copied run redoes nothing either.
        copied = run_dir.parent / "copied-run"
        shutil.copytree(run_dir, copied)
        fourth = subprocess.run(
            loop_command(copied, address), cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert fourth.returncode == 0, fourth.stdout[-3000:] + fourth.stderr[-3000:]
        # The run grows: one more round (the student's) on the copy, nothing earlier redone.
        before_growth = {i: manifest(copied, i) for i in (0, 1)}
        grown = subprocess.run(
            [*loop_command(copied, address), "num_rounds=3"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert grown.returncode == 0, grown.stdout[-3000:] + grown.stderr[-3000:]
    finally:  # never leave a driver behind, whatever failed
        for proc in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    return {
        "run_dir": run_dir,
        "parts_at_kill": parts_at_kill,
        "ids_at_kill": ids_at_kill,
        "before_third": before_third,
        "fourth_output": fourth.stdout,
        "grown_run": copied,
        "before_growth": before_growth,
        "log": log,
    }


@pytest.mark.slow
def test_killed_driver_resumes_without_loss_duplication_or_redone_stages(resumed_run):
    run_dir = resumed_run["run_dir"]
    train_ids = [t.instance_id for t in split_tasks(*_tasks_and_split())[0]][:NUM_TRAIN_TASKS]
    for index in (0, 1):
        expected = {f"{index}/{i}/0" for i in train_ids}
        root = run_dir / f"round-{index:03d}"
        for store in ("collected", "labelled"):
            ids = stored_ids(root / store)
            assert collections.Counter(ids).most_common(1)[0][1] == 1, (store, ids)  # no dups
            assert set(ids) == expected, (index, store)  # nothing lost
        assert (root / "export" / "model.safetensors").exists()
        assert len(stored_ids(root / "eval")) == 1
        stages = manifest(run_dir, index)["stages"]
        assert all(s["status"] == "done" for s in stages.values()), stages
    # Kill 1 landed mid-collection of round 0: the parts written before it were kept as they
    # were (not rewritten), and the restart collected only the rest.
    assert resumed_run["ids_at_kill"]
    collected0 = run_dir / "round-000" / "collected"
    for name, content in resumed_run["parts_at_kill"].items():
        assert (collected0 / name).read_bytes() == content
    r0 = manifest(run_dir, 0)["stages"]
    assert [a["status"] for a in r0["collect"]["attempts"]] == ["interrupted", "done"]
    assert r0["collect"]["metrics"]["num_written_this_attempt"] == NUM_TRAIN_TASKS - len(
        resumed_run["ids_at_kill"]
    )
    # Kill 2 landed in round 1's evaluation: every stage finished before it was not redone.
    before = resumed_run["before_third"]
    for index, names in ((0, ("collect", "critique", "train", "evaluate")), (1, ("collect",
            "critique", "train"))):  # fmt: skip
        after = manifest(run_dir, index)["stages"]
        for name in names:
            assert after[name]["attempts"] == before[index]["stages"][name]["attempts"], name
    r1_eval = manifest(run_dir, 1)["stages"]["evaluate"]["attempts"]
    assert [a["status"] for a in r1_eval] == ["interrupted", "done"]
    # Round 0's evaluation ran beside round 1's collection (overlap_evaluation, the default).
    e0 = manifest(run_dir, 0)["stages"]["evaluate"]["attempts"][-1]
    c1 = manifest(run_dir, 1)["stages"]["collect"]["attempts"][-1]
    assert e0["started_at"] < c1["ended_at"] and c1["started_at"] < e0["ended_at"], (e0, c1)
    # Train metrics were recorded per step, and a full rerun of a copy redoes nothing.
    assert (run_dir / "round-001" / "train" / "metrics.jsonl").read_text().strip()
    assert resumed_run["fourth_output"].count("on the same inputs, skipped") == 8


@pytest.mark.slow
def test_a_grown_run_adds_rounds_and_redoes_nothing(resumed_run):
    grown = resumed_run["grown_run"]
    for index in (0, 1):  # every stage of the finished rounds kept its attempts as they were
        before = resumed_run["before_growth"][index]["stages"]
        after = manifest(grown, index)["stages"]
        for name, stage in after.items():
            assert stage["attempts"] == before[name]["attempts"], (index, name)
    stages = manifest(grown, 2)["stages"]
    assert all(s["status"] == "done" for s in stages.values()), stages
    assert (grown / "round-002" / "export" / "model.safetensors").exists()


@pytest.mark.slow
def test_a_round_with_nothing_trainable_keeps_the_policy(ray_cluster, tmp_path):
    # The teacher never resolves and rft keeps only resolved trajectories: nothing to train on.
    never_resolves = [
        "num_rounds=1",
        "teacher_rounds=1",
        "train.masking.mode=rft",
        "teacher.scripted.profile.resolve_probability=0.0",
        "teacher.scripted.profile.break_after_fix_probability=0.0",
        "evaluate_base=false",
        "last_stage=train",
    ]
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [*loop_command(run_dir, ray_cluster["address"]), *never_resolves],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    lines = [line for line in output.splitlines() if "nothing trainable in" in line]
    assert len(lines) == 1 and "round-000/labelled" in lines[0] and "mode rft" in lines[0]
    train = manifest(run_dir, 0)["stages"]["train"]
    assert train["status"] == "done" and "nothing trainable" in train["metrics"]["skipped"]
    assert "Traceback" not in output


def _tasks_and_split():
    split = parse_config(["-c", str(EMBEDDED_CONFIG)]).tasks
    return load_task_source(split.source).tasks(), split


@pytest.mark.slow
def test_ablate_compares_methods_on_equal_budgets(resumed_run, tmp_path):
    from srft_ray.rounds.ablate import main

    run_dir = resumed_run["run_dir"]
    shutil.rmtree(run_dir / "ablate", ignore_errors=True)
    partial = run_dir / "ablate" / "rft" / "seed-0"  # a crashed earlier attempt
    partial.mkdir(parents=True)
    (partial / "stale.txt").write_text("from an interrupted run")
    out = tmp_path / "ablate.json"
    # The run's config (run.json) already names the session cluster's address.
    args = [str(run_dir), "--methods", "base,rft,srft", "--label-sources", "scripted,rules"]
    args += ["--seeds", "0", "--samples", "2", "--rounds", "0", "--out", str(out)]
    assert main(args) == 0
    results = json.loads(out.read_text())
    rows = results["methods"]
    assert set(rows) == {"base", "rft", "srft[scripted]", "srft[rules]"}
    assert not (partial / "stale.txt").exists()  # partial results are cleared, never mixed in
    for name, row in rows.items():
        # every sample of every held-out task is in the denominator, failed or not
        assert row["num_tasks"] == 1 and row["num_episodes"] == 2, name
        low, high = row["ci95"]
        assert 0.0 <= low <= row["resolve_rate"] <= high <= 1.0
    trained = [rows[n] for n in ("rft", "srft[scripted]", "srft[rules]")]
    # equal budgets: the same optimizer steps, and the same packed rows per step
    assert {r["optimizer_steps"] for r in trained} == {1}
    assert all(r["trained_tokens"] > 0 and r["epochs"] > 0 for r in trained)
    assert rows["base"]["optimizer_steps"] is None
    for pair in ("srft-vs-rft", "rft-vs-base", "srft[rules]-vs-rft", "srft[rules]-vs-srft"):
        assert set(results["pairs"][pair]) >= {"diff", "ci95", "p"}, pair
    assert results["eval_repos"] and not set(results["eval_tasks"]) & {
        t.instance_id for t in TrajectoryStore(run_dir / "round-000" / "labelled")
    }
    # a second call on the same inputs reuses every arm
    started = time.monotonic()
    assert main(args) == 0
    assert time.monotonic() - started < 60
    assert json.loads(out.read_text())["methods"] == rows


@pytest.mark.slow
def test_collect_job_through_ray_job_submit(ray_cluster, tmp_path):
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    out = tmp_path / "collected"
    command = [
        ray_bin,
        "job",
        "submit",
        "--address",
        ray_cluster["dashboard_url"],
        "--",
        # This interpreter, not whatever `python` is first on PATH (CI does not activate a venv).
        sys.executable,
        "-m",
        "srft_ray.jobs.collect",
        "collect.max_tasks=2",
        "collect.num_workers=1",
        "collect.worker_num_cpus=0.5",
        f"output_dir={out}",
    ]
    deadline = time.monotonic() + 90
    while True:  # right after the cluster starts, its job agent may not be up yet
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        busy = "No available agent" in done.stdout + done.stderr
        if done.returncode == 0 or not busy or time.monotonic() > deadline:
            break
        if _job_agent_port_taken():
            break
        time.sleep(3)
    if done.returncode and _job_agent_port_taken():
        pytest.skip(
            "this cluster's dashboard agent could not bind its HTTP port (52365, fixed by "
            "ray.init): another Ray cluster on this machine holds it, so no job can be submitted"
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout
    tasks = load_task_source("embedded").tasks()[:2]
    assert sorted(stored_ids(out)) == sorted(f"0/{t.instance_id}/0" for t in tasks)
    assert TrajectoryStore(out).is_complete()


@pytest.mark.slow
def test_loop_training_through_ray_train(resumed_run, tmp_path):
    """The loop's train.resources.num_workers > 0 path: TorchTrainer runs train_loop, the loop
    writes the per-step metrics file and the stage metrics from what the workers reported."""
    from srft_ray.masking import MaskingConfig
    from srft_ray.resources import Resources
    from srft_ray.runstate.layout import read_train_metrics
    from srft_ray.train.config import TrainConfig
    from srft_ray.train.stage import run_training_stage

    train = TrainConfig(
        dataset_dirs=[str(resumed_run["run_dir"] / "round-000" / "labelled")],
        max_steps=1,
        masking=MaskingConfig(max_length=1024),
        resources=Resources(num_workers=1, num_cpus=1.0),
        tokens_per_micro_batch=1024,
        gradient_checkpointing=False,
        export_dtype="bfloat16",
        output_dir=str(tmp_path / "export"),
    )
    metrics_file = tmp_path / "train" / "metrics.jsonl"
    metrics = run_training_stage(train, metrics_file)
    assert (tmp_path / "export" / "model.safetensors").exists()
    assert metrics["num_optimizer_steps"] == 1 and metrics["final_loss"] > 0
    assert 0 < metrics["num_trained_tokens"] < metrics["num_tokens"]
    assert [r["step"] for r in read_train_metrics(metrics_file)] == [1]


def _job_agent_port_taken() -> bool:
    """True when the session cluster's dashboard agent logged that its HTTP port was in use."""
    import ray

    node = ray._private.worker._global_node  # the session cluster started by this process
    log = Path(node.get_logs_dir_path()) / "dashboard_agent.log"
    return log.exists() and "Failed to start HTTP server" in log.read_text(errors="replace")
