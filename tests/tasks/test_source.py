import json
import shutil
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from srft_ray.data.model import DataError
from srft_ray.protocols import TaskSource
from srft_ray.tasks.pack import EMBEDDED_PACK_DIR, PackConfig, TaskPack, build_repo
from srft_ray.tasks.source import (
    RowFileSourceConfig,
    RowFileTaskSource,
    git,
    load_task_source,
    load_tasks,
    materialize_checkout,
)


def _rows():
    return [
        json.loads(line)
        for line in (EMBEDDED_PACK_DIR / "tasks.jsonl").read_text().split("\n")
        if line.strip()
    ]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_embedded_pack_shape(pack):
    tasks = pack.tasks()
    assert isinstance(pack, TaskSource)
    assert len(tasks) >= 12
    assert len({t.repo for t in tasks}) >= 4
    for task in tasks:
        assert task.instance_id.startswith("srft-embedded__")
        assert task.fail_to_pass and task.pass_to_pass and task.patch and task.test_patch
        assert len(task.base_commit) == 40 and task.version


def test_pack_is_small_and_has_no_nested_git():
    files = [p for p in EMBEDDED_PACK_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 100_000
    assert not [p for p in EMBEDDED_PACK_DIR.rglob(".git")]


def test_repo_build_is_deterministic_and_matches_rows(pack, tasks_by_id, tmp_path):
    task = tasks_by_id["srft-embedded__calc-1"]
    files = EMBEDDED_PACK_DIR / "repos" / "srft-embedded__calc"
    first = build_repo(files, tmp_path / "a", message="srft-embedded/calc: base of the task pack")
    second = build_repo(files, tmp_path / "b", message="srft-embedded/calc: base of the task pack")
    assert first == second == task.base_commit


def test_checkout_at_base_commit(pack, tasks_by_id, tmp_path):
    task = tasks_by_id["srft-embedded__inicfg-1"]
    checkout = materialize_checkout(pack.repo_dir(task), task.base_commit, tmp_path / "co")
    assert git("rev-parse", "HEAD", cwd=checkout).strip() == task.base_commit
    assert git("status", "--porcelain", cwd=checkout) == ""
    assert git("remote", cwd=checkout) == ""  # nothing points back at host paths
    assert (checkout / "inicfg" / "reader.py").is_file()
    # the gold patch and the test patch apply to the checkout
    for diff in (task.patch, task.test_patch):
        subprocess.run(
            ["git", "apply", "--check", "-"], input=diff, text=True, cwd=checkout, check=True
        )
    with pytest.raises(FileExistsError):
        materialize_checkout(pack.repo_dir(task), task.base_commit, checkout)
    with pytest.raises(DataError, match="commit 0{40} is not in"):
        materialize_checkout(pack.repo_dir(task), "0" * 40, tmp_path / "missing")


def test_drifted_pack_files_are_reported(tmp_path):
    copy = tmp_path / "pack"
    shutil.copytree(EMBEDDED_PACK_DIR, copy)
    (copy / "repos" / "srft-embedded__spans" / "README.md").write_text("edited\n")
    drifted = TaskPack(PackConfig(path=str(copy), cache_dir=str(tmp_path / "cache")))
    task = next(t for t in drifted.tasks() if t.repo == "srft-embedded/spans")
    with pytest.raises(DataError, match=r"instance 'srft-embedded__spans-\d'.*'base_commit'"):
        drifted.repo_dir(task)


def test_pack_with_git_bundle(pack, tasks_by_id, tmp_path):
    task = tasks_by_id["srft-embedded__textkit-2"]
    (tmp_path / "pack" / "repos").mkdir(parents=True)
    _write_jsonl(tmp_path / "pack" / "tasks.jsonl", [task.to_row()])
    bundle = tmp_path / "pack" / "repos" / "srft-embedded__textkit.bundle"
    git("bundle", "create", str(bundle), "--all", cwd=pack.repo_dir(task))
    bundled = load_task_source(tmp_path / "pack")
    repo = bundled.repo_dir(bundled.tasks()[0])
    checkout = materialize_checkout(repo, task.base_commit, tmp_path / "co")
    assert (checkout / "textkit" / "wrap.py").is_file()


def test_jsonl_and_parquet_sources_read_the_same_tasks(pack, tmp_path):
    rows = _rows()
    jsonl = _write_jsonl(tmp_path / "tasks.jsonl", rows)
    # Parquet as SWE-bench publishes it: FAIL_TO_PASS / PASS_TO_PASS as JSON strings
    table = pa.Table.from_pylist(
        [
            {
                **r,
                "FAIL_TO_PASS": json.dumps(r["FAIL_TO_PASS"]),
                "PASS_TO_PASS": json.dumps(r["PASS_TO_PASS"]),
            }
            for r in rows
        ]
    )
    pq.write_table(table, tmp_path / "tasks.parquet")
    from_jsonl = load_task_source(jsonl).tasks()
    from_parquet = load_task_source(tmp_path / "tasks.parquet").tasks()
    assert [t.to_row() for t in from_jsonl] == [t.to_row() for t in from_parquet]
    assert [t.instance_id for t in from_jsonl] == [t.instance_id for t in pack.tasks()]
    assert from_parquet[3].fail_to_pass == pack.tasks()[3].fail_to_pass


def test_row_file_repos_dir(pack, tasks_by_id, tmp_path):
    task = tasks_by_id["srft-embedded__calc-1"]
    jsonl = _write_jsonl(tmp_path / "tasks.jsonl", [task.to_row()])
    assert RowFileTaskSource(RowFileSourceConfig(path=str(jsonl))).repo_dir(task) is None
    shutil.copytree(pack.repo_dir(task), tmp_path / "clones" / "srft-embedded__calc")
    source = load_task_source(jsonl, repos_dir=str(tmp_path / "clones"))
    assert source.repo_dir(task) == tmp_path / "clones" / "srft-embedded__calc"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.pop("base_commit"),
            r"row 2 \(instance 'srft-embedded__calc-2'\): field 'base_commit'",
        ),
        (lambda r: r.update(repo=""), r"row 2 \(instance 'srft-embedded__calc-2'\): field 'repo'"),
        (lambda r: r.update(FAIL_TO_PASS="[not json"), r"row 2 .*field 'FAIL_TO_PASS'"),
        (lambda r: r.update(PASS_TO_PASS=[1, 2]), r"row 2 .*field 'PASS_TO_PASS'"),
        (lambda r: r.update(patch=["a list"]), r"row 2 .*field 'patch' must be a string"),
        (lambda r: r.update(instance_id="srft-embedded__calc-1"), r"row 2 .*repeats row 1"),
    ],
)
def test_malformed_jsonl_row_names_file_row_instance_field(tmp_path, change, message):
    rows = _rows()[:3]
    change(rows[1])
    path = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=message) as info:
        load_tasks(path)
    assert str(path) in str(info.value)


