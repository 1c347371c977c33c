"""Lose a worker node in the middle of a stage, on a multi-node Ray cluster on this host.

Run by tests/cluster/test_node_loss.py in a subprocess (it needs a Ray cluster of its own,
never the test session's):

    python tests/cluster/node_loss_run.py {round,train} OUT_DIR

The cluster is `ray.cluster_utils.Cluster`: a head with no CPUs (the driver, nothing else) and
worker nodes that are raylets of their own on this host. `Cluster.remove_node` kills every
process of a node (raylet, object store, its actors' worker processes) as a lost machine would.

- round: a collection (scripted teacher, bwrap sandboxes, `generated:` tasks) with a critique
  (rules labels, no model) streaming alongside, as the round loop runs them. The first rollout
  worker and the first critic worker sit on the doomed node (a custom resource only it offers);
  every later worker, replacements included, on the surviving node. Once a few trajectories are
  collected and some are labelled, the doomed node is removed.
- train: Ray Train, 2 workers of 1 CPU on three 1-CPU nodes, DCP checkpoints every few steps,
  `train.max_failures=1`. After the first checkpoint, the node of one train worker is removed;
  Train restarts the worker group on the two nodes left and train_loop resumes from the last
  checkpoint.

Every process this script starts carries SRFT_NODE_LOSS=<marker> in its environment, and TMPDIR
points into OUT_DIR, so the test can check what is left behind. OUT_DIR/result.json holds the
figures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from srft_ray.ray_cluster import QUIET_ENV, free_port  # noqa: E402

MARKER = "SRFT_NODE_LOSS"
NUM_TASKS = 8
TRAIN_STEPS = 30
CHECKPOINT_EVERY = 3
# Ray's temp dirs: short, for its socket paths (107 bytes at most); removed at the end.
RAY_ROOT = Path(tempfile.mkdtemp(prefix="srft-nl-", dir="/tmp"))


def kill_ours() -> None:
    """SIGKILL every process but this one that carries this run's marker."""
    needle = f"{MARKER}={os.environ[MARKER]}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


def start_cluster(out: Path, nodes: list[dict], attempts: int = 3):
    """`_start_cluster`, again when a node misses Ray's fixed 30 s registration wait (a busy
    machine: the raylet's agents start slowly)."""
    for attempt in range(attempts):
        try:
            return _start_cluster(RAY_ROOT / str(attempt), nodes)
        except Exception:
            if attempt == attempts - 1:
                raise
            traceback.print_exc()
            kill_ours()


def _start_cluster(ray_dir: Path, nodes: list[dict]):
    """A head with no CPUs plus `nodes` (add_node kwargs); returns (cluster, worker nodes)."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "gcs_server_port": free_port(),
            "include_dashboard": False,
            "dashboard_agent_listen_port": free_port(),
            "ray_client_server_port": free_port(),
            "temp_dir": str(ray_dir),
            "object_store_memory": 100 * 1024 * 1024,
        },
    )
    workers = [cluster.add_node(object_store_memory=100 * 1024 * 1024, **spec) for spec in nodes]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    return cluster, workers


def ids_per_part(path: Path) -> list[str]:
    """Every trajectory id in every Parquet part (duplicates included, unlike store.ids())."""
    import pyarrow.parquet as pq

    tables = [pq.read_table(part) for part in sorted(path.glob("*.parquet"))]
    return [i for table in tables for i in table.column(0).to_pylist()]


def node_of(cluster, node_id: str):
    return next(n for n in cluster.worker_nodes if n.node_id == node_id)


def run_round(out: Path) -> dict:
    import ray

    from srft_ray.actors.critic_worker import start_critic_worker
    from srft_ray.actors.rollout_worker import start_rollout_worker
    from srft_ray.agent.agent_loop import trajectory_id
    from srft_ray.collect import CollectConfig, collect
    from srft_ray.critic.config import CriticConfig
    from srft_ray.critic.pool import CritiquePool, PoolConfig
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.resources import Resources
    from srft_ray.tasks.source import load_task_source

    source_name = f"generated:{NUM_TASKS}:3"
    tasks = load_task_source(source_name).tasks()[:NUM_TASKS]
    cluster, (doomed, survivor) = start_cluster(
        out,
        [
            {"num_cpus": 2, "resources": {"doomed": 10}},
            {"num_cpus": 4, "resources": {"survivor": 10}},
        ],
    )
    placed: list[tuple[str, int, str]] = []  # (kind, slot, node kind)

    def where(kind: str, n: int) -> dict[str, float]:
        first = n == 0  # slot 0 of each pool starts on the doomed node; replacements never
        placed.append((kind, n, "doomed" if first else "survivor"))
        return {"doomed" if first else "survivor": 1}

    def start_worker(episode, *, resources, name, **kwargs):
        n = int(name.rsplit("-", 1)[1])
        return start_rollout_worker(episode, resources=where("rollout", n), name=name, **kwargs)

    num_critics = [0]

    def start_critic(slot: int):
        n = num_critics[0]
        num_critics[0] += 1
        return start_critic_worker(critic, num_cpus=0.25, resources=where("critic", n))

    collected = TrajectoryStore(out / "collected")
    labelled = TrajectoryStore(out / "labelled")
    config = CollectConfig(
        round=0, tasks=source_name, num_workers=2, episodes_per_worker=2, worker_num_cpus=0.5,
        progress_every_s=2.0, max_attempts=3,
    )  # fmt: skip
    config.episode.sandbox.temp_root = str(out / "sandboxes")
    (out / "sandboxes").mkdir()
    critic = CriticConfig(labels="rules")
    pool = CritiquePool(
        PoolConfig(
            resources=Resources(num_workers=2),
            batch_size=1,
            max_batches_per_worker=1,
            queue_size=2,
            poll_s=0.1,
            progress_every_s=2.0,
        ),  # fmt: skip
        start_critic,
    )
    critique: dict = {}

    def run_critique() -> None:
        try:
            critique["report"] = pool.run(collected.follow(poll_s=0.2, timeout_s=600), labelled)
        except BaseException as exc:  # reported, and the test fails on it
            critique["error"] = traceback.format_exc()
            raise exc

    removal: dict = {}

    def remove_when_busy() -> None:
        # Mid-stage: some trajectories collected and labelled, the rest still to come. On a
        # busy machine the critic workers start slowly (transformers, the tokenizer): then go
        # with 3 episodes left, the critique's batches in flight to a worker still starting.
        while len(collected.ids()) < 2 or (
            len(labelled.ids()) < 1 and len(collected.ids()) < NUM_TASKS - 3
        ):
            time.sleep(0.1)
        removal["collected_before"] = len(collected.ids())
        removal["labelled_before"] = len(labelled.ids())
        began = time.monotonic()
        cluster.remove_node(doomed)
        removal["remove_node_s"] = round(time.monotonic() - began, 2)
        removal["at_s"] = round(began - started, 2)

    started = time.monotonic()
    critic_thread = threading.Thread(target=run_critique)
    remover = threading.Thread(target=remove_when_busy, daemon=True)
    critic_thread.start()
    remover.start()
    lines: list[str] = []
    summary = collect(
        config, tasks, collected, start_worker=start_worker, worker_name_prefix="rollout-",
        log=lines.append,
    )  # fmt: skip
    collect_s = time.monotonic() - started
    critic_thread.join(timeout=300)
    critique_s = time.monotonic() - started
    remover.join(timeout=5)
    report = critique.get("report")
    pool.close()
    expected = sorted(trajectory_id(0, t.instance_id, 0) for t in tasks)
    result = {
        "expected_ids": expected,
        "collected_ids": ids_per_part(collected.path),
        "labelled_ids": ids_per_part(labelled.path),
        "removal": removal,
        "placed": placed,
        "collect": {
            "written": summary.num_written,
            "failed": summary.num_failed,
            "retries": summary.num_retries,
            "worker_deaths": summary.num_worker_deaths,
            "errors": summary.errors,
            "seconds": round(collect_s, 2),
        },  # fmt: skip
        "critique": None
        if report is None
        else {
            "written": report.num_written,
            "retries": report.num_retries,
            "worker_restarts": report.num_worker_restarts,
            "failed_ids": report.failed_ids,
            "skipped": report.num_skipped,
            "labels": report.stats.labels,
            "seconds": round(critique_s, 2),
        },  # fmt: skip
        "critique_error": critique.get("error", ""),
        "labelled_steps_with_rule_label": sum(
            any(lab.source == "rule" for lab in s.labels) for t in labelled for s in t.steps
        ),
        "log_tail": lines[-5:],
    }
    ray.shutdown()
    cluster.shutdown()
    return result


def train_events(out: Path) -> dict:
    """What train_loop's rank 0 logged, per worker process (attempt): where it started (resumed
    from a checkpoint or not) and the last step it logged."""
    attempts = []
    for log in RAY_ROOT.glob("*/session_*/logs/worker-*"):
        text = log.read_text(errors="replace")
        steps = [int(s) for s in re.findall(rf"\[train\][^\n]*?\b(\d+)/{TRAIN_STEPS}\b", text)]
        if steps:
            resumed = re.findall(r"\[train\] resumed from \S+ at step (\d+)", text)
            attempts.append(
                {"mtime": log.stat().st_mtime, "resumed_at": int(resumed[0]) if resumed else 0,
                 "last_step": max(steps)}
            )  # fmt: skip
    attempts.sort(key=lambda a: a["mtime"])
    return {
        "attempts": [{k: v for k, v in a.items() if k != "mtime"} for a in attempts],
        "resumed_at": [a["resumed_at"] for a in attempts if a["resumed_at"]],
    }


def run_train(out: Path) -> dict:
    import ray
    from transformers import AutoTokenizer

    from srft_ray.model_prep import default_model_dir
    from srft_ray.resources import Resources
    from srft_ray.train.trainer import run_training

    sys.path.insert(0, str(HERE.parent / "train"))
    from train_helpers import make_trajectory, tiny_config, tiny_llama, write_store

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir())
    model_dir = tiny_llama(out / "tiny", tokenizer, hidden=64, heads=4, kv_heads=2)
    trajs = []
    for i in range(12):
        labels = ["good", "bad", "good", "good"][: 2 + i % 3]
        trajs.append(make_trajectory(i, resolved=i % 2 == 0, labels=labels, words=4 + 3 * i))
    dataset = write_store(out / "labelled", trajs)
    config = tiny_config(
        model_dir, dataset, out, max_steps=TRAIN_STEPS, tokens_per_micro_batch=256,
        checkpoint_dir=str(out / "ckpt"), checkpoint_every=CHECKPOINT_EVERY,
        output_dir=str(out / "policy"), resources=Resources(num_workers=2, num_cpus=1.0),
        max_failures=1,
    )  # fmt: skip
    cluster, nodes = start_cluster(out, [{"num_cpus": 1} for _ in range(3)])
    checkpoints: list[tuple[float, str]] = []
    removal: dict = {}
    started = time.monotonic()

    def watch() -> None:
        # A checkpoint counts once train_loop has published it (the `latest` marker): the
        # folder alone may be a save still in progress, which a restart rightly ignores.
        latest = out / "ckpt" / "latest"
        while not removal.get("done_watching"):
            name = latest.read_text().strip() if latest.is_file() else ""
            if name and (not checkpoints or checkpoints[-1][1] != name):
                checkpoints.append((round(time.monotonic() - started, 2), name))
            if checkpoints and "node" not in removal:
                workers = [
                    a for a in ray._private.state.actors().values()
                    if a["State"] == "ALIVE" and a["ActorClassName"] == "RayTrainWorker"
                ]  # fmt: skip
                if len(workers) == 2:
                    node_id = workers[0]["Address"]["NodeID"]
                    target = node_of(cluster, node_id)
                    removal["node"] = node_id
                    removal["latest_checkpoint"] = checkpoints[-1][1]
                    removal["at_s"] = round(time.monotonic() - started, 2)
                    cluster.remove_node(target)
                    removal["removed_at_s"] = round(time.monotonic() - started, 2)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    error = ""
    try:
        result = run_training(config, storage_path=str(out / "ray-train"), run_name="node-loss")
        final_step = result.metrics.get("step") if result.error is None else None
        error = repr(result.error) if result.error is not None else ""
    except BaseException:
        final_step, error = None, traceback.format_exc()
    fit_s = time.monotonic() - started
    removal["done_watching"] = True
    watcher.join(timeout=5)
    events = train_events(out)
    ray.shutdown()
    cluster.shutdown()
    return {
        "fit_s": round(fit_s, 2),
        "final_step": final_step,
        "error": error,
        "removal": removal,
        "checkpoints": checkpoints,
        "exported": (out / "policy" / "model.safetensors").exists(),
        **events,
    }


def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "tmp" / "ray").mkdir(parents=True, exist_ok=True)  # Ray writes its address there
    os.environ.update(QUIET_ENV)
    # Fake nodes start their agents on a shared, busy machine: give them time (defaults 15-30 s).
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
    os.environ.update({"TMPDIR": str(out / "tmp"), "HF_HUB_OFFLINE": "1"})
    os.environ.setdefault(MARKER, uuid.uuid4().hex)
    os.environ.pop("RAY_ADDRESS", None)
    try:
        result = {"round": run_round, "train": run_train}[scenario](out)
    finally:
        shutil.rmtree(RAY_ROOT, ignore_errors=True)
    (out / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
