"""Task packs: SWE-bench rows in `tasks.jsonl` plus the repositories they patch, stored offline.

Layout of a pack folder (the embedded one is `srft_ray/task_pack/`):

    tasks.jsonl                 one SWE-bench row per line
    repos/<owner>__<name>/      the repository's files at base_commit (plain files), or
    repos/<owner>__<name>.bundle  a `git bundle` holding base_commit (any history)

Plain files are turned into a git repository by a deterministic build (fixed author, committer,
dates and message, no host git configuration), so the commit hash is reproducible and the rows
can name it as base_commit. The embedded pack uses plain files: they are reviewable text in this
project's history, small, and need no binary blobs; a mismatching hash is caught at build time.
Built repositories are cached under `cache_dir`, keyed by a digest of the pack's files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from srft_ray.data.model import DataError, Task
from srft_ray.tasks.git_command import git
from srft_ray.tasks.rows import load_tasks

EMBEDDED_PACK_DIR = Path(__file__).resolve().parent.parent / "task_pack"
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".git", ".ruff_cache"}
_COMMIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "srft-ray task pack",
    "GIT_AUTHOR_EMAIL": "task-pack@srft-ray.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "srft-ray task pack",
    "GIT_COMMITTER_EMAIL": "task-pack@srft-ray.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+0000",
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "srft-ray" / "repos"


@dataclass(kw_only=True)
class PackConfig:
    """A task pack folder and where its built repositories are cached."""

    path: str = str(EMBEDDED_PACK_DIR)
    """The pack folder: tasks.jsonl plus repos/."""
    cache_dir: str = ""
    """Where built git repositories are kept; empty: ~/.cache/srft-ray/repos."""


def pack_files(files_dir: Path) -> list[Path]:
    """The files of a plain-files repository, sorted, without caches."""
    found = []
    for path in sorted(files_dir.rglob("*")):
        rel = path.relative_to(files_dir)
        if path.is_file() and not set(rel.parts) & _SKIP_NAMES and path.suffix != ".pyc":
            found.append(path)
    return found


def build_repo(files_dir: Path, dest: Path, *, message: str) -> str:
    """Make a one-commit git repository at `dest` from `files_dir`; returns the commit hash."""
    dest.mkdir(parents=True)
    for path in pack_files(files_dir):
        target = dest / path.relative_to(files_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())  # not copy2: the host's file modes must not leak
    git("init", "--quiet", "--initial-branch=main", cwd=dest)
    git("add", "--all", cwd=dest)
    git(
        "commit",
        "--quiet",
        "--no-verify",
        "--no-gpg-sign",
        "-m",
        message,
        cwd=dest,
        env=_COMMIT_IDENTITY,
    )
    return git("rev-parse", "HEAD", cwd=dest).strip()


def _digest(paths: list[Path], root: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


class TaskPack:
    """A TaskSource over a pack folder; builds (once, cached) the repositories tasks check out."""

    def __init__(self, config: PackConfig | None = None) -> None:
        self.config = config or PackConfig()
        self.root = Path(self.config.path)
        self.tasks_file = self.root / "tasks.jsonl"
        if not self.tasks_file.is_file():
            raise DataError(f"{self.root}: not a task pack (no tasks.jsonl)")
        self._tasks = load_tasks(self.tasks_file)
        self._cache = Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()

    def tasks(self) -> list[Task]:
        return list(self._tasks)

    def repo_dir(self, task: Task) -> Path:
        """The cached git repository for task.repo, built on first use; holds base_commit."""
        key = task.repo.replace("/", "__")
        files_dir, bundle = self.root / "repos" / key, self.root / "repos" / f"{key}.bundle"
        if bundle.is_file():
            origin, digest = bundle, hashlib.sha256(bundle.read_bytes()).hexdigest()[:16]
        elif files_dir.is_dir():
            origin, digest = files_dir, _digest(pack_files(files_dir), files_dir)
        else:
            raise DataError(
                f"task {task.instance_id!r}: {self.root}/repos has no {key}/ or "
                f"{key}.bundle for repo {task.repo!r}"
            )
        repo = self._cache / f"{key}-{digest}"
        if not repo.exists():
            self._build(origin, repo, task.repo)
        try:
            git("cat-file", "-e", f"{task.base_commit}^{{commit}}", cwd=repo)
        except RuntimeError:
            head = git("rev-parse", "HEAD", cwd=repo).strip()
            raise DataError(
                f"{self.tasks_file}: instance {task.instance_id!r}: field 'base_commit' "
                f"{task.base_commit} is not in the repository built from {origin} (its HEAD is "
                f"{head}); the repository files changed after the row was written"
            ) from None
        return repo

    def _build(self, origin: Path, repo: Path, name: str) -> None:
        # Build beside the final path and rename: concurrent workers never see half a repo.
        self._cache.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=self._cache))
        try:
            if origin.suffix == ".bundle":
                git("clone", "--quiet", "--mirror", str(origin), str(scratch / "repo"))
            else:
                build_repo(origin, scratch / "repo", message=f"{name}: base of the task pack")
            try:
                os.rename(scratch / "repo", repo)
            except OSError:
                if not repo.exists():  # lost a race to another builder: theirs is identical
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def embedded_pack() -> TaskPack:
    """The task pack shipped inside the package."""
    return TaskPack(PackConfig())
