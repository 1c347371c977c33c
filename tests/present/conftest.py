"""Fixtures for the presentation tests: a small finished run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_run import build_run


@pytest.fixture
def synthetic_run(tmp_path) -> Path:
    return build_run(tmp_path / "run")
