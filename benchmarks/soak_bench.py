"""Soak: hundreds of scripted-teacher episodes in bwrap with critique streaming alongside, then
a search for anything left behind and for memory growth of the long-lived actors.

    python benchmarks/soak_bench.py --episodes 300                 # the full soak (~2 min, 2 cores)
    python benchmarks/soak_bench.py --episodes 24 --out /tmp/x.json  # CI size (tests/soak/)

One collection (2 rollout workers, 2 episodes each, real bwrap sandboxes, real grading) of
`--episodes` episodes over a `generated:` task family, and a critic pool (rules labels, no
model) following the store as it grows, the way `srft run` streams them. Every process of its
local Ray cluster carries SRFT_SOAK=<marker> in its environment and TMPDIR points into the
soak's own folder, so what is found afterwards is this run's. While it runs, a thread samples
every `--sample-s` seconds the RSS of each rollout and critic worker, the driver's RSS, live
bwrap processes and the workers' child processes. Afterwards it checks: live processes that
carry the marker (after Ray shut down: expected none), bwrap zombies (see below), sandbox state
folders, sandbox cgroups, mounts, temp files, disk use, and that every trajectory id is in the
collected and the labelled store exactly once.

Zombies: the VM's PID 1 reaps orphans slowly, so a `[bwrap] <defunct>` whose parent is PID 1
can linger after a sandbox ended properly. A zombie holds no memory, files or mounts; it is
counted apart from live leftovers, by its parent (PID 1 or not), before and after the run.

Prints a table and writes JSON (default benchmarks/results/soak_bench.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

MARKER = "SRFT_SOAK"
ACTOR_KINDS = {"rollout": "ray::RolloutWorker", "critic": "ray::CriticWorker"}
CGROUP_ROOT = Path("/sys/fs/cgroup")


class SoakDeadline(Exception):
    """--max-minutes passed: the collection stops, and what it collected is checked."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def processes() -> list[dict]:
    """Every process on the host: pid, ppid, state, comm, cmdline, whether it has our marker."""
    needle = f"{MARKER}={os.environ[MARKER]}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(entry / "stat").decode(errors="replace")
        if not stat:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        cmdline = _read(entry / "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
        found.append(
            {
                "pid": int(entry.name), "ppid": int(ppid), "state": state, "comm": comm,
                "cmdline": cmdline, "ours": needle in _read(entry / "environ").split(b"\0"),
            }
        )  # fmt: skip
    return found


def rss_mb(pid: int) -> float | None:
    match = re.search(rb"VmRSS:\s+(\d+) kB", _read(Path(f"/proc/{pid}/status")))
    return round(int(match.group(1)) / 1024, 1) if match else None


def descendants(procs: list[dict], roots: set[int]) -> list[dict]:
    children: dict[int, list[dict]] = {}
    for proc in procs:
        children.setdefault(proc["ppid"], []).append(proc)
    found, todo = [], list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child["pid"])
    return found


def bwrap_zombies(procs: list[dict]) -> dict[str, int]:
    zombies = [p for p in procs if p["comm"] == "bwrap" and p["state"] == "Z"]
    return {
        "parent_pid1": sum(p["ppid"] == 1 for p in zombies),
        "other_parent": sum(p["ppid"] != 1 for p in zombies),
    }


def sandbox_cgroups() -> list[str]:
    found = []
    for controller in ("", "pids", "memory", "unified"):
        base = CGROUP_ROOT / controller if controller else CGROUP_ROOT
        for depth in range(1, 6):
            pattern = "/".join(["*"] * depth)
            found += [str(p) for p in base.glob(pattern) if p.name.startswith("srft-sandbox-")]
    return sorted(set(found))


def mounts() -> list[str]:
    return _read(Path("/proc/self/mounts")).decode().splitlines()


