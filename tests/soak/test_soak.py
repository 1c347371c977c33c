"""A CI-sized soak: benchmarks/soak_bench.py with a few dozen episodes, the same leftover checks.

Runs the benchmark in a subprocess: it starts a local Ray cluster of its own, never the test
session's `ray_cluster`. The full soak (300 episodes) is `python benchmarks/soak_bench.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "soak_bench.py"
NUM_EPISODES = 20


@pytest.mark.slow
def test_soak_leaves_nothing_behind(tmp_path):
    out = tmp_path / "soak.json"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "SRFT_SOAK")}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--episodes", str(NUM_EPISODES), "--tasks", "10",
         "--sample-s", "2", "--work-dir", str(tmp_path / "work"), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(out.read_text())
    assert result["collect"]["written"] == NUM_EPISODES and result["collect"]["failed"] == 0
    assert result["critique"]["written"] == NUM_EPISODES and result["critique"]["failed"] == 0
    assert set(result["ids"].values()) == {NUM_EPISODES, 0}  # none missing, none twice
    left = result["leftovers"]
    assert left["live_processes"] == []  # Ray shut down: nothing of this run is alive
    assert left["live_bwrap_after_collect"] == 0
    # At most an outer and an inner bwrap per concurrent command (2 workers x 2 episodes).
    assert left["live_bwrap_during_run_max"] <= 2 * 2 * 2
    assert left["sandbox_state_dirs"] == [] and left["cgroups_new"] == []
    assert left["mounts_new"] == [] and left["system_tmp_new_srft_entries"] == []
    # What may stay in the run's TMPDIR: mini-swe-agent's config folder and torch's cache.
    allowed = ("srft-mini-swe-agent", "torchinductor_")
    assert all(e.startswith(allowed) for e in left["temp_entries"]), left["temp_entries"]
    # Zombies are counted, not failed on: PID 1 of these VMs reaps orphans slowly.
    assert set(left["bwrap_zombies_after"]) == {"parent_pid1", "other_parent"}
    assert result["memory"]["driver"] and result["num_samples"] >= 3
