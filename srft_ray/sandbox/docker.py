"""The container backend: one container per sandbox through the Docker API (Docker or podman).

The container runs `sleep` as PID 1 with `network_mode="none"` (always: podman ignores
`network_disabled`), memory (swap included), pids and CPU limits, and rlimits for file size and
CPU time. Commands run with `exec`; on a timeout or runaway output the container is killed and
started again, which kills every process it held (its filesystem, checkout and /tmp included,
is kept). The checkout is copied in with put_archive; the container is removed on close(), when
the sandbox is garbage-collected, and at interpreter exit. A container orphaned by a killed
process stops by itself after `_MAX_LIFETIME_S`.
"""

from __future__ import annotations

import io
import os
import queue
import resource
import socket
import tarfile
import tempfile
import threading
import time
import weakref
from pathlib import Path

from srft_ray.protocols import CommandResult
from srft_ray.sandbox import SandboxConfig, SandboxError, SandboxUnavailable
from srft_ray.sandbox.base import SandboxBase, extract_tar
from srft_ray.sandbox.cgroups import pid_alive
from srft_ray.sandbox.env import COMMAND_ENV
from srft_ray.sandbox.outcome import OutputCollector, classify_end

_MAX_LIFETIME_S = 6 * 3600
_SIGKILL_STATUS = 137
_DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def connect(docker_host: str = ""):
    """A Docker API client for `docker_host` (or $DOCKER_HOST), checked with a ping."""
    try:
        import docker
    except ImportError as exc:
        raise SandboxUnavailable("the docker backend needs the `docker` package") from exc
    address = docker_host or os.environ.get("DOCKER_HOST") or _DEFAULT_SOCKET
    # a fixed API version skips a 0.65 s negotiation round trip per client (FACTS.md)
    client = docker.DockerClient(base_url=address, version="1.41", timeout=120)
    try:
        client.ping()
    except Exception as exc:
        client.close()
        raise SandboxUnavailable(
            f"no Docker API answers at {address} ({exc}); start Docker, or podman's service "
            "(.ci/podman-setup.sh), and set DOCKER_HOST / sandbox.docker_host"
        ) from exc
    return client


def remove_orphans(config: SandboxConfig) -> int:
    """Remove sandbox containers whose owning process on this host was killed."""
    client = connect(config.docker_host)
    host = socket.gethostname()
    num_removed = 0
    try:
        for container in client.containers.list(all=True, filters={"label": "srft.sandbox=1"}):
            owner_host, _, pid = container.labels.get("srft.owner", "").rpartition(":")
            if owner_host == host and pid.isdigit() and not pid_alive(int(pid)):
                container.remove(force=True)
                num_removed += 1
    finally:
        client.close()
    return num_removed


def _remove(client, container_id: str) -> None:
    try:
        client.api.remove_container(container_id, force=True)
    except Exception:
        pass  # already gone
    finally:
        client.close()


