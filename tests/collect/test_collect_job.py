"""`srft collect` end to end (YAML + overrides) on the session's Ray cluster, and its bad input."""

from __future__ import annotations

import json

import pytest

from srft_ray.cli import main as srft
from srft_ray.data.store import TrajectoryStore


def test_unknown_key_and_bad_source_are_clear_errors(capsys):
    assert srft(["collect", "collect.num_wrokers=2"]) == 2
    assert "collect.num_wrokers" in capsys.readouterr().err
    assert srft(["collect", "collect.tasks=/nonexistent/tasks.jsonl"]) == 2
    assert "/nonexistent/tasks.jsonl" in capsys.readouterr().err


@pytest.mark.slow
def test_srft_collect_writes_a_round(ray_cluster, tmp_path, capsys):
    config = tmp_path / "collect.yaml"
    config.write_text(
        "collect:\n  round: 3\n  max_tasks: 2\n  num_workers: 1\n  worker_num_cpus: 0.5\n"
        "  episode:\n    agent:\n      step_limit: 20\n"
    )
    out_dir = tmp_path / "round-3" / "collect"
    rc = srft(
        ["collect", "-c", str(config), f"output_dir={out_dir}", "collect.episodes_per_worker=2"]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["written"] == 2 and summary["failed"] == 0
    store = TrajectoryStore(out_dir)
    assert store.is_complete() and all(i.startswith("3/") for i in store.ids())
