"""One collection on an autoscaling cluster derived from cluster/autoscaler.yaml; results as JSON.

Run by tests/cluster/test_autoscaling.py in a subprocess (it needs a Ray cluster of its own,
never the test session's):

    python tests/cluster/autoscaling_run.py OUT_DIR [MARKER]

(MARKER: the value own_cluster.MARKER gets in every process of the cluster, so the caller can
end them even if this script is killed before its own cleanup.)

Ray's fake multi-node provider runs Ray's own autoscaler; its nodes are raylets on this host.
The head has the file's head resources (no CPUs), the sandbox nodes the file's cpu_sandbox shape
at 1 CPU (one `sandbox` slot per CPU), from 0 to 2 nodes, idle for 6 s before removal. Rollout
workers ask for `sandbox` resources, so nothing can run until the autoscaler starts nodes. A
thread samples the cluster's nodes every 0.25 s from the start until the sandbox nodes are gone.
OUT_DIR/result.json holds the samples, when each phase ended, and where each episode ran.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from own_cluster import OwnCluster  # noqa: E402

from srft_ray.cluster_config import (  # noqa: E402
    fake_autoscaling_config,
    head_start_options,
    load_cluster_file,
)

NUM_NODES = 2
NUM_EPISODES = 4
SANDBOX_TYPE = "cpu_sandbox"


def sample_nodes(started: float, samples: list, latest: list, stop: threading.Event) -> None:
    import ray

    while not stop.is_set():
        try:
            nodes = [n for n in ray.nodes() if n["Alive"]]
        except Exception:  # the GCS is going away at the end
            break
        sample = {
            "t": round(time.monotonic() - started, 2),
            "num_nodes": len(nodes),
            "sandbox_nodes": sorted(n["NodeID"] for n in nodes if "sandbox" in n["Resources"]),
        }
        if not samples or samples[-1]["sandbox_nodes"] != sample["sandbox_nodes"]:
            samples.append(sample)  # the node count over time, one entry per change
        latest[0] = sample
        stop.wait(0.25)


def first_time(samples: list, condition) -> float | None:
    return next((s["t"] for s in samples if condition(s)), None)


def main(out_dir: Path, marker: str = "") -> None:
    import ray
    from ray.util.state import list_actors, list_tasks

    from srft_ray.collect import CollectConfig, collect
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.tasks.source import load_task_source

    started = time.monotonic()
    cluster = OwnCluster(
        env={"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}, marker=marker
    )
    config = fake_autoscaling_config(
        load_cluster_file(ROOT / "cluster" / "autoscaler.yaml"),
        gcs_address=cluster.address,
        node_types=[SANDBOX_TYPE],
        num_cpus=1,
        max_workers=NUM_NODES,
        idle_timeout_minutes=0.1,
        object_store_memory=100_000_000,
    )
    result: dict = {"config": config, "marker": cluster.marker}
    samples: list = []
    latest: list = [None]
    stop = threading.Event()
    sampler = threading.Thread(
        target=sample_nodes, args=(started, samples, latest, stop), daemon=True
    )
    try:
        cluster.start(head_start_options(config), autoscaling_config=config)
        result["cluster_started_s"] = round(time.monotonic() - started, 2)
        ray.init(address=cluster.address, log_to_driver=False)
        sampler.start()
        tasks = load_task_source("embedded").tasks()[:NUM_EPISODES]
        collect_config = CollectConfig(
            tasks="embedded",
            num_workers=NUM_NODES,
            episodes_per_worker=1,
            worker_num_cpus=1.0,
            worker_resources={"sandbox": 1.0},
        )
        store = TrajectoryStore(out_dir / "collected")
        lines: list[str] = []
        collect_started = time.monotonic() - started
        summary = collect(collect_config, tasks, store, log=lines.append)
        collect_ended = time.monotonic() - started
        result.update(
            collect_started_s=round(collect_started, 2),
            collect_ended_s=round(collect_ended, 2),
            num_written=summary.num_written,
            num_failed=summary.num_failed,
            errors=summary.errors,
            stored_ids=sorted(store.ids()),
            expected_ids=sorted(f"0/{t.instance_id}/0" for t in tasks),
            log=lines,
        )
        workers = list_actors(
            address=cluster.dashboard_url,
            filters=[("class_name", "=", "RolloutWorker")],
            limit=100,
        )
        result["worker_nodes"] = sorted(a.node_id for a in workers)
        # Task events reach the state API asynchronously (workers flush them every second or
        # so, later on a loaded host): poll until every episode's FINISHED event has arrived.
        events_deadline = time.monotonic() + 60
        while True:
            episodes = list_tasks(
                address=cluster.dashboard_url,
                filters=[("func_or_class_name", "=", "RolloutWorker.run_episode")],
                limit=100,
            )
            finished = [t.node_id for t in episodes if t.state == "FINISHED"]
            if len(finished) >= len(tasks) or time.monotonic() > events_deadline:
                break
            time.sleep(1.0)
        result["episode_nodes"] = finished
        head = [n["NodeID"] for n in ray.nodes() if n["Alive"] and "sandbox" not in n["Resources"]]
        result["head_nodes"] = head
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            last = latest[0]
            if last and not last["sandbox_nodes"] and last["t"] > collect_ended:
                break
            time.sleep(0.5)
        stop.set()
        sampler.join(timeout=10)
        result["samples"] = samples
        up = first_time(samples, lambda s: s["sandbox_nodes"])
        all_up = first_time(samples, lambda s: len(s["sandbox_nodes"]) >= NUM_NODES)
        down = first_time(samples, lambda s: s["t"] > collect_ended and not s["sandbox_nodes"])
        result["first_node_up_s"] = up
        result["all_nodes_up_s"] = all_up
        result["all_nodes_gone_s"] = down
        result["max_sandbox_nodes"] = max(len(s["sandbox_nodes"]) for s in samples)
        result["sandbox_node_ids"] = sorted({i for s in samples for i in s["sandbox_nodes"]})
    finally:
        stop.set()
        try:
            ray.shutdown()
        finally:
            result["left_behind"] = cluster.stop()
            result["total_s"] = round(time.monotonic() - started, 2)
            (out_dir / "result.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    main(out, sys.argv[2] if len(sys.argv) > 2 else "")
