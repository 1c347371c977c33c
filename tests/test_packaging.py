"""Packaging: actors/ and jobs/ install as srft_ray.actors and srft_ray.jobs through two symlinks,
so `pip install -e .` is setuptools' plain .pth install and prints no warning."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_actors_and_jobs_are_linked_into_the_package():
    for name in ("actors", "jobs"):
        link = ROOT / "srft_ray" / name
        assert link.is_symlink() and os.readlink(link) == f"../{name}"  # relative: any checkout
        assert link.resolve() == ROOT / name
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"": "."}  # no mapping: every package where its name says
    assert {"srft_ray.actors", "srft_ray.jobs"} <= set(setuptools["packages"])


def test_the_packages_import_from_the_top_level_folders():
    import srft_ray.actors.engine
    import srft_ray.jobs.loop

    assert Path(srft_ray.actors.engine.__file__).resolve() == ROOT / "actors" / "engine.py"
    assert Path(srft_ray.jobs.loop.__file__).resolve() == ROOT / "jobs" / "loop.py"


def test_editable_build_warns_about_nothing(tmp_path):
    """setuptools' own PEP 660 hook, as `pip install -e .` calls it (no network: the installed
    setuptools, not an isolated build environment)."""
    code = (
        "import sys;"
        "from setuptools import build_meta; print(build_meta.build_editable(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    for sign in ("Warning", "!!", "careful", "meta path finder"):
        assert sign not in output, output[-3000:]
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as files:
        (pth,) = [n for n in files.namelist() if n.endswith(".pth")]
        assert files.read(pth).decode().strip() == str(ROOT)


def test_a_working_dir_upload_carries_actors_and_jobs(tmp_path):
    """`ray job submit --working-dir` zips the checkout; Ray follows the links, so the upload's
    own srft_ray/ holds actors/ and jobs/ (it shadows the installed package on the job's path)."""
    import shutil

    from ray._private.runtime_env.packaging import _zip_files

    tree = tmp_path / "checkout"
    for name in ("actors", "jobs"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        (tree / "srft_ray").mkdir(exist_ok=True)
        (tree / "srft_ray" / name).symlink_to(os.readlink(ROOT / "srft_ray" / name))
    _zip_files(str(tree), [], str(tmp_path / "upload.zip"), include_gitignore=True)
    names = set(zipfile.ZipFile(tmp_path / "upload.zip").namelist())
    assert {"srft_ray/actors/engine.py", "srft_ray/jobs/loop.py"} <= names