class DockerSandbox(SandboxBase):
    """A container sandbox; see the module doc. Create it with srft_ray.sandbox.open_sandbox."""

    def __init__(
        self, config: SandboxConfig, *, source_dir: Path | None, image: str | None = None
    ) -> None:
        image = image or config.image
        if not image:
            raise SandboxError("the docker backend needs an image (sandbox.image or image=...)")
        if not config.workdir.startswith("/"):
            raise ValueError(f"sandbox workdir must be an absolute path, got {config.workdir!r}")
        if source_dir is not None and not Path(source_dir).is_dir():
            raise SandboxError(f"sandbox source_dir {source_dir} is not a directory")
        from docker.types import Ulimit

        self.config = config
        self.workdir = config.workdir.rstrip("/") or "/"
        self.image = image
        self._lock = threading.Lock()
        self._closed = False
        self._num_oom_kills = 0
        self.client = connect(config.docker_host)
        memory = f"{config.memory_mb}m"
        file_size = config.file_size_mb * 1024 * 1024
        # the engine cannot raise the hard limit it was started with; ours is the best guess
        nofile = min(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        nproc = 32768  # at most pid_max (FACTS.md)
        try:
            self.container = self.client.containers.create(
                image,
                entrypoint=["sleep", str(_MAX_LIFETIME_S)],
                command=[],
                network_mode="none",
                mem_limit=memory,
                memswap_limit=memory,  # no swap on top of the memory limit
                pids_limit=config.pids_limit,
                nano_cpus=int(config.cpus * 1e9),
                # podman refuses to start with nofile or nproc alone (FACTS.md): give both
                ulimits=[
                    Ulimit(name="nofile", soft=nofile, hard=nofile),
                    # pids_limit bounds processes; RLIMIT_NPROC would count a non-root user's
                    # processes host-wide, so it is only set because podman requires it
                    Ulimit(name="nproc", soft=nproc, hard=nproc),
                    Ulimit(name="fsize", soft=file_size, hard=file_size),
                    # soft < hard: SIGXCPU (a nameable end) first, SIGKILL a second later
                    Ulimit(name="cpu", soft=config.cpu_seconds, hard=config.cpu_seconds + 1),
                ],
                # the owner lets remove_orphans find containers of killed processes
                labels={"srft.sandbox": "1", "srft.owner": f"{socket.gethostname()}:{os.getpid()}"},
            )
        except Exception as exc:
            self.client.close()
            raise SandboxError(f"cannot create a container from image {image!r}: {exc}") from exc
        self._finalizer = weakref.finalize(self, _remove, self.client, self.container.id)
        try:
            try:
                self.container.start()
            except Exception as exc:
                raise SandboxError(f"cannot start a container from image {image!r}: {exc}") from exc
            if source_dir is not None:
                self._copy_in(Path(source_dir))
        except BaseException:
            self.close()
            raise

    def _copy_in(self, source_dir: Path) -> None:
        parent, name = os.path.split(self.workdir)
        script = 'rm -rf -- "$1" && mkdir -p -- "$(dirname -- "$1")"'
        prepared = self._exec(["bash", "-c", script, "bash", self.workdir], user="root")
        if prepared.returncode != 0:
            raise SandboxError(f"cannot prepare {self.workdir}: {prepared.output}")
        with tempfile.TemporaryFile() as archive:
            with tarfile.open(fileobj=archive, mode="w") as tar:
                tar.add(source_dir, arcname=name)
            archive.seek(0)
            if not self.container.put_archive(parent or "/", archive):
                raise SandboxError(f"cannot copy {source_dir} into the container")
        if self.config.docker_user:
            self._exec(["chown", "-R", self.config.docker_user, self.workdir], user="root")

    # -- the Sandbox protocol ------------------------------------------------------------------

    def write_file(self, path: str, content: str) -> None:
        """Write `content` to `path` (relative to workdir, or absolute inside the sandbox)."""
        target = os.path.join(self.workdir, path)
        parent, name = os.path.split(target)
        made = self._exec(["mkdir", "-p", "--", parent])
        if made.returncode != 0:
            raise SandboxError(f"cannot write {path} in the sandbox: {made.output.strip()}")
        data = content.encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        if not self.container.put_archive(parent, buffer.getvalue()):
            raise SandboxError(f"cannot write {path} in the sandbox")
        if self.config.docker_user:
            self._exec(["chown", self.config.docker_user, target], user="root")

    def copy_out(self, path: str, host_dest: Path) -> None:
        """Copy a file or folder from inside the sandbox to `host_dest` on the host."""
        source = os.path.join(self.workdir, path).rstrip("/")
        try:
            chunks, _ = self.container.get_archive(source)
        except Exception as exc:
            raise SandboxError(f"cannot copy {path} out of the sandbox: {exc}") from exc
        with tempfile.TemporaryFile() as archive:
            for chunk in chunks:
                archive.write(chunk)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                extract_tar(tar, os.path.basename(source), host_dest)

    # -- internals -----------------------------------------------------------------------------

    def _kill_everything(self) -> None:
        """Kill every process in the container by restarting it (PID 1 takes them all along)."""
        try:
            self.container.kill()
        except Exception:
            pass  # it may have stopped already
        self.container.start()
        self._num_oom_kills = 0  # a restarted container may get a fresh cgroup

    def _oom_killed_since_last_look(self) -> bool:
        """Whether the container's memory cgroup killed a process since the last look.

        Asked only after a SIGKILL status. Where the counter is not visible inside the container,
        a SIGKILL is taken to be the OOM killer's (nothing else in the sandbox sends one by
        itself, apart from the CPU-time hard limit a second after its SIGXCPU).
        """
        files = "/sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events"
        probe = self.client.api.exec_create(
            self.container.id, ["sh", "-c", f"cat {files} 2>/dev/null"], user="root"
        )
        text = self.client.api.exec_start(probe["Id"]).decode(errors="replace")
        counts = [
            int(v)
            for k, _, v in (x.partition(" ") for x in text.splitlines())
            if k == "oom_kill" and v.isdigit()
        ]
        if not counts:
            return True
        killed = max(counts) > self._num_oom_kills
        self._num_oom_kills = max(counts)
        return killed

    def _exec(
        self,
        argv: list[str],
        *,
        timeout_s: float | None = None,
        keep_bytes: int | None = None,
        user: str | None = None,
    ) -> CommandResult:
        if self._closed:
            raise SandboxError("sandbox is closed")
        cfg = self.config
        timeout = cfg.command_timeout_s if timeout_s is None else timeout_s
        collector = OutputCollector(
            keep_bytes=keep_bytes or cfg.output_limit_bytes, kill_bytes=cfg.output_kill_bytes
        )
        api = self.client.api
        start = time.monotonic()
        with self._lock:
            exec_id = api.exec_create(
                self.container.id,
                argv,
                workdir=self.workdir,
                environment={**COMMAND_ENV, **cfg.env},
                user=user if user is not None else cfg.docker_user,
            )["Id"]
            chunks: queue.Queue[bytes | None] = queue.Queue()
            reader = threading.Thread(
                target=_read_stream,
                args=(api.exec_start(exec_id, stream=True), chunks),
                daemon=True,
            )
            reader.start()
            timed_out = too_much = False
            while True:
                left = start + timeout - time.monotonic()
                try:
                    chunk = chunks.get(timeout=left) if left > 0 else None
                except queue.Empty:
                    chunk = None
                if chunk is None and (left <= 0 or reader.is_alive()):
                    timed_out = True
                    break
                if chunk is None:  # end of output: the command has ended
                    break
                collector.add(chunk)
                if collector.over_kill_limit:
                    too_much = True
                    break
            if timed_out or too_much:
                self._kill_everything()
            reader.join(timeout=10)
            status = None if timed_out or too_much else _exit_code(api, exec_id)
        output = collector.text(killed_for_output=too_much)
        returncode, reason = classify_end(
            status=status, output=output, timed_out=timed_out, killed_for_output=too_much
        )
        if reason == "exit" and status == _SIGKILL_STATUS and self._oom_killed_since_last_look():
            reason, returncode = "memory_limit", None  # the cgroup OOM killer sends SIGKILL
        return CommandResult(
            output=output,
            returncode=returncode,
            end_reason=reason,
            duration_s=time.monotonic() - start,
            output_truncated=collector.truncated,
        )


def _exit_code(api, exec_id: str) -> int | None:
    for _ in range(100):  # the engine may record the exit a moment after the stream ends
        state = api.exec_inspect(exec_id)
        if not state.get("Running") and state.get("ExitCode") is not None:
            return state["ExitCode"]
        time.sleep(0.01)
    return None


def _read_stream(stream, chunks: queue.Queue) -> None:
    try:
        for chunk in stream:
            chunks.put(chunk)
    except Exception:
        pass  # the connection drops when the container is killed
    finally:
        chunks.put(None)
