"""Running git the same way on every host: no user or system configuration, a fixed locale."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(*args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run git with no user or system configuration (so results never depend on the host)."""
    full_env = {
        **(env or {}),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    done = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "advice.detachedHead=false", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout
