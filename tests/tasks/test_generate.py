"""`srft tasks generate`: deterministic packs of one-line-bug tasks that validate in bwrap."""

import json
import re
from collections import Counter

import pytest

from srft_ray.tasks.cli import main
from srft_ray.tasks.generate import generate_pack
from srft_ray.tasks.generated_repos import build_family, run_function
from srft_ray.tasks.generated_templates import KINDS, SHAPES
from srft_ray.tasks.pack import PackConfig, TaskPack
from srft_ray.tasks.source import checkout_task, git

_SED_HOSTILE = set("/&\\'|")


def _call_args(row):
    """The arguments of the call the statement shows (`pkg.mod.fn(...)` or `>>> pkg.mod.fn(...)`)."""
    pattern = rf"(?:`|>>> ){re.escape(row['function'])}\((.*?)\)(?:`|$)"
    found = re.search(pattern, row["problem_statement"], re.MULTILINE)
    return found and found.group(1)


def _rows(pack_dir):
    return [json.loads(line) for line in (pack_dir / "tasks.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "pack"
    summary = generate_pack(out, num_tasks=140, seed=7)
    assert summary.num_tasks == 140 and summary.num_repos == 24
    return out


@pytest.fixture(scope="module")
def task_pack(pack_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("gen-cache")
    return TaskPack(PackConfig(path=str(pack_dir), cache_dir=str(cache)))


def test_same_seed_same_pack_byte_for_byte(tmp_path, pack_dir):
    again = generate_pack(tmp_path / "again", num_tasks=140, seed=7)
    assert (tmp_path / "again" / "tasks.jsonl").read_bytes() == (
        pack_dir / "tasks.jsonl"
    ).read_bytes()
    for bundle in (pack_dir / "repos").iterdir():
        assert (tmp_path / "again" / "repos" / bundle.name).read_bytes() == bundle.read_bytes()
    other = generate_pack(tmp_path / "other", num_tasks=140, seed=8)
    assert set(other.families) != set(again.families)
    assert _rows(tmp_path / "other")[0]["base_commit"] != _rows(pack_dir)[0]["base_commit"]


def test_rows_have_the_swebench_fields_and_every_kind(pack_dir):
    rows = _rows(pack_dir)
    assert len({r["instance_id"] for r in rows}) == len(rows)
    kinds = Counter(r["bug_kind"] for r in rows)
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 15
    for row in rows:
        assert row["repo"] == f"srft-gen/{row['family']}"
        assert row["instance_id"].startswith(f"srft-gen__{row['family']}-")
        assert row["environment_setup_commit"] == row["base_commit"]
        assert re.fullmatch(r"[0-9a-f]{40}", row["base_commit"])
        assert row["FAIL_TO_PASS"] and row["PASS_TO_PASS"]
        assert not set(row["FAIL_TO_PASS"]) & set(row["PASS_TO_PASS"])
        name = row["function"].rsplit(".", 1)[1]
        assert all(f"::test_{name}_" in t for t in row["FAIL_TO_PASS"])
        assert row["file"] == row["function"].rsplit(".", 1)[0].replace(".", "/") + ".py"


def test_gold_patch_changes_exactly_one_line_and_the_statement_does_not_quote_it(pack_dir):
    for row in _rows(pack_dir):
        patch = row["patch"].splitlines()
        assert patch[0] == f"diff --git a/{row['file']} b/{row['file']}"
        assert patch[1:3] == [f"--- a/{row['file']}", f"+++ b/{row['file']}"]
        removed = [ln[1:] for ln in patch[3:] if ln.startswith("-")]
        added = [ln[1:] for ln in patch[3:] if ln.startswith("+")]
        assert len(removed) == len(added) == 1, row["instance_id"]
        assert not _SED_HOSTILE & set(removed[0] + added[0]), (removed, added)
        statement = row["problem_statement"]
        assert added[0].strip() not in statement and removed[0].strip() not in statement
        # A call to copy, with the module path, plus the wrong and the right output.
        assert _call_args(row), statement
        assert "expect" in statement or "should return" in statement


def _apply_one_line(text, patch):
    """The file after the gold patch: its one `-` line replaced by its `+` line, in place."""
    lines, body = text.splitlines(), patch.splitlines()[3:]
    number = int(re.match(r"@@ -(\d+)", body[0]).group(1)) - 1
    for line in body[1:]:
        if line.startswith("-"):
            assert lines[number] == line[1:]
            lines[number] = next(ln[1:] for ln in body if ln.startswith("+"))
            return "\n".join(lines) + "\n"
        number += 1
    raise AssertionError("no removed line")


def test_statement_outputs_come_from_running_the_code(pack_dir, task_pack, tmp_path):
    rows = _rows(pack_dir)
    for row in [next(r for r in rows if r["bug_kind"] == kind) for kind in KINDS]:
        task = next(t for t in task_pack.tasks() if t.instance_id == row["instance_id"])
        checkout = checkout_task(task_pack, task, tmp_path / row["instance_id"])
        buggy = (checkout / row["file"]).read_text()
        fixed = _apply_one_line(buggy, row["patch"])
        statement, name = row["problem_statement"], row["function"].rsplit(".", 1)[1]
        args = eval(f"({_call_args(row)},)")
        got, want = run_function(buggy, name, args), run_function(fixed, name, args)
        assert want[0] == "ok" and f"`{want[1]!r}`" in statement
        assert (repr(got[1]) if got[0] == "ok" else got[1]) in statement
        assert got != want
        # The base repository has no test of the bugged function: test_patch brings them.
        tests = (checkout / row["FAIL_TO_PASS"][0].split("::")[0]).read_text()
        assert f"def test_{name}_" not in tests and f".{name}(" not in tests


def test_every_base_commit_resolves_and_checkouts_show_no_other_commit(task_pack, tmp_path):
    tasks = task_pack.tasks()
    for task in tasks:
        task_pack.repo_dir(task)  # raises when base_commit is not in the bundle
    checkout = checkout_task(task_pack, tasks[0], tmp_path / "co")
    assert git("log", "--all", "--format=%H", cwd=checkout).split() == [tasks[0].base_commit]
    assert git("branch", "--list", cwd=checkout).startswith("* (HEAD detached")
    assert len(git("branch", "--list", cwd=checkout).splitlines()) == 1
    assert not git("tag", "--list", cwd=checkout).strip()


def test_every_bug_of_every_shape_shows_and_modules_stay_small():
    seen = set()
    for index in range(40):
        family = build_family(11, index, set())
        for functions in family.modules.values():
            assert 3 <= len(functions) <= 4
            for function in functions:
                assert 5 <= len(function.render().splitlines()) <= 10
                for bug in function.shape.bugs:
                    assert function.shape.code.count(bug.old) == 1
                    buggy, fixed = function.render(bug), function.render()
                    if any(
                        run_function(buggy, function.name, a)
                        != run_function(fixed, function.name, a)
                        for a in function.examples
                    ):
                        seen.add((function.shape.name, bug))
    assert seen == {(s.name, b) for s in SHAPES for b in s.bugs}


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "pack"
    assert main(["generate", "--out", str(out), "--num-tasks", "12", "--seed", "1"]) == 0
    assert "wrote 12 tasks over 2 repositories" in capsys.readouterr().out
    assert len(_rows(out)) == 12 and len(list((out / "repos").glob("*.bundle"))) == 2
    assert main(["generate", "--out", str(out), "--num-tasks", "12"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (
        main(["generate", "--out", str(tmp_path / "b"), "--num-tasks", "99", "--num-repos", "1"])
        == 2
    )
    assert main(["list", str(out)]) == 0


@pytest.mark.slow
def test_one_task_per_kind_validates_in_bwrap(pack_dir, capsys):
    rows = _rows(pack_dir)
    picked = [next(r for r in rows if r["bug_kind"] == kind)["instance_id"] for kind in KINDS]
    argv = ["validate", str(pack_dir), "--workers", "2"]
    assert main([*argv, *(a for i in picked for a in ("--instance", i))]) == 0
    out = capsys.readouterr().out
    assert f"{len(picked)}/{len(picked)} tasks valid" in out
