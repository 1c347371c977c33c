"""Fixtures for format tests; mini-swe-agent is kept quiet and away from the home directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
os.environ.setdefault("MSWEA_GLOBAL_CONFIG_DIR", tempfile.mkdtemp(prefix="srft-mswea-config-"))

from mswea_scripted import run_mini_swe_agent  # noqa: E402

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def mini_run(tmp_path):
    return lambda **kwargs: run_mini_swe_agent(tmp_path, **kwargs)


@pytest.fixture
def data_dir() -> Path:
    return DATA_DIR
