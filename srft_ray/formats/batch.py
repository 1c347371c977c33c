"""Batch import: many files (or directories of them), one report; a bad file never stops the rest."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError, Trajectory
from srft_ray.formats import minisweagent, sweagent, table
from srft_ray.formats.fields import read_json

IMPORT_FORMATS = (minisweagent.FORMAT_NAME, sweagent.FORMAT_NAME, table.FORMAT_NAME, "auto")
# Suffixes picked up when a directory is given; single files are taken whatever their name.
TRAJECTORY_SUFFIXES = (".traj", ".traj.json")

_CONVERTERS: dict[str, Callable[..., Trajectory]] = {
    minisweagent.FORMAT_NAME: minisweagent.minisweagent_to_trajectory,
    sweagent.FORMAT_NAME: sweagent.sweagent_to_trajectory,
}


@dataclass(kw_only=True)
class ImportReport:
    """Trajectories read from a batch, and (file, message) for every file that failed."""

    trajectories: list[Trajectory] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    num_files: int = 0

    @property
    def bad_files(self) -> list[str]:
        return [path for path, _ in self.errors]


def detect_format(data: Any, source: str) -> str:
    """The format of parsed file content, when the content alone says so unambiguously."""
    if isinstance(data, dict):
        tag = data.get("trajectory_format")
        if isinstance(tag, str) and tag.startswith("mini-swe-agent"):
            return minisweagent.FORMAT_NAME
        has_messages = "messages" in data
        has_swe_agent = "history" in data or "trajectory" in data
        if has_messages and not has_swe_agent:
            return minisweagent.FORMAT_NAME
        if has_swe_agent and not has_messages:
            return sweagent.FORMAT_NAME
    raise DataError(
        f"{source}: cannot tell the format (mini-swe-agent files have 'messages' and "
        "'trajectory_format', SWE-agent .traj files 'history' or 'trajectory'); pass a --format"
    )


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, plus every trajectory file under the given directories (sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = (
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(TRAJECTORY_SUFFIXES)
            )
            files.extend(sorted(found))
        else:
            files.append(path)
    return files


def import_file(path: str | Path, format: str = "auto") -> Trajectory:
    """One file as a Trajectory; DataError (naming the file and field) when it is malformed."""
    if format not in IMPORT_FORMATS or format == table.FORMAT_NAME:
        raise ValueError(f"unknown import format {format!r}; expected one of {IMPORT_FORMATS}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    data, content_hash = read_json(path)
    fmt = detect_format(data, str(path)) if format == "auto" else format
    return _CONVERTERS[fmt](data, source=str(path), content_hash=content_hash)


def import_files(
    paths: Iterable[str | Path], format: str = "auto", *, progress_every: int = 500
) -> ImportReport:
    """Import every file; malformed ones land in `errors` and the rest still import.

    A messages table (.jsonl / .parquet, or format messages-table) holds many trajectories: its
    bad rows land in `errors` as `FILE:row N` and its good rows still import.
    """
    files = expand_paths(paths)
    report = ImportReport(num_files=len(files))
    start = time.monotonic()
    for num_done, path in enumerate(files, 1):
        try:
            if format == table.FORMAT_NAME or (format == "auto" and table.is_table(path)):
                rows, row_errors = table.import_table(path)
                report.trajectories.extend(rows)
                report.errors.extend(row_errors)
            else:
                report.trajectories.append(import_file(path, format))
        except DataError as exc:
            report.errors.append((str(path), str(exc)))
        except OSError as exc:
            report.errors.append((str(path), f"{path}: cannot read ({exc.strerror or exc})"))
        except Exception as exc:  # a bug or a shape we did not foresee must not sink the batch
            message = f"{path}: unexpected {type(exc).__name__} while importing: {exc}"
            report.errors.append((str(path), message))
        if progress_every and num_done % progress_every == 0:
            rate = num_done / max(time.monotonic() - start, 1e-9)
            print(f"imported {num_done}/{len(files)} files ({rate:.0f}/s)", file=sys.stderr)
    return report
