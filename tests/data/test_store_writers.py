"""Several writers on one store: unique part names, no overwrite, no stale id cache, durable names."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

from srft_ray.data import store as store_module
from srft_ray.data.model import DataError, Step, Trajectory
from srft_ray.data.store import TrajectoryStore


def traj(trajectory_id: str) -> Trajectory:
    steps = [Step(index=0, assistant="ls", command="ls", observation="a.py", returncode=0)]
    return Trajectory(
        trajectory_id=trajectory_id, instance_id="t", system_prompt="", task_prompt="", steps=steps
    )


def stored_rows(store: TrajectoryStore) -> list[str]:
    return [i for p in store.parts() for i in pq.read_table(p).column("trajectory_id").to_pylist()]


def test_an_id_written_by_one_store_object_is_seen_by_another(tmp_path):
    a, b = TrajectoryStore(tmp_path / "s"), TrajectoryStore(tmp_path / "s")
    assert b.ids() == set()  # b has looked once, before a writes
    assert a.append([traj("x")]) == 1
    assert b.append([traj("x"), traj("y")]) == 1  # x is a's: b re-reads new parts first
    assert a.append([traj("y"), traj("z")]) == 1
    assert stored_rows(a) == ["x", "y", "z"] and len(b) == 3 and a.ids() == b.ids()


def test_two_processes_writing_the_same_ids_store_each_once(tmp_path):
    # Two writers, same ids in different batch orders, started together: with a shared
    # counter-based name or a stale id cache they would clash or duplicate.
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_store_writers import traj
        from srft_ray.data.store import TrajectoryStore
        store = TrajectoryStore({str(tmp_path / "s")!r})
        ids = [f"t{{i}}" for i in range(12)]
        if sys.argv[1] == "1":
            ids.reverse()
        for start in range(0, len(ids), 2):
            store.append([traj(i) for i in ids[start : start + 2]])
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in (0, 1)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = TrajectoryStore(tmp_path / "s")
    rows = stored_rows(store)
    assert sorted(rows) == sorted(f"t{i}" for i in range(12))  # each id once
    names = [p.name for p in store.parts()]
    assert len(set(names)) == len(names) >= 6
    # part-NNNNNN-host-pid-random.parquet: each part names the process that wrote it
    assert {int(name.split("-")[3]) for name in names} <= {p.pid for p in procs}
    assert not [p for p in store.path.iterdir() if p.name.startswith(".tmp-")]


def test_a_part_name_clash_raises_and_overwrites_nothing(tmp_path, monkeypatch):
    store = TrajectoryStore(tmp_path / "s")
    monkeypatch.setattr(store_module, "_writer_id", lambda: "same-writer")
    store.append([traj("first")])
    (part,) = store.parts()
    before = part.read_bytes()
    other = TrajectoryStore(tmp_path / "s")
    monkeypatch.setattr(store_module, "_part_index", lambda p: -1)  # both pick number 0
    with pytest.raises(DataError, match="exists; not overwriting"):
        other.append([traj("second")])
    assert part.read_bytes() == before and stored_rows(store) == ["first"]
    assert not [p for p in store.path.iterdir() if p.name.startswith(".tmp-")]


def test_the_folder_is_fsynced_after_the_part_is_named(tmp_path, monkeypatch):
    store = TrajectoryStore(tmp_path / "s")
    events: list[str] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd):
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def link(src, dst):
        events.append("link")
        real_link(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    store.append([traj("x")])
    assert events == ["fsync file", "link", "fsync dir"]


def test_old_part_names_are_read_and_numbering_continues(tmp_path):
    store = TrajectoryStore(tmp_path / "s")
    store.append([traj("old")])
    (part,) = store.parts()
    part.rename(part.with_name("part-000007.parquet"))  # a store written before writer ids
    fresh = TrajectoryStore(tmp_path / "s")
    assert fresh.append([traj("old"), traj("new")]) == 1
    assert [p.name[:12] for p in fresh.parts()] == ["part-000007.", "part-000008-"]
    assert [t.trajectory_id for t in fresh] == ["old", "new"]
