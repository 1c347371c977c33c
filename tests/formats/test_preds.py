"""SWE-bench preds.json / JSONL export from a real Parquet store."""

from __future__ import annotations

import json

from srft_ray.data.model import Outcome, Provenance, Trajectory
from srft_ray.data.store import TrajectoryStore
from srft_ray.formats import write_preds


def make(tid: str, iid: str, patch: str, resolved: bool | None = None) -> Trajectory:
    return Trajectory(
        trajectory_id=tid,
        instance_id=iid,
        system_prompt="s",
        task_prompt="t",
        outcome=Outcome(exit_status="submitted", patch=patch, resolved=resolved),
        provenance=Provenance(policy_model="smol-r1"),
    )


TRAJS = [
    make("a/1", "repo__a-1", ""),
    make("a/2", "repo__a-1", "diff a2", resolved=False),
    make("a/3", "repo__a-1", "diff a3 ✓", resolved=True),
    make("a/4", "repo__a-1", "diff a4", resolved=True),  # tie: the first resolved wins
    make("b/1", "repo__b-2", ""),
    make("c/1", "repo__c-3", "diff c1"),
]


def test_preds_json_from_store(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    store.append(TRAJS[:3])
    store.append(TRAJS[3:])
    report = write_preds(store, tmp_path / "preds.json")
    preds = json.loads((tmp_path / "preds.json").read_text())
    assert preds == {
        "repo__a-1": {
            "instance_id": "repo__a-1",
            "model_name_or_path": "smol-r1",
            "model_patch": "diff a3 ✓",
        },
        "repo__b-2": {
            "instance_id": "repo__b-2",
            "model_name_or_path": "smol-r1",
            "model_patch": "",
        },
        "repo__c-3": {
            "instance_id": "repo__c-3",
            "model_name_or_path": "smol-r1",
            "model_patch": "diff c1",
        },
    }
    assert (report.num_predictions, report.num_empty_patches, report.num_duplicates_skipped) == (
        3,
        1,
        3,
    )


def test_preds_jsonl_with_model_name(tmp_path):
    report = write_preds(TRAJS[4:], tmp_path / "preds.jsonl", model_name="my-model")
    lines = (tmp_path / "preds.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"instance_id": "repo__b-2", "model_name_or_path": "my-model", "model_patch": ""},
        {"instance_id": "repo__c-3", "model_name_or_path": "my-model", "model_patch": "diff c1"},
    ]
    assert report.num_predictions == 2


def test_preds_readable_by_swebench(tmp_path):
    from swebench.harness.utils import get_predictions_from_file

    write_preds(TRAJS, tmp_path / "preds.json")
    rows = get_predictions_from_file(str(tmp_path / "preds.json"), "SWE-bench", "test")
    assert sorted(r["instance_id"] for r in rows) == ["repo__a-1", "repo__b-2", "repo__c-3"]
    write_preds(TRAJS, tmp_path / "preds.jsonl")
    rows = get_predictions_from_file(str(tmp_path / "preds.jsonl"), "SWE-bench", "test")
    assert {r["instance_id"]: r["model_patch"] for r in rows}["repo__a-1"] == "diff a3 ✓"
