"""Task sources: SWE-bench rows from JSONL or Parquet files, task packs, and local checkouts.

A source yields `Task`s and, where it can, a local git repository holding each task's
base_commit, from which `materialize_checkout` makes the directory a bwrap sandbox starts from.
Classic rows (SWE-bench Verified/Lite, SWE-Gym, SWE-smith) usually run in the docker sandbox
from the instance image, so their `repo_dir` is None unless a folder of local clones is given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError, Task
from srft_ray.protocols import TaskSource

# Row fields that must be strings when present (Task.from_row checks the required ones).
_STRING_FIELDS = ("patch", "test_patch", "version", "hints_text", "environment_setup_commit")


def read_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, row) for each row of a .jsonl / .json / .parquet file of tasks."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such task file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for number, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield number, row
        return
    if path.suffix == ".json":  # a JSON list of rows (how some datasets are shared)
        rows = json.loads(path.read_text())
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected a JSON list of task rows")
        yield from enumerate(rows, start=1)
        return
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: row {number}: not valid JSON ({exc})") from None
            yield number, row


def load_tasks(path: str | Path) -> list[Task]:
    """Every row of a task file as a Task; a bad row raises DataError naming file, row and field."""
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for number, row in read_rows(path):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {number}: expected an object, got {type(row).__name__}")
        where = f"{path}: row {number} (instance {row.get('instance_id', '?')!r})"
        task = Task.from_row(row, where=where)
        for key in _STRING_FIELDS:
            if key in row and row[key] is not None and not isinstance(row[key], str):
                raise DataError(f"{where}: field {key!r} must be a string")
        if not task.image and isinstance(row.get("image_name"), str):
            task.image = row["image_name"]  # SWE-smith rows name their docker image this way
        if task.instance_id in seen:
            raise DataError(f"{where}: instance_id repeats row {seen[task.instance_id]}")
        seen[task.instance_id] = number
        tasks.append(task)
    return tasks


@dataclass(kw_only=True)
class RowFileSourceConfig:
    """Where a file of classic SWE-bench rows and its optional local clones live."""

    path: str
    """A .jsonl, .json or .parquet file of SWE-bench rows."""
    repos_dir: str = ""
    """Folder of local clones named like `owner__name` (for the bwrap sandbox); empty: none."""


class RowFileTaskSource:
    """Tasks from a file of SWE-bench rows (Verified/Lite, SWE-Gym, SWE-smith shape)."""

    def __init__(self, config: RowFileSourceConfig) -> None:
        self.config = config
        self._tasks = load_tasks(config.path)

    def tasks(self) -> list[Task]:
        return list(self._tasks)

    def repo_dir(self, task: Task) -> Path | None:
        if not self.config.repos_dir:
            return None
        clone = Path(self.config.repos_dir) / task.repo.replace("/", "__")
        return clone if (clone / ".git").exists() or (clone / "HEAD").exists() else None


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


def materialize_checkout(repo_dir: str | Path, commit: str, dest: str | Path) -> Path:
    """Clone `repo_dir` into `dest` (which must not exist or be empty) at `commit`, detached.

    The clone has no remote, so nothing inside the sandbox points back at host paths.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest}: checkout destination is not empty")
    git("clone", "--quiet", "--no-checkout", "--no-hardlinks", str(repo_dir), str(dest))
    try:
        git("checkout", "--quiet", "--detach", commit, cwd=dest)
    except RuntimeError:
        shutil.rmtree(dest, ignore_errors=True)
        raise DataError(f"{repo_dir}: commit {commit} is not in this repository") from None
    git("remote", "remove", "origin", cwd=dest)
    return dest


def checkout_task(source: TaskSource, task: Task, dest: str | Path) -> Path:
    """A fresh checkout of `task` at its base_commit in `dest`, from the source's repository."""
    repo = source.repo_dir(task)
    if repo is None:
        raise DataError(
            f"task {task.instance_id!r}: the source has no local repository for {task.repo!r}; "
            "use the docker sandbox (instance image) or give the source a repos_dir"
        )
    return materialize_checkout(repo, task.base_commit, dest)


SOURCES: dict[str, Callable[[], TaskSource]] = {}
"""Named task sources; "embedded" (the bundled pack) is registered by srft_ray.tasks.pack."""


def load_task_source(path_or_name: str | Path, *, repos_dir: str = "") -> TaskSource:
    """A registered name ("embedded"), a pack folder (tasks.jsonl + repos/), or a row file."""
    from srft_ray.tasks import pack  # registers "embedded"

    if str(path_or_name) in SOURCES:
        return SOURCES[str(path_or_name)]()
    path = Path(path_or_name)
    if path.is_dir():
        return pack.TaskPack(pack.PackConfig(path=str(path)))
    if path.is_file():
        return RowFileTaskSource(RowFileSourceConfig(path=str(path), repos_dir=repos_dir))
    names = ", ".join(sorted(SOURCES))
    raise DataError(f"{path_or_name}: not a task source name ({names}), folder or file")
