"""Sandboxes never outlive their episode: closed by `with`, by garbage collection, and by the
interpreter's exit after a crash."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from srft_ray.sandbox import SandboxConfig, open_sandbox, remove_orphaned_sandboxes

CRASHING_EPISODE = """
import sys
from pathlib import Path
from srft_ray.sandbox import SandboxConfig, open_sandbox, remove_orphaned_sandboxes

backend, temp_root, source = sys.argv[1:4]
config = SandboxConfig(backend=backend, image=sys.argv[4], temp_root=temp_root)
box = open_sandbox(config, source_dir=Path(source))
assert box.run("echo hi > f.txt").returncode == 0
print(box.container.id if backend == "docker" else box._state, flush=True)
if sys.argv[5] == "kill":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)  # no finalizer runs: only remove_orphans can help
raise RuntimeError("the episode crashed")
"""


def exists(backend: str, handle: str) -> bool:
    """Whether a sandbox's container (docker) or state folder (bwrap) is still there."""
    if backend == "bwrap":
        return os.path.exists(handle)
    from srft_ray.sandbox.docker import connect

    client = connect()
    try:
        return bool(client.containers.list(all=True, filters={"id": handle}))
    finally:
        client.close()


def handle_of(box) -> str:
    return box.container.id if hasattr(box, "container") else box._state


def test_removed_when_the_process_crashes(backend, source_repo, tmp_path):
    image = os.environ.get("SRFT_DOCKER_IMAGE", "")
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_EPISODE, backend, str(tmp_path), str(source_repo), image]
        + ["raise"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 1 and "the episode crashed" in child.stderr, child.stderr
    handle = child.stdout.strip()
    assert handle, child.stderr
    assert not exists(backend, handle)


def test_removed_by_with_and_by_garbage_collection(backend, source_repo, tmp_path):
    config = SandboxConfig(
        backend=backend, image=os.environ.get("SRFT_DOCKER_IMAGE", ""), temp_root=str(tmp_path)
    )
    box = open_sandbox(config, source_dir=source_repo)
    handle = handle_of(box)
    with pytest.raises(RuntimeError, match="episode failed"):
        with box:
            box.run("true")
            raise RuntimeError("episode failed")
    assert not exists(backend, handle)

    box = open_sandbox(config, source_dir=source_repo)
    handle = handle_of(box)
    assert exists(backend, handle)
    del box
    gc.collect()
    assert not exists(backend, handle)


def test_orphans_of_a_killed_process_are_removed(backend, source_repo, tmp_path):
    image = os.environ.get("SRFT_DOCKER_IMAGE", "")
    args = [backend, str(tmp_path), str(source_repo), image, "kill"]
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_EPISODE, *args], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -9, child.stderr
    handle = child.stdout.strip()
    assert exists(backend, handle)  # nothing cleaned up after a SIGKILL

    with open_sandbox(
        SandboxConfig(backend=backend, image=image, temp_root=str(tmp_path)), source_dir=None
    ) as alive:
        config = SandboxConfig(backend=backend, temp_root=str(tmp_path))
        assert remove_orphaned_sandboxes(config) >= 1
        assert not exists(backend, handle)
        assert exists(backend, handle_of(alive))  # a live process's sandbox is left alone
        assert alive.run("echo ok").output == "ok\n"
