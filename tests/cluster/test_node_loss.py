"""Losing a worker node mid-stage, on multi-node Ray clusters of their own (ray.cluster_utils).

Each scenario runs tests/cluster/node_loss_run.py in a subprocess (its own cluster, never the
session's `ray_cluster`); afterwards no process that carries the run's marker may be alive.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from srft_ray.train.config import TrainConfig

RUN = Path(__file__).with_name("node_loss_run.py")
MARKER = "SRFT_NODE_LOSS"


def _ours(marker: str) -> list[int]:
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def run_scenario(name: str, out: Path, timeout_s: float) -> dict:
    marker = uuid.uuid4().hex
    env = {**os.environ, MARKER: marker}
    env.pop("RAY_ADDRESS", None)
    try:
        done = subprocess.run(
            [sys.executable, str(RUN), name, str(out)],
            env=env, capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
    finally:
        left = _ours(marker)
        for pid in left:  # never leave a cluster behind, even when the run failed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert not left, f"processes of the run's cluster still alive: {left}"
    return json.loads((out / "result.json").read_text())


def test_train_config_max_failures_is_checked_and_left_out_of_the_stage_hash():
    with pytest.raises(ValueError, match="max_failures"):
        TrainConfig(max_steps=1, max_failures=-2)
    config = TrainConfig(max_steps=1, max_failures=3)
    assert config.without_resources().max_failures == 0  # more restarts: the same run


@pytest.mark.slow
def test_a_node_lost_mid_round_retries_its_episodes_and_batches(tmp_path):
    result = run_scenario("round", tmp_path, timeout_s=600)
    print(json.dumps({k: result[k] for k in ("removal", "collect", "critique")}))  # the cost
    expected = result["expected_ids"]
    removal, collect, critique = result["removal"], result["collect"], result["critique"]
    assert removal["collected_before"] < len(expected)  # removed while the stage ran
    assert not result["critique_error"], result["critique_error"]
    # The doomed node's rollout worker had episodes in flight: retried on the surviving node.
    assert collect["worker_deaths"] == 1 and collect["retries"] >= 1, collect
    assert collect["failed"] == 0 and not collect["errors"], collect
    # Its critic worker got a batch after it was gone: replaced, the batch retried.
    assert critique["worker_restarts"] == 1 and critique["retries"] >= 1, critique
    assert not critique["failed_ids"]
    # Every id exactly once in each store: nothing lost, nothing written twice.
    for key in ("collected_ids", "labelled_ids"):
        ids = result[key]
        assert sorted(ids) == expected, key
        assert collections.Counter(ids).most_common(1)[0][1] == 1, key
    assert result["labelled_steps_with_rule_label"] > 0
    replacements = [p for p in result["placed"] if p[1] >= 2]
    assert replacements and all(p[2] == "survivor" for p in replacements)
    # Sandboxes of the killed worker: its successor, or the survivors when the stage closes
    # them, remove their state folders (remove_orphaned_sandboxes); the same sweeps remove its
    # episode workspace (srft-episodes-*), allowed here at most once per lost worker.
    assert not list((tmp_path / "sandboxes").iterdir())
    leaked = [p.name for p in (tmp_path / "tmp").glob("srft-episodes-*")]
    assert len(leaked) <= collect["worker_deaths"], leaked


@pytest.mark.slow
def test_a_node_lost_mid_training_restarts_from_the_last_checkpoint(tmp_path):
    result = run_scenario("train", tmp_path, timeout_s=600)
    print(json.dumps({k: v for k, v in result.items() if k != "error"}))  # the cost
    assert not result["error"], result["error"]
    assert result["removal"].get("node"), result  # a train worker's node was removed
    assert result["final_step"] == 30 and result["exported"]
    # The restarted worker group resumed from a checkpoint taken before the loss, not step 0.
    assert result["resumed_at"] and min(result["resumed_at"]) >= 3, result
