"""Batch import with bad files, autodetection, and `srft import` / `srft export` end to end."""

from __future__ import annotations

import json
import shutil

import pytest

from srft_ray.cli import main as srft
from srft_ray.data.model import DataError
from srft_ray.data.store import TrajectoryStore
from srft_ray.formats import detect_format, import_file, import_files

GOOD = [
    "durations__durations-7.traj",
    "mini_swe_agent_textbased.traj.json",
    "mswea2_toolcalls.traj.json",
]
BAD = {
    "bad_mini_content.traj.json": "field 'messages[2].content' is int",
    "bad_missing_role.traj": "field 'history[3].role' missing",
    "bad_truncated.traj.json": "not valid JSON",
}


def test_batch_keeps_going_past_bad_files(data_dir):
    report = import_files([data_dir])
    assert report.num_files == 6
    assert sorted(t.provenance.source_file.split("/")[-1] for t in report.trajectories) == GOOD
    assert {p.split("/")[-1] for p in report.bad_files} == set(BAD)
    for path, message in report.errors:
        assert message.startswith(path + ": ")
        assert BAD[path.split("/")[-1]] in message


def test_autodetect_and_forced_formats(data_dir):
    assert import_file(data_dir / GOOD[0]).provenance.agent == "swe-agent"
    assert import_file(data_dir / GOOD[1]).provenance.agent == "mini-swe-agent-1.1"
    with pytest.raises(DataError, match="field 'history' missing"):
        import_file(data_dir / GOOD[1], "swe-agent")
    with pytest.raises(DataError, match="cannot tell the format"):
        detect_format({"messages": [], "history": []}, "odd.json")
    with pytest.raises(DataError, match="no such file"):
        import_file(data_dir / "missing.traj")


def test_cli_import_reports_bad_files_and_exports(data_dir, tmp_path, capsys):
    store_dir = tmp_path / "store"
    assert srft(["import", "--format", "auto", str(data_dir), "--out", str(store_dir)]) == 1
    out, err = capsys.readouterr()
    assert "imported 3 of 6 files" in out and "3 new" in out and "3 failed" in out
    for name, message in BAD.items():
        assert name in err and message in err
    assert len(TrajectoryStore(store_dir)) == 3

    # Importing the good files again adds nothing and succeeds.
    good = [str(data_dir / name) for name in GOOD]
    assert srft(["import", *good, "--out", str(store_dir)]) == 0
    assert "0 new, 3 already stored" in capsys.readouterr().out

    preds = tmp_path / "preds.json"
    assert (
        srft(
            ["export", "preds", "--store", str(store_dir), "--out", str(preds), "--model-name", "m"]
        )
        == 0
    )
    rows = json.loads(preds.read_text())
    assert set(rows) == {"durations__durations-7", "demo__greet-1", "demo__greet-2"}
    assert rows["demo__greet-1"]["model_patch"].startswith("diff --git a/greet.py")
    assert rows["durations__durations-7"]["model_name_or_path"] == "m"

    mini_dir = tmp_path / "mini"
    assert (
        srft(["export", "mini-swe-agent", "--store", str(store_dir), "--out", str(mini_dir)]) == 0
    )
    assert "wrote 3 mini-swe-agent trajectories" in capsys.readouterr().out
    second = tmp_path / "store2"
    assert srft(["import", "--format", "mini-swe-agent", str(mini_dir), "--out", str(second)]) == 0
    before = {t.trajectory_id: t for t in TrajectoryStore(store_dir)}
    after = {t.trajectory_id: t for t in TrajectoryStore(second)}
    assert before.keys() == after.keys()
    for tid, traj in after.items():
        assert traj.steps == before[tid].steps
        assert traj.outcome == before[tid].outcome
        assert traj.task_prompt == before[tid].task_prompt


def test_cli_errors(tmp_path, capsys, data_dir):
    assert srft(["export", "preds", "--store", str(tmp_path / "empty"), "--out", "p.json"]) == 1
    assert "holds no trajectories" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        srft(["import", "--format", "nope", str(data_dir), "--out", str(tmp_path / "s")])
    lone = tmp_path / "only_bad"
    lone.mkdir()
    shutil.copy(data_dir / "bad_truncated.traj.json", lone)
    assert srft(["import", str(lone), "--out", str(tmp_path / "s")]) == 1
