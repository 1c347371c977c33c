"""Fixtures for the task tests: the embedded pack built into a per-session cache."""

from __future__ import annotations

import pytest

from srft_ray.tasks.pack import EMBEDDED_PACK_DIR, PackConfig, TaskPack


@pytest.fixture(scope="session")
def pack(tmp_path_factory) -> TaskPack:
    """The embedded pack, its repositories built fresh (not from ~/.cache) once per session."""
    cache = tmp_path_factory.mktemp("repo-cache")
    return TaskPack(PackConfig(path=str(EMBEDDED_PACK_DIR), cache_dir=str(cache)))


@pytest.fixture(scope="session")
def tasks_by_id(pack):
    return {task.instance_id: task for task in pack.tasks()}
