"""Autoscaling for real: Ray's autoscaler (fake multi-node provider) on node types derived from
cluster/autoscaler.yaml starts sandbox nodes for a collection that asks for `sandbox`, the
episodes run there, and the idle nodes go away after the stage.

The cluster runs in a subprocess of its own (tests/cluster/autoscaling_run.py): the session's
`ray_cluster` must not be in the same process. Whatever happens, no process of that cluster
is left behind (own_cluster.OwnCluster ends them by pid, never with `ray stop`).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from srft_ray.cluster_config import (
    FAKE_HEAD_NODE_TYPE,
    fake_autoscaling_config,
    head_start_options,
    load_cluster_file,
    scale_node_type,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from own_cluster import end_marked  # noqa: E402

AUTOSCALER_YAML = HERE.parents[1] / "cluster" / "autoscaler.yaml"


@pytest.fixture(scope="module")
def cluster_file() -> dict:
    return load_cluster_file(AUTOSCALER_YAML)


def test_fake_config_keeps_the_files_shapes(cluster_file):
    from ray.autoscaler._private.util import validate_config

    config = fake_autoscaling_config(
        cluster_file, gcs_address="127.0.0.1:6379", num_cpus=1, max_workers=2
    )
    # Ray's schema check (prepare_config would read the fake provider's defaults from
    # example.yaml, which the ray wheel does not ship: the config must be complete)
    validate_config(copy.deepcopy(config))
    types = config["available_node_types"]
    file_types = cluster_file["available_node_types"]
    # the head as the file has it (no CPUs: the driver's node runs no work)
    assert types[FAKE_HEAD_NODE_TYPE]["resources"] == file_types["head"]["resources"]
    assert head_start_options(config) == ["--num-cpus=0"]
    # the GPU type is dropped on a CPU host; the sandbox type keeps its name and ratios
    assert set(types) == {FAKE_HEAD_NODE_TYPE, "cpu_sandbox"}
    sandbox, original = types["cpu_sandbox"], file_types["cpu_sandbox"]
    assert sandbox["resources"] == {"CPU": 1, "sandbox": 1}
    assert set(sandbox["resources"]) == set(original["resources"])
    assert original["resources"]["sandbox"] / original["resources"]["CPU"] == 1
    assert sandbox["min_workers"] == original["min_workers"] == 0
    assert sandbox["max_workers"] == 2 <= original["max_workers"]
    assert config["idle_timeout_minutes"] == cluster_file["idle_timeout_minutes"]
    assert config["upscaling_speed"] == cluster_file["upscaling_speed"]
    assert config["provider"]["gcs_address"] == "127.0.0.1:6379"


def test_a_shape_that_does_not_scale_is_an_error(cluster_file):
    gpu = cluster_file["available_node_types"]["gpu"]  # 4 GPUs on 48 CPUs
    with pytest.raises(ValueError, match="GPU=4"):
        scale_node_type(gpu, num_cpus=1, max_workers=1)
    assert scale_node_type(gpu, num_cpus=12, max_workers=5)["resources"] == {"CPU": 12, "GPU": 1}
    assert scale_node_type(gpu, num_cpus=12, max_workers=5)["max_workers"] == 2  # the file's


@pytest.mark.slow
def test_collection_scales_sandbox_nodes_up_and_down(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    marker = uuid.uuid4().hex
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / "autoscaling_run.py"), str(tmp_path), marker],
            capture_output=True,
            text=True,
            timeout=420,
            env=env,
        )
    finally:  # the script ends its cluster itself; this catches a script killed by the timeout
        assert end_marked(marker) == []
    result_file = tmp_path / "result.json"
    assert result_file.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert done.returncode == 0, done.stderr[-3000:]
    print(json.dumps({k: v for k, v in result.items() if k not in ("config", "log")}, indent=1))

    assert result["left_behind"] == []
    # every episode ran, once, and none failed
    assert result["num_failed"] == 0 and result["stored_ids"] == result["expected_ids"]
    assert result["num_written"] == len(result["expected_ids"])
    # nothing could run before the autoscaler started sandbox nodes (the head has no CPUs);
    # it started as many as the workers asked for, never more than the type's max_workers
    samples = result["samples"]
    assert samples[0]["sandbox_nodes"] == []
    assert result["first_node_up_s"] is not None
    assert result["max_sandbox_nodes"] == 2
    sandbox_nodes = set(result["sandbox_node_ids"])
    # the rollout workers and every episode ran on sandbox nodes, never on the head
    assert set(result["worker_nodes"]) <= sandbox_nodes
    assert len(result["episode_nodes"]) == len(result["expected_ids"])
    assert set(result["episode_nodes"]) <= sandbox_nodes
    assert not set(result["episode_nodes"]) & set(result["head_nodes"])
    # after the stage, the idle nodes were removed (idle timeout 6 s)
    assert result["all_nodes_gone_s"] is not None
    assert samples[-1]["sandbox_nodes"] == [] and samples[-1]["num_nodes"] == 1
