"""What every job's entry point shares: `-c FILE` (repeatable, merged left to right) and
`key.path=value` overrides parsed into the job's typed config. A bad file, key or value is one
line, `PROG: message`, on stderr, and the job's main returns exit status 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeVar

from srft_ray.config import load_config

T = TypeVar("T")


def job_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The job's parser with -c and the overrides; a job adds its own flags before parsing."""
    parser = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n")[0])
    parser.add_argument("-c", "--config", action="append", default=[], help="YAML config file")
    parser.add_argument("overrides", nargs="*", help="key.path=value overrides")
    return parser


def load_job_config(
    parser: argparse.ArgumentParser,
    cls: type[T],
    files: list[str | Path],
    overrides: list[str],
) -> T | None:
    """load_config; None after saying what is wrong (a ConfigError, or a config's own check)."""
    try:
        return load_config(cls, files, overrides)
    except ValueError as exc:  # ConfigError is a ValueError
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return None