def disk_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def sample(started: float, samples: list, stop: threading.Event, every_s: float, stores) -> None:
    while not stop.is_set():
        procs = processes()
        ours = [p for p in procs if p["ours"]]
        actors = {
            kind: {p["pid"]: rss_mb(p["pid"]) for p in ours if p["cmdline"].startswith(title)}
            for kind, title in ACTOR_KINDS.items()
        }
        workers = set(actors["rollout"])
        samples.append(
            {
                "t": round(time.monotonic() - started, 1),
                "collected": len(stores[0].ids()), "labelled": len(stores[1].ids()),
                "rss_mb": {k: {str(pid): mb for pid, mb in v.items()} for k, v in actors.items()},
                "driver_rss_mb": rss_mb(os.getpid()),
                "live_bwrap": sum(p["comm"] == "bwrap" and p["state"] != "Z" for p in ours),
                "worker_children": len(descendants(procs, workers)),
                "bwrap_zombies": bwrap_zombies(procs),
            }
        )  # fmt: skip
        stop.wait(every_s)


def memory_growth(samples: list, num_episodes: int) -> dict:
    """Per actor: RSS at its first sample after warm-up, at its last, and the growth between.

    Warm-up: rollout workers once 5% of the episodes (at least 4) are collected, critic workers
    once as many are labelled (a critic worker imports transformers and loads its tokenizer on
    its first batch, which is start-up, not growth)."""
    growth = {}
    warm_at = max(4, num_episodes // 20)
    for kind in ACTOR_KINDS:
        count = "collected" if kind == "rollout" else "labelled"
        warm = [s for s in samples if s[count] >= warm_at]
        rows = []
        pids = {pid for s in warm for pid in s["rss_mb"][kind]}
        for pid in sorted(pids):
            seen = [
                (s["t"], s["collected"], s["rss_mb"][kind][pid])
                for s in warm
                if s["rss_mb"][kind].get(pid)
            ]
            if len(seen) < 2:
                continue
            (t0, e0, first), (t1, e1, last) = seen[0], seen[-1]
            rows.append(
                {
                    "pid": int(pid), "first_mb": first, "last_mb": last,
                    "peak_mb": max(mb for _, _, mb in seen), "growth_mb": round(last - first, 1),
                    "span_s": round(t1 - t0, 1), "episodes_in_span": e1 - e0,
                    "growth_mb_per_100_episodes": round(100 * (last - first) / max(1, e1 - e0), 2),
                }
            )  # fmt: skip
        growth[kind] = rows
    warm = [s for s in samples if s["collected"] >= warm_at]
    driver = [(s["collected"], s["driver_rss_mb"]) for s in warm if s["driver_rss_mb"]]
    if len(driver) >= 2:
        growth["driver"] = [
            {
                "first_mb": driver[0][1],
                "last_mb": driver[-1][1],
                "peak_mb": max(mb for _, mb in driver),
                "growth_mb": round(driver[-1][1] - driver[0][1], 1),
            }
        ]
    return growth


def ids_per_part(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    tables = [
        pq.read_table(part, columns=["trajectory_id"]) for part in sorted(path.glob("*.parquet"))
    ]
    return [i for table in tables for i in table.column(0).to_pylist()]


def run(args) -> dict:
    work = Path(args.work_dir or f"/tmp/srft-soak-{uuid.uuid4().hex[:8]}").resolve()
    tmp = work / "tmp"
    (tmp / "ray").mkdir(parents=True, exist_ok=True)  # Ray writes its address file there
    os.environ.setdefault(MARKER, uuid.uuid4().hex)
    os.environ["TMPDIR"] = str(tmp)
    # A busy machine starts the raylet and its agents slowly (Ray's defaults: 15-30 s).
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
    import tempfile

    tempfile.tempdir = None  # re-read TMPDIR

    from srft_ray.actors.critic_worker import start_critic_worker
    from srft_ray.agent.agent_loop import trajectory_id
    from srft_ray.collect import CollectConfig, collect
    from srft_ray.critic.config import CriticConfig
    from srft_ray.critic.pool import CritiquePool, PoolConfig
    from srft_ray.data.store import TrajectoryStore
    from srft_ray.ray_cluster import RayConfig, init_ray, shutdown_ray
    from srft_ray.resources import Resources
    from srft_ray.tasks.source import load_task_source

    num_tasks = min(args.tasks, args.episodes)
    samples_per_task = -(-args.episodes // num_tasks)
    source = f"generated:{num_tasks}:{args.seed}"
    tasks = load_task_source(source).tasks()
    before = {
        "zombies": bwrap_zombies(processes()), "cgroups": sandbox_cgroups(), "mounts": mounts(),
        "tmp_entries": sorted(os.listdir("/tmp")),
    }  # fmt: skip
    config = CollectConfig(
        round=0, tasks=source, samples_per_task=samples_per_task, num_workers=args.workers,
        episodes_per_worker=args.episodes_per_worker, worker_num_cpus=0.5, progress_every_s=30,
    )  # fmt: skip
    config.episode.agent.grade = not args.no_grade
    config.episode.sandbox.temp_root = str(work / "sandboxes")
    (work / "sandboxes").mkdir(exist_ok=True)
    collected, labelled = TrajectoryStore(work / "collected"), TrajectoryStore(work / "labelled")
    expected = sorted(
        trajectory_id(0, t.instance_id, s) for t in tasks for s in range(samples_per_task)
    )
    init_ray(RayConfig(num_cpus=4, include_dashboard=False))
    critic = CriticConfig(labels="rules")
    pool = CritiquePool(
        PoolConfig(resources=Resources(num_workers=1), batch_size=4, progress_every_s=0),
        lambda n: start_critic_worker(critic, num_cpus=0.25),
    )
    critique: dict = {}

    def run_critique() -> None:
        try:
            critique["report"] = pool.run(collected.follow(poll_s=0.5), labelled)
        except BaseException as exc:
            critique["error"] = repr(exc)

    samples: list = []
    stop = threading.Event()
    started = time.monotonic()
    sampler = threading.Thread(
        target=sample, args=(started, samples, stop, args.sample_s, (collected, labelled)),
        daemon=True,
    )  # fmt: skip
    critic_thread = threading.Thread(target=run_critique, daemon=True)
    sampler.start()
    critic_thread.start()
    lines: list[str] = []
    deadline = started + 60 * args.max_minutes if args.max_minutes else float("inf")
    stopped_early = False

    def log(line: str) -> None:
        lines.append(line)
        if time.monotonic() > deadline:  # collect() closes its workers on the way out
            raise SoakDeadline(line)

    try:
        try:
            summary = collect(config, tasks, collected, log=log, worker_name_prefix="soak-")
        except SoakDeadline:
            stopped_early = True
            collected.mark_complete()  # the critique drains what was collected, then ends
            summary = None
        collect_s = time.monotonic() - started
        critic_thread.join(timeout=600)
        critique_s = time.monotonic() - started
        time.sleep(args.sample_s)  # one sample with the collection's workers gone
    finally:
        stop.set()
        sampler.join(timeout=30)
        pool.close()
        shutdown_ray()
    # Ray ends its workers asynchronously (slowly on a busy machine): wait for them, up to 60 s.
    exit_started = time.monotonic()
    while True:
        procs = processes()
        live_ours = [
            p for p in procs if p["ours"] and p["state"] != "Z" and p["pid"] != os.getpid()
        ]
        if not live_ours or time.monotonic() - exit_started > 60:
            break
        time.sleep(1)
    exit_wait_s = round(time.monotonic() - exit_started, 1)
    tmp_left = sorted(e for e in os.listdir(tmp) if e != "ray")
    new_tmp = sorted(
        e for e in set(os.listdir("/tmp")) - set(before["tmp_entries"])
        if e.startswith(("srft-bwrap-", "srft-episodes-", "srft-grade-"))
    )  # fmt: skip
    collected_ids, labelled_ids = ids_per_part(collected.path), ids_per_part(labelled.path)
    if stopped_early:  # only what was collected counts as planned
        expected = sorted(set(collected_ids))
    report = critique.get("report")
    max_live = max((s["live_bwrap"] for s in samples), default=0)
    result = {
        "episodes": len(expected), "tasks": num_tasks, "source": source,
        "workers": args.workers, "episodes_per_worker": args.episodes_per_worker,
        "graded": not args.no_grade, "cpus": os.cpu_count(),
        "collect_s": round(collect_s, 1), "critique_done_s": round(critique_s, 1),
        "stopped_at_deadline": stopped_early, "max_minutes": args.max_minutes,
        "episodes_per_minute": round(60 * len(set(collected_ids)) / collect_s, 2),
        "collect": {"stopped_at_deadline": True, "written": len(set(collected_ids))}
        if summary is None else {
            "written": summary.num_written, "resolved": summary.num_resolved,
            "failed": summary.num_failed, "retries": summary.num_retries,
            "worker_deaths": summary.num_worker_deaths, "errors": summary.errors[:5]},
        "critique": {"error": critique.get("error", "")} if report is None else {
            "written": report.num_written, "steps": report.stats.num_steps,
            "labels": report.stats.labels, "retries": report.num_retries,
            "failed": len(report.failed_ids), "max_in_flight": report.max_in_flight},
        "ids": {
            "expected": len(expected),
            "collected_missing": len(set(expected) - set(collected_ids)),
            "collected_duplicated": sum(n - 1 for n in Counter(collected_ids).values()),
            "labelled_missing": len(set(expected) - set(labelled_ids)),
            "labelled_duplicated": sum(n - 1 for n in Counter(labelled_ids).values()),
        },
        "leftovers": {
            "live_processes": [f"{p['pid']} {p['comm']}: {p['cmdline'][:120]}" for p in live_ours],
            "seconds_until_ray_processes_gone": exit_wait_s,
            "live_bwrap_during_run_max": max_live,
            "live_bwrap_after_collect": samples[-1]["live_bwrap"] if samples else None,
            "worker_children_max": max((s["worker_children"] for s in samples), default=0),
            "bwrap_zombies_before": before["zombies"], "bwrap_zombies_after": bwrap_zombies(procs),
            "sandbox_state_dirs": sorted(os.listdir(work / "sandboxes")),
            "cgroups_new": sorted(set(sandbox_cgroups()) - set(before["cgroups"])),
            "mounts_new": sorted(set(mounts()) - set(before["mounts"])),
            "mounts_gone": sorted(set(before["mounts"]) - set(mounts())),
            "temp_entries": tmp_left,
            "temp_bytes": disk_bytes(tmp) - disk_bytes(tmp / "ray"),
            "system_tmp_new_srft_entries": new_tmp,
        },
        "disk_bytes": {
            "collected": disk_bytes(collected.path), "labelled": disk_bytes(labelled.path),
        },
        "memory": memory_growth(samples, len(expected)),
        "num_samples": len(samples),
        "samples": samples,
        "log_tail": lines[-2:],
    }  # fmt: skip
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def print_table(result: dict) -> None:
    ids, left = result["ids"], result["leftovers"]
    early = " (stopped at --max-minutes)" if result["stopped_at_deadline"] else ""
    print(
        f"soak: {result['episodes']} episodes{early} in {result['collect_s']:.0f}s "
        f"({result['episodes_per_minute']} episodes/min), critique done at "
        f"{result['critique_done_s']:.0f}s; collect {result['collect']}"
    )
    print(f"critique: {result['critique']}")
    print(f"ids: {ids}")
    print(f"{'leftover':34} value")
    for key, value in left.items():
        shown = value if not isinstance(value, list) else f"{len(value)} {value[:3]}"
        print(f"{key:34} {shown}")
    print(
        f"{'actor':8} {'pid':>7} {'first MB':>9} {'last MB':>8} {'peak MB':>8} {'growth':>7} "
        f"{'per 100 ep':>10}"
    )
    for kind, rows in result["memory"].items():
        for row in rows:
            print(
                f"{kind:8} {row.get('pid', '-'):>7} {row['first_mb']:>9} {row['last_mb']:>8} "
                f"{row['peak_mb']:>8} {row['growth_mb']:>7} "
                f"{row.get('growth_mb_per_100_episodes', '-'):>10}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=100, help="generated tasks (samples cycle)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--episodes-per-worker", type=int, default=2)
    parser.add_argument("--no-grade", action="store_true", help="skip grading (fewer sandboxes)")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--max-minutes", type=float, default=0, help="stop collecting after")
    parser.add_argument("--work-dir", default="", help="default: a fresh /tmp/srft-soak-*")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "soak_bench.json"))
    args = parser.parse_args()
    result = {"command": " ".join(["python benchmarks/soak_bench.py", *sys.argv[1:]]), **run(args)}
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
