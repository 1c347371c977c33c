"""The local backend: each command is a fresh bubblewrap process over the sandbox's own state.

Isolation (bwrap --unshare-all): no network (only lo), own PID/IPC/UTS namespaces, all
capabilities dropped, the host read-only and mostly invisible (/usr, a few /etc files and the
current Python environment are mounted read-only; nothing else), the root remounted read-only.
Writable: `workdir` (the task checkout, copy-on-write over `source_dir`) and /tmp, both kept in a
per-sandbox host temp folder so edits persist from one command to the next; close() deletes it.
Limits: rlimits (address space, CPU time, file size) applied by `prlimit` inside the sandbox,
pids and memory cgroups where the host lets us create them (fork bombs, many processes each
under the address-space limit), a wall-clock timeout that kills the bwrap process; with its own PID namespace that kills every process the command started,
`setsid` and background grandchildren included.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path

from srft_ray.protocols import CommandResult
from srft_ray.sandbox import SandboxConfig, SandboxError, SandboxUnavailable
from srft_ray.sandbox.base import SandboxBase, extract_tar
from srft_ray.sandbox.bwrap_host import (
    SANDBOX_PATH,
    count_processes_of,
    find_bwrap,
    force_rmtree,
    host_root_args,
    probe,
    python_dirs,
)
from srft_ray.sandbox.cgroups import SandboxCgroups, owner_pid, pid_alive, remove_orphaned_cgroups
from srft_ray.sandbox.env import COMMAND_ENV
from srft_ray.sandbox.outcome import OutputCollector, classify_end

STATE_PREFIX = "srft-bwrap-"  # then the owning process id, so orphans can be found


def remove_orphans(config: SandboxConfig) -> int:
    """Delete state folders and cgroups of bwrap sandboxes whose owning process was killed."""
    root = config.temp_root or tempfile.gettempdir()
    num_removed = remove_orphaned_cgroups()
    for entry in os.scandir(root):
        pid = owner_pid(entry.name, STATE_PREFIX)
        if pid is not None and not pid_alive(pid) and entry.is_dir(follow_symlinks=False):
            force_rmtree(entry.path)
            num_removed += 1
    return num_removed


def _cleanup(state_dir: str, cgroups: SandboxCgroups, procs: set[subprocess.Popen]) -> None:
    for proc in list(procs):
        _kill(proc)
    cgroups.remove()
    force_rmtree(state_dir)


def _check_workdir(workdir: str) -> None:
    """The checkout needs its own mount point: not on the read-only host paths or /proc, /dev."""
    path = os.path.normpath(workdir) if workdir.startswith("/") else ""
    reserved = ["/usr", "/etc", "/proc", "/dev", "/bin", "/sbin", "/lib", "/lib64", "/tmp"]
    reserved += python_dirs()
    if path in ("", "/") or any(path == r or path.startswith(r + "/") for r in reserved):
        raise ValueError(
            f"sandbox workdir {workdir!r} must be an absolute path outside "
            f"{', '.join(reserved)} (e.g. /testbed)"
        )


def _kill(proc: subprocess.Popen) -> None:
    """Kill bwrap's process group; its PID namespace dies with it (--die-with-parent)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class BwrapSandbox(SandboxBase):
    """A bubblewrap sandbox; see the module doc. Create it with srft_ray.sandbox.open_sandbox."""

    def __init__(
        self, config: SandboxConfig, *, source_dir: Path | None, image: str | None = None
    ) -> None:
        del image  # a docker notion; the local backend runs on the host's own root
        _check_workdir(config.workdir)
        if source_dir is not None and not Path(source_dir).is_dir():
            raise SandboxError(f"sandbox source_dir {source_dir} is not a directory")
        self.config = config
        self.workdir = config.workdir.rstrip("/")
        self.binary = find_bwrap(config.bwrap_binary)
        overlay_works = probe(self.binary)
        mode = config.checkout
        if mode not in ("auto", "overlay", "copy"):
            raise ValueError(f"sandbox checkout must be auto, overlay or copy, got {mode!r}")
        if mode == "overlay" and not overlay_works:
            raise SandboxUnavailable(f"{self.binary} cannot mount overlays here; use checkout=copy")
        self.checkout_mode = "overlay" if mode != "copy" and overlay_works else "copy"

        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._state = tempfile.mkdtemp(
            prefix=f"{STATE_PREFIX}{os.getpid()}-", dir=config.temp_root or None
        )
        self.cgroups = SandboxCgroups(
            pids_limit=config.pids_limit, memory_bytes=config.memory_mb * 1024 * 1024
        )
        self._finalizer = weakref.finalize(self, _cleanup, self._state, self.cgroups, self._procs)
        try:
            self._mount_args = self._prepare(source_dir)
        except BaseException:
            self.close()
            raise

    def _prepare(self, source_dir: Path | None) -> list[str]:
        state = self._state
        os.makedirs(f"{state}/tmp/home", mode=0o755)
        mounts = ["--bind", f"{state}/tmp", "/tmp"]
        if self.checkout_mode == "overlay" and source_dir is not None:
            os.mkdir(f"{state}/upper")
            os.mkdir(f"{state}/work")
            src = str(Path(source_dir).resolve())
            mounts += ["--overlay-src", src]
            mounts += ["--overlay", f"{state}/upper", f"{state}/work", self.workdir]
        else:
            checkout = f"{state}/checkout"
            if source_dir is None:
                os.mkdir(checkout)
            else:
                done = subprocess.run(
                    ["cp", "-a", "--", str(source_dir), checkout], capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise SandboxError(f"cannot copy {source_dir}: {done.stderr.strip()}")
            mounts += ["--bind", checkout, self.workdir]
        return mounts

    # -- the Sandbox protocol ------------------------------------------------------------------

    def write_file(self, path: str, content: str) -> None:
        """Write `content` to `path` (relative to workdir, or absolute inside the sandbox)."""
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
        result = self._exec(["/bin/bash", "-c", script, "write_file", path], stdin=content.encode())
        if result.returncode != 0:
            raise SandboxError(f"cannot write {path} in the sandbox: {result.output.strip()}")

    def copy_out(self, path: str, host_dest: Path) -> None:
        """Copy a file or folder from inside the sandbox to `host_dest` on the host."""
        import io
        import tarfile

        parent, name = os.path.split(os.path.join(self.workdir, path).rstrip("/"))
        with tempfile.TemporaryFile() as sink:
            result = self._exec(["/bin/tar", "-C", parent or "/", "-cf", "-", name], sink=sink)
            if result.returncode != 0:
                sink.seek(0)
                raise SandboxError(f"cannot copy {path} out of the sandbox: {result.output}")
            sink.seek(0)
            with tarfile.open(fileobj=io.BufferedReader(sink), mode="r|") as archive:
                extract_tar(archive, name, host_dest)

    # -- internals -----------------------------------------------------------------------------

    def _argv(self, command: list[str]) -> list[str]:
        cfg = self.config
        env = {
            **COMMAND_ENV,
            "PATH": SANDBOX_PATH,
            "HOME": "/tmp/home",
            "LC_ALL": "C.UTF-8",
        }
        python_mounts: list[str] = []
        if cfg.expose_python:
            for path in python_dirs():
                python_mounts += ["--ro-bind", path, path]
            env["PATH"] = f"{os.path.join(sys.prefix, 'bin')}:{SANDBOX_PATH}"
            if sys.prefix != sys.base_prefix:
                env["VIRTUAL_ENV"] = sys.prefix
        env.update(cfg.env)
        argv = [
            self.binary,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            *host_root_args(),
            "--proc",
            "/proc",
            # A sandbox started by root runs as uid 0 (caps dropped): sysctls check the uid, not
            # a capability, and bwrap leaves /proc/sys writable then. Cover it read-only.
            "--ro-bind",
            "/proc/sys",
            "/proc/sys",
            "--dev",
            "/dev",
            *self._mount_args,
            # After the sandbox's own /tmp: an interpreter living under /tmp (a CI checkout's
            # venv) must stay visible above it.
            *python_mounts,
            "--remount-ro",
            "/",
            "--chdir",
            self.workdir,
        ]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        limits = [
            "/usr/bin/prlimit",
            f"--as={cfg.memory_mb * 1024 * 1024}",
            # soft < hard: SIGXCPU (a nameable end) first, SIGKILL a second later if ignored
            f"--cpu={cfg.cpu_seconds}:{cfg.cpu_seconds + 1}",
            f"--fsize={cfg.file_size_mb * 1024 * 1024}",
        ]
        if self.cgroups.pids_dir is None and cfg.pids_limit > 0 and os.geteuid() != 0:
            # No cgroup: RLIMIT_NPROC counts all of this user's processes, so allow for them.
            limits.append(f"--nproc={cfg.pids_limit + count_processes_of(os.getuid())}")
        limits.append("--")
        argv += ["--", *limits, *command]
        procs_files = self.cgroups.procs_files
        if procs_files:
            # join the cgroups before bwrap starts, so every sandboxed process is counted
            join = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'
            argv = ["/bin/sh", "-c", join, "sh", str(len(procs_files)), *procs_files, *argv]
        return argv

    def _exec(
        self,
        command: list[str],
        *,
        timeout_s: float | None = None,
        stdin: bytes | None = None,
        keep_bytes: int | None = None,
        sink=None,
        retry_when_busy: bool = True,
    ) -> CommandResult:
        if self._closed:
            raise SandboxError("sandbox is closed")
        cfg = self.config
        timeout = cfg.command_timeout_s if timeout_s is None else timeout_s
        collector = OutputCollector(
            keep_bytes=keep_bytes or cfg.output_limit_bytes, kill_bytes=cfg.output_kill_bytes
        )
        start = time.monotonic()
        oom_kills = self.cgroups.oom_kills()
        # One command at a time: overlayfs must not be mounted twice over the same upper dir.
        with self._lock:
            proc = subprocess.Popen(
                self._argv(command),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=sink.fileno() if sink is not None else subprocess.PIPE,
                stderr=subprocess.PIPE if sink is not None else subprocess.STDOUT,
                start_new_session=True,
            )
            self._procs.add(proc)
            try:
                if stdin is not None:
                    proc.stdin.write(stdin)
                    proc.stdin.close()
                stream = proc.stderr if sink is not None else proc.stdout
                timed_out, too_much = _pump(proc, stream, collector, start + timeout)
                if timed_out or too_much:
                    _kill(proc)
                    self.cgroups.wait_for_room(timeout_s=10)
                status = proc.wait()
            finally:
                self._procs.discard(proc)
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
        output = collector.text(killed_for_output=too_much)
        if status == 1 and output.startswith("bwrap: "):
            # bwrap itself failed to build the sandbox: not the command's failure
            if "Resource temporarily unavailable" in output and retry_when_busy:
                time.sleep(0.5)  # the host (or our pids cgroup) is briefly out of processes
                return self._exec(
                    command,
                    timeout_s=timeout_s,
                    stdin=stdin,
                    keep_bytes=keep_bytes,
                    sink=sink,
                    retry_when_busy=False,
                )
            raise SandboxError(f"bubblewrap could not start the sandbox: {output.strip()}")
        # bwrap reports a child killed by signal N as 128+N, like a shell; Popen uses -N.
        shell_status = 128 - status if status < 0 else status
        if timed_out or too_much:
            shell_status = None
        returncode, reason = classify_end(
            status=shell_status, output=output, timed_out=timed_out, killed_for_output=too_much
        )
        num_oom_kills = self.cgroups.oom_kills() - oom_kills
        if num_oom_kills > 0:  # the sandbox's memory cgroup killed some of its processes
            output += f"\n[the sandbox memory limit killed {num_oom_kills} process(es)]"
            if reason == "exit" and returncode != 0:
                reason = "memory_limit"
                returncode = None if shell_status == 128 + signal.SIGKILL else returncode
        return CommandResult(
            output=output,
            returncode=returncode,
            end_reason=reason,
            duration_s=time.monotonic() - start,
            output_truncated=collector.truncated,
        )


def _pump(proc, stream, collector: OutputCollector, deadline: float) -> tuple[bool, bool]:
    """Read the output until EOF; returns (timed_out, killed_for_output)."""
    fd = stream.fileno()
    poller = select.poll()  # not select(): a busy Ray worker may hold fds above 1024
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return True, False
        if not poller.poll(min(left, 1.0) * 1000):
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        collector.add(chunk)
        if collector.over_kill_limit:
            return False, True
    # EOF: every process holding the pipe is gone; bwrap itself exits right after.
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return True, False
    return False, False
