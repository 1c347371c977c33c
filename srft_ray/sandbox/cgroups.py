"""Best-effort cgroups for the bwrap backend: a pids limit (fork bombs) and a memory limit for
all of a sandbox's processes together (rlimits only bound each process on its own).

Made as children of this process's own cgroups (so a job's container accounting still holds),
on cgroup v1 (pids, memory hierarchies) or v2 (where the controllers are delegated to us).
Where we may not create them (an unprivileged user without delegation) nothing is made and the
sandbox relies on rlimits, its PID namespace and the timeout.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

_V1_ROOT = "/sys/fs/cgroup"
_PREFIX = "srft-sandbox-"  # then the owning process id, so orphans can be found


def _own_paths() -> dict[str, str]:
    """controller ("pids", "memory", or "" for v2) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _make_child(parent: str) -> str | None:
    if not os.access(parent, os.W_OK) or not os.path.exists(f"{parent}/cgroup.procs"):
        return None
    try:
        return tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=parent)
    except OSError:
        return None


class SandboxCgroups:
    """The cgroups one sandbox's processes join; `procs_files` lists where to write a pid."""

    def __init__(self, *, pids_limit: int, memory_bytes: int) -> None:
        self.dirs: list[str] = []
        self.pids_dir: str | None = None
        self.memory_dir: str | None = None
        self._oom_file = ""
        own = _own_paths()
        unified = os.path.exists(f"{_V1_ROOT}/cgroup.controllers")
        if unified:
            self._make_v2(own.get("", "/"), pids_limit, memory_bytes)
        else:
            if pids_limit > 0 and "pids" in own:
                self.pids_dir = self._limit(
                    f"{_V1_ROOT}/pids{own['pids']}", {"pids.max": str(pids_limit)}
                )
            if memory_bytes > 0 and "memory" in own:
                self.memory_dir = self._limit(
                    f"{_V1_ROOT}/memory{own['memory']}",
                    {"memory.limit_in_bytes": str(memory_bytes)},
                )
                if self.memory_dir:
                    self._oom_file = f"{self.memory_dir}/memory.oom_control"

    def _make_v2(self, own: str, pids_limit: int, memory_bytes: int) -> None:
        parent = f"{_V1_ROOT}{own}".rstrip("/")
        try:
            enabled = Path(f"{parent}/cgroup.subtree_control").read_text().split()
        except OSError:
            return
        settings = {}
        if pids_limit > 0 and "pids" in enabled:
            settings["pids.max"] = str(pids_limit)
        if memory_bytes > 0 and "memory" in enabled:
            settings["memory.max"] = str(memory_bytes)
            settings["memory.swap.max"] = "0"
        if not settings:
            return
        child = self._limit(parent, settings)
        if child:
            self.pids_dir = child if "pids.max" in settings else None
            self.memory_dir = child if "memory.max" in settings else None
            self._oom_file = f"{child}/memory.events" if self.memory_dir else ""

    def _limit(self, parent: str, settings: dict[str, str]) -> str | None:
        child = _make_child(parent)
        if child is None:
            return None
        try:
            for name, value in settings.items():
                if name == "memory.swap.max" and not os.path.exists(f"{child}/{name}"):
                    continue
                Path(f"{child}/{name}").write_text(value)
        except OSError:
            _remove_dir(child)
            return None
        self.dirs.append(child)
        return child

    @property
    def procs_files(self) -> list[str]:
        return [f"{d}/cgroup.procs" for d in self.dirs]

    def oom_kills(self) -> int:
        """How many processes the memory limit has killed so far (0 without a memory cgroup)."""
        if not self._oom_file:
            return 0
        try:
            for line in Path(self._oom_file).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def wait_for_room(self, *, timeout_s: float) -> bool:
        """After a kill: wait until the dying processes leave at least half the pids limit free.

        pids.current still counts killed tasks being torn down for a moment; a command started
        before then could not even create its namespaces. False on timeout.
        """
        if not self.pids_dir:
            return True
        limit_file, current_file = f"{self.pids_dir}/pids.max", f"{self.pids_dir}/pids.current"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                limit = Path(limit_file).read_text().strip()
                current = int(Path(current_file).read_text())
            except (OSError, ValueError):
                return True
            if limit == "max" or current <= int(limit) // 2:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def remove(self) -> None:
        for path in self.dirs:
            _remove_dir(path)
        self.dirs = []


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_pid(name: str, prefix: str) -> int | None:
    """The owner pid in a name like `<prefix><pid>-<random>`, or None."""
    if not name.startswith(prefix):
        return None
    pid, sep, _ = name[len(prefix) :].partition("-")
    return int(pid) if sep and pid.isdigit() else None


def remove_orphaned_cgroups() -> int:
    """Delete sandbox cgroups whose owning process is gone (killed before it could clean up)."""
    own = _own_paths()
    parents = [f"{_V1_ROOT}/{c}{own[c]}" for c in ("pids", "memory") if c in own]
    parents.append(f"{_V1_ROOT}{own.get('', '/')}")
    num_removed = 0
    for parent in {p.rstrip("/") for p in parents}:
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            pid = owner_pid(entry.name, _PREFIX)
            if pid is None or pid_alive(pid) or not entry.is_dir():
                continue
            try:  # bwrap dies with its parent, but be sure nothing is left inside
                for line in Path(entry.path, "cgroup.procs").read_text().split():
                    os.kill(int(line), 9)
            except (OSError, ValueError):
                pass
            _remove_dir(entry.path)
            num_removed += not os.path.exists(entry.path)
    return num_removed


def _remove_dir(path: str) -> None:
    for _ in range(100):  # the last killed processes may still be exiting
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
