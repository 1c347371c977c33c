"""Losing the driver on a cluster: the loop submitted with `ray job submit` to a cluster started
with `ray start --head`, stopped mid-collection with `ray job stop` (SIGTERM, then SIGKILL), and
the same job submitted again on the same run directory. It resumes from the manifests and
finishes, with every trajectory id exactly once in the collected and labelled stores.

The cluster is this test's own (own_cluster.OwnCluster: free ports, its processes ended by pid,
never `ray stop`); the test process never joins it (`ray job` talks HTTP to its dashboard), so
the session's `ray_cluster` is untouched. Small settings: the scripted teacher collects, rule
labels, one round that stops after critique (no engine, no training).
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from srft_ray.jobs.loop import parse_config
from srft_ray.rounds.config import EMBEDDED_CONFIG, split_tasks
from srft_ray.tasks.source import load_task_source

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from own_cluster import RAY, OwnCluster  # noqa: E402

NUM_TASKS = 3
SETTINGS = [
    "num_rounds=1",
    "teacher_rounds=1",
    "last_stage=critique",
    "evaluate_base=false",
    "critic.labels=rules",
    f"tasks.max_train_tasks={NUM_TASKS}",
    "collect.num_workers=1",
    "collect.episodes_per_worker=1",
    "collect.worker_num_cpus=0.5",
    "critique_pool.resources.num_cpus=0.25",
    "write_report=false",
]


def stored_ids(store: Path) -> collections.Counter:
    """How often each id sits in the store's parts (TrajectoryStore.ids() would hide a
    duplicate)."""
    counts: collections.Counter = collections.Counter()
    for part in store.glob("part-*.parquet"):
        counts.update(pq.read_table(part, columns=["trajectory_id"]).column(0).to_pylist())
    return counts


def entrypoint(run_dir: Path) -> list[str]:
    loop = ["-m", "srft_ray.jobs.loop", "-c", str(EMBEDDED_CONFIG), "--run-dir", str(run_dir)]
    return [sys.executable, *loop, *SETTINGS]


def ray_job(cluster: OwnCluster, *args: str, timeout_s: float = 120) -> str:
    import subprocess

    command = [RAY, "job", *args[:1], "--address", cluster.dashboard_url, *args[1:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def submit(cluster: OwnCluster, submission_id: str, run_dir: Path) -> None:
    deadline = time.monotonic() + 90
    while True:  # right after the cluster starts, its job agent may not be up yet
        try:
            ray_job(cluster, "submit", "--no-wait", "--submission-id", submission_id, "--",
                    *entrypoint(run_dir))  # fmt: skip
            return
        except AssertionError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(2)


def wait_for(condition, what: str, client, submission_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        status = client.get_job_status(submission_id)
        if status.is_terminal() and not condition():
            logs = client.get_job_logs(submission_id)[-3000:]
            pytest.fail(f"job {submission_id} ended ({status}) before {what}:\n{logs}")
        if time.monotonic() > deadline:
            logs = client.get_job_logs(submission_id)[-3000:]
            pytest.fail(f"{what}: not within {timeout_s}s:\n{logs}")
        time.sleep(0.25)


@pytest.mark.slow
def test_stopped_loop_job_resumes_when_submitted_again(tmp_path):
    from ray.job_submission import JobStatus, JobSubmissionClient

    config = parse_config(["-c", str(EMBEDDED_CONFIG), *SETTINGS])
    train, _ = split_tasks(load_task_source(config.tasks.source).tasks(), config.tasks)
    expected = {f"0/{t.instance_id}/0" for t in train}
    assert len(expected) == NUM_TASKS

    run_dir = tmp_path / "run"
    collected = run_dir / "round-000" / "collected"
    labelled = run_dir / "round-000" / "labelled"
    timings: dict[str, float] = {}
    started = time.monotonic()
    cluster = OwnCluster()
    try:
        cluster.start(["--num-cpus=2"])
        timings["cluster_started"] = time.monotonic() - started
        client = JobSubmissionClient(cluster.dashboard_url)

        submit(cluster, "loop-1", run_dir)
        timings["first_submitted"] = time.monotonic() - started
        wait_for(lambda: stored_ids(collected), "the first trajectory", client, "loop-1", 300)
        timings["first_trajectory"] = time.monotonic() - started
        ray_job(cluster, "stop", "loop-1")  # SIGTERM to the driver, SIGKILL after a grace time
        assert client.get_job_status("loop-1") == JobStatus.STOPPED
        timings["first_stopped"] = time.monotonic() - started
        time.sleep(2)  # nothing writes after the driver is gone (its actors die with it)
        ids_at_stop = stored_ids(collected)
        assert 0 < len(ids_at_stop) < NUM_TASKS, "the stop must land mid-collection"
        assert not (collected / "_COMPLETE").exists() or len(ids_at_stop) == NUM_TASKS

        submit(cluster, "loop-2", run_dir)  # the same job again, the same run directory
        wait_for(
            lambda: client.get_job_status("loop-2") == JobStatus.SUCCEEDED,
            "success of the resubmitted job",
            client,
            "loop-2",
            600,
        )
        timings["second_succeeded"] = time.monotonic() - started
        second_logs = client.get_job_logs("loop-2")
    finally:
        left = cluster.stop()
    assert left == []

    for store in (collected, labelled):
        counts = stored_ids(store)
        assert set(counts.values()) == {1}, (store.name, counts)  # nothing twice
        assert set(counts) == expected, store.name  # nothing lost
    assert set(ids_at_stop) <= expected
    manifest = json.loads((run_dir / "round-000" / "manifest.json").read_text())
    stages = manifest["stages"]
    statuses = {name: s["status"] for name, s in stages.items()}
    assert statuses == {
        "collect": "done",
        "critique": "done",
        "train": "pending",
        "evaluate": "pending",
    }, stages  # last_stage=critique: the round ends there
    attempts = stages["collect"]["attempts"]
    # `ray job stop` sends SIGTERM first: Ray's driver turns it into SystemExit (seen: 15 and
    # 1), which the loop records as a failed attempt; a driver SIGKILLed after the grace time
    # leaves a running attempt, which reads as interrupted. Either way the next run resumes it.
    first = attempts[0]
    assert first["status"] == "interrupted" or first["error"].startswith("SystemExit"), first
    assert [a["status"] for a in attempts[1:]] == ["done"], attempts
    # the resubmitted job collected only what the stopped one had not stored
    written = stages["collect"]["metrics"]["num_written_this_attempt"]
    assert written == NUM_TASKS - len(ids_at_stop)
    assert "resuming an interrupted attempt" in second_logs
    print(
        json.dumps(
            {
                "timings_s": {k: round(v, 1) for k, v in timings.items()},
                "ids_at_stop": len(ids_at_stop),
                "written_after_resubmit": written,
                "collect_attempts": [(a["status"], a.get("error", "")) for a in attempts],
                "critique_attempts": [a["status"] for a in stages["critique"]["attempts"]],
            }
        )
    )
