"""Task sources: SWE-bench rows from JSONL or Parquet files, task packs, and local checkouts.

A source yields `Task`s and, where it can, a local git repository holding each task's
base_commit, from which `materialize_checkout` makes the directory a bwrap sandbox starts from.
Classic rows (SWE-bench Verified/Lite, SWE-Gym, SWE-smith) usually run in the docker sandbox
from the instance image, so their `repo_dir` is None unless a folder of local clones is given.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from srft_ray.data.model import DataError, Task
from srft_ray.protocols import TaskSource
from srft_ray.registry import resolve
from srft_ray.tasks.git_command import git
from srft_ray.tasks.rows import load_tasks, read_rows

__all__ = [
    "SOURCES",
    "RowFileTaskSource",
    "checkout_task",
    "git",
    "load_task_source",
    "load_tasks",
    "materialize_checkout",
    "read_rows",
]


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


SOURCES: dict[str, str] = {"embedded": "srft_ray.tasks.pack:embedded_pack"}
"""Named task sources: name -> "module:function" returning the TaskSource (imported on use)."""


def generated_source(name: str) -> TaskSource:
    """ "generated:N:SEED[:B]": the generated task family of N tasks from SEED (B: only the first
    B bugs of each function shape), built once into the cache and reused; the same name always
    means byte-identical tasks."""
    import tempfile

    from srft_ray.tasks import pack
    from srft_ray.tasks.generate import generate_pack

    try:
        _, num, seed, *narrow = name.split(":")
        num_tasks, seed_value = int(num), int(seed)
        bugs_per_shape = int(narrow[0]) if narrow else 0
        if len(narrow) > 1:
            raise ValueError(name)
    except ValueError:
        raise DataError(
            f"{name!r}: a generated source is named generated:NUM_TASKS:SEED[:BUGS_PER_SHAPE]"
        ) from None
    suffix = f"-b{bugs_per_shape}" if bugs_per_shape else ""
    folder = (
        pack.default_cache_dir().parent / "packs" / f"generated-{num_tasks}-{seed_value}{suffix}"
    )
    if not (folder / "tasks.jsonl").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".gen-", dir=folder.parent))
        generate_pack(
            scratch / "pack", num_tasks=num_tasks, seed=seed_value, bugs_per_shape=bugs_per_shape
        )
        try:
            os.rename(scratch / "pack", folder)
        except OSError:
            if not (folder / "tasks.jsonl").is_file():  # lost a race to an identical build
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return pack.TaskPack(pack.PackConfig(path=str(folder)))


def load_task_source(path_or_name: str | Path, *, repos_dir: str = "") -> TaskSource:
    """A registered name ("embedded"), "generated:N:SEED", a pack folder, or a row file."""
    from srft_ray.tasks import pack

    if str(path_or_name) in SOURCES:
        return resolve(SOURCES, str(path_or_name), "task source")()
    if str(path_or_name).startswith("generated:"):
        return generated_source(str(path_or_name))
    path = Path(path_or_name)
    if path.is_dir():
        return pack.TaskPack(pack.PackConfig(path=str(path)))
    if path.is_file():
        return RowFileTaskSource(RowFileSourceConfig(path=str(path), repos_dir=repos_dir))
    names = ", ".join(sorted(SOURCES))
    raise DataError(f"{path_or_name}: not a task source name ({names}), folder or file")
