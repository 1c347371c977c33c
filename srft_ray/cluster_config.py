"""The shipped autoscaler file (cluster/autoscaler.yaml) scaled down to one machine.

Ray's fake multi-node provider runs Ray's own autoscaler and starts every "node" it launches as
a raylet on this host (`RAY_FAKE_CLUSTER=1 ray start --head --autoscaling-config=FILE`).
`fake_autoscaling_config` turns the cloud file into such a config: the same node type names,
the head's resources as they are (no CPUs: the driver's node does no work), each worker type's
resource ratios (one `sandbox` slot per CPU) and min_workers, with fewer CPUs per node and
fewer nodes. Types that need GPUs are dropped unless named (a CPU host has none to fake).
Deriving the config from the file, rather than writing a second one, means a change to the
file's shapes changes the test cluster too.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

FAKE_HEAD_NODE_TYPE = "ray.head.default"
"""The node type the fake provider gives its head (it ignores the file's head_node_type)."""

_EMPTY_SECTIONS = {
    "auth": {},
    "docker": {},
    "file_mounts": {},
    "cluster_synced_files": [],
    "file_mounts_sync_continuously": False,
    "rsync_exclude": [],
    "rsync_filter": [],
    "initialization_commands": [],
    "setup_commands": [],
    "head_setup_commands": [],
    "worker_setup_commands": [],
    "head_start_ray_commands": [],
    "worker_start_ray_commands": [],
}


def load_cluster_file(path: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def scale_node_type(node_type: dict[str, Any], *, num_cpus: int, max_workers: int) -> dict:
    """One worker node type with `num_cpus` CPUs, every other resource scaled alike.

    A custom resource that would not stay a whole number (e.g. 4 GPUs on a 48-CPU node at one
    CPU) is an error: the test would then be running a different shape than the file's.
    """
    resources = dict(node_type["resources"])
    factor = num_cpus / resources["CPU"]
    scaled = {}
    for name, amount in resources.items():
        value = amount * factor
        if value != int(value) or (amount and not value):
            raise ValueError(
                f"{name}={amount} on a {resources['CPU']}-CPU node does not scale to "
                f"{num_cpus} CPUs as a whole number"
            )
        scaled[name] = int(value)
    limit = min(node_type.get("max_workers", max_workers), max_workers)
    return {
        "resources": scaled,
        "node_config": {},
        "min_workers": min(node_type.get("min_workers", 0), limit),
        "max_workers": limit,
    }


def fake_autoscaling_config(
    cluster: dict[str, Any],
    *,
    gcs_address: str,
    node_types: list[str] | None = None,
    num_cpus: int = 1,
    max_workers: int = 2,
    idle_timeout_minutes: float | None = None,
    object_store_memory: int = 0,
) -> dict[str, Any]:
    """An autoscaling config for the fake multi-node provider, derived from `cluster`.

    `gcs_address`: the head's host:port (the provider starts its nodes against it).
    `node_types`: worker types to keep (default: those without GPUs). `num_cpus` CPUs per node,
    at most `max_workers` nodes of each type. `idle_timeout_minutes`: the file's unless given.
    `object_store_memory`: bytes per launched node (0: Ray's default share of RAM).
    """
    head_name = cluster["head_node_type"]
    types = cluster["available_node_types"]
    names = node_types or [
        name for name, t in types.items() if name != head_name and not t["resources"].get("GPU")
    ]
    workers = {}
    for name in names:
        scaled = scale_node_type(types[name], num_cpus=num_cpus, max_workers=max_workers)
        if object_store_memory:
            scaled["resources"]["object_store_memory"] = object_store_memory
        workers[name] = scaled
    head = {"resources": dict(types[head_name]["resources"]), "node_config": {}, "max_workers": 0}
    idle = (
        cluster.get("idle_timeout_minutes", 5)
        if idle_timeout_minutes is None
        else idle_timeout_minutes
    )
    return {
        "cluster_name": cluster["cluster_name"],
        "max_workers": sum(t["max_workers"] for t in workers.values()),
        "upscaling_speed": cluster.get("upscaling_speed", 1.0),
        "idle_timeout_minutes": idle,
        "provider": {
            "type": "fake_multinode",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "gcs_address": gcs_address,
        },
        "head_node_type": FAKE_HEAD_NODE_TYPE,
        "available_node_types": {FAKE_HEAD_NODE_TYPE: head, **workers},
        **copy.deepcopy(_EMPTY_SECTIONS),
    }


def head_start_options(config: dict[str, Any]) -> list[str]:
    """`ray start --head` options that give the head the resources its node type declares."""
    resources = dict(config["available_node_types"][config["head_node_type"]]["resources"])
    options = [f"--num-cpus={int(resources.pop('CPU', 0))}"]
    if "GPU" in resources:
        options.append(f"--num-gpus={int(resources.pop('GPU'))}")
    if resources:
        options.append(f"--resources={json.dumps(resources)}")
    return options
