"""Sandbox fixtures: a small git checkout and a factory for sandboxes of each backend.

The docker backend runs against whatever Docker API $DOCKER_HOST names (podman's service on CI,
started by .ci/podman-setup.sh) with the image $SRFT_DOCKER_IMAGE; without them its tests skip.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from srft_ray.sandbox import SandboxConfig, open_sandbox

BACKENDS = ("bwrap", "docker")


def docker_skip_reason() -> str | None:
    """Why the docker backend cannot be tested here, or None when it can."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "DOCKER_HOST is not set (run .ci/podman-setup.sh to start podman's Docker API)"
    if host.startswith("unix://") and not os.path.exists(host[len("unix://") :]):
        return f"DOCKER_HOST socket {host} does not exist"
    if not os.environ.get("SRFT_DOCKER_IMAGE"):
        return "SRFT_DOCKER_IMAGE is not set (.ci/podman-setup.sh builds srft-sandbox:local)"
    return None


@pytest.fixture
def source_repo(tmp_path: Path) -> Path:
    """A tiny git repository with one committed module and its test."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for cmd in (["git", "init", "-q", "."], ["git", "add", "."], ["git", "commit", "-qm", "base"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    return repo


def take_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its content (to prove a host folder was not touched)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def snapshot():
    return take_snapshot


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "docker" and (reason := docker_skip_reason()):
        pytest.skip(reason)
    return request.param


@pytest.fixture
def make_sandbox(backend, tmp_path):
    """`make_sandbox(source_dir, **config_overrides)` -> an open sandbox, closed after the test."""
    opened = []

    def make(source_dir: Path | None, **overrides):
        config = SandboxConfig(
            backend=backend,
            memory_mb=overrides.pop("memory_mb", 512),
            command_timeout_s=overrides.pop("command_timeout_s", 20.0),
            image=os.environ.get("SRFT_DOCKER_IMAGE", ""),
            temp_root=str(tmp_path),
            **overrides,
        )
        box = open_sandbox(config, source_dir=source_dir)
        opened.append(box)
        return box

    yield make
    for box in opened:
        box.close()