def test_malformed_parquet_row_and_bad_json_line(tmp_path):
    rows = _rows()[:2]
    rows[1]["problem_statement"] = None
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"bad.parquet: row 2 .*'problem_statement'"):
        load_tasks(tmp_path / "bad.parquet")
    (tmp_path / "broken.jsonl").write_text(json.dumps(_rows()[0]) + "\n{oops\n")
    with pytest.raises(DataError, match=r"broken.jsonl: row 2: not valid JSON"):
        load_tasks(tmp_path / "broken.jsonl")


def test_unknown_source(tmp_path):
    with pytest.raises(DataError, match="not a task source name"):
        load_task_source("no-such-pack")
    with pytest.raises(DataError, match="no tasks.jsonl"):
        load_task_source(tmp_path)


def test_swe_smith_row_keeps_its_image(tmp_path):
    row = {
        "instance_id": "pandas-dev__pandas.95280573.func_pm_op_swap__abc",
        "repo": "swesmith/pandas-dev__pandas.95280573",
        "base_commit": "95280573e15be59036f98d82a8792599c10c6603",
        "problem_statement": "Series.sum drops the last element",
        "patch": "",
        "FAIL_TO_PASS": ["pandas/tests/test_sum.py::test_sum"],
        "PASS_TO_PASS": [],
        "image_name": "jyangballin/swesmith.x86_64.pandas-dev_1776_pandas.95280573",
    }
    (task,) = load_tasks(_write_jsonl(tmp_path / "smith.jsonl", [row]))
    assert task.image == row["image_name"] and task.fail_to_pass == row["FAIL_TO_PASS"]
