"""`srft tasks validate` on the embedded pack and on a user pack with broken tasks."""

import json
import shutil

import pytest

from srft_ray.tasks.cli import main
from srft_ray.tasks.pack import EMBEDDED_PACK_DIR


def _rows():
    text = (EMBEDDED_PACK_DIR / "tasks.jsonl").read_text()
    return {r["instance_id"]: r for r in map(json.loads, text.splitlines())}


@pytest.mark.slow
def test_validate_embedded_pack_in_bwrap(capsys):
    assert main(["validate", "--workers", "2"]) == 0
    out, err = capsys.readouterr()
    rows = [line for line in out.splitlines() if line.startswith("srft-embedded__")]
    assert len(rows) == len(_rows()) >= 12
    assert all(line.rstrip().endswith("valid") for line in rows)
    assert "base F2P failing" in out and f"{len(rows)}/{len(rows)} tasks valid" in out
    assert f"[{len(rows)}/{len(rows)}]" in err  # progress lines


def test_broken_user_pack_is_invalid(tmp_path, capsys):
    rows = _rows()
    wrong_gold = dict(rows["srft-embedded__textkit-1"])
    wrong_gold["patch"] = rows["srft-embedded__textkit-3"]["patch"]  # fixes another bug
    passes_at_base = dict(rows["srft-embedded__spans-3"])
    passes_at_base["FAIL_TO_PASS"] = [
        *passes_at_base["FAIL_TO_PASS"],
        "tests/test_duration.py::test_format_mixed",
    ]
    pack = tmp_path / "my_pack"
    shutil.copytree(EMBEDDED_PACK_DIR / "repos", pack / "repos")
    (pack / "tasks.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in (wrong_gold, passes_at_base))
    )
    assert main(["validate", str(pack)]) == 1
    out = capsys.readouterr().out
    assert out.count("INVALID") == 2
    assert "srft-embedded__textkit-1: gold fails FAIL_TO_PASS tests: ['tests/test_slug.py::" in out
    assert (
        "srft-embedded__spans-3: base passes FAIL_TO_PASS tests: ['tests/test_duration.py::test_format_mixed']"
        in out
    )


def test_list_and_bad_input(tmp_path, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "srft-embedded__calc-1\tsrft-embedded/calc" in out
    (tmp_path / "bad.jsonl").write_text('{"instance_id": "x__y-1", "repo": "x/y"}\n')
    assert main(["validate", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl: row 1 (instance 'x__y-1'): field 'base_commit'" in capsys.readouterr().err
    assert main(["validate", "--instance", "nope"]) == 2
