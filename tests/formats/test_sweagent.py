"""SWE-agent .traj import: history first, trajectory as the fallback, clear errors."""

from __future__ import annotations

import json

import pytest

from srft_ray.data.model import DataError
from srft_ray.formats import read_sweagent
from srft_ray.formats.sweagent import sweagent_to_trajectory

EXAMPLE = "durations__durations-7.traj"


def test_import_history(data_dir):
    traj = read_sweagent(data_dir / EXAMPLE)
    raw = json.loads((data_dir / EXAMPLE).read_text())
    assert traj.instance_id == "durations__durations-7"  # from replay_config.problem_statement.id
    assert traj.system_prompt == raw["history"][0]["content"]
    # The demonstration is skipped; the task prompt comes from a content-part list.
    assert traj.task_prompt == raw["history"][2]["content"][0]["text"]
    assert "“5 µs”" in traj.task_prompt
    assert traj.extra["num_demo_messages"] == 1
    assert [s.command for s in traj.steps] == [s["action"] for s in raw["trajectory"]]
    assert (
        traj.steps[2].command
        == "edit 15:15\n        total += float(value) * UNITS[unit]\nend_of_edit"
    )
    # History observations are the templated messages the model saw, not the raw outputs.
    assert [s.observation for s in traj.steps] == [h["content"] for h in raw["history"][4::2]]
    assert [s.assistant for s in traj.steps] == [s["response"] for s in raw["trajectory"]]
    assert [s.exec_seconds for s in traj.steps] == [0.11, 0.48, 0.85, 1.22]
    assert traj.steps[-1].end_reason == "submitted"
    assert all(s.token_ids is None for s in traj.steps)
    assert traj.outcome.exit_status == "submitted"
    assert traj.outcome.patch == raw["info"]["submission"]
    assert traj.provenance.agent == "swe-agent"
    assert traj.provenance.policy_model == "gpt-4o-2024-08-06"
    assert traj.provenance.sampling_params == {"temperature": 0.0, "top_p": 1.0}
    assert traj.provenance.source_file == str(data_dir / EXAMPLE)
    assert traj.extra["model_stats"]["api_calls"] == 4


def test_falls_back_to_trajectory_without_history(data_dir):
    raw = json.loads((data_dir / EXAMPLE).read_text())
    del raw["history"]
    traj = sweagent_to_trajectory(raw, source="durations__durations-7.traj")
    assert traj.task_prompt == raw["trajectory"][0]["query"][2]["content"][0]["text"]
    assert traj.system_prompt == raw["trajectory"][0]["query"][0]["content"]
    assert [s.observation for s in traj.steps] == [s["observation"] for s in raw["trajectory"]]
    assert [s.command for s in traj.steps] == [s["action"] for s in raw["trajectory"]]
    assert traj.outcome.patch == raw["info"]["submission"]


def test_instance_id_falls_back_to_file_name(data_dir):
    raw = json.loads((data_dir / EXAMPLE).read_text())
    raw["replay_config"] = None
    assert sweagent_to_trajectory(raw, source="dir/a__b-3.traj").instance_id == "a__b-3"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["history"][3].pop("role"), "field 'history[3].role' missing"),
        (lambda d: d["history"][5].pop("content"), "field 'history[5].content' missing"),
        (lambda d: d["history"][3].__setitem__("action", ["ls"]), "'history[3].action' is list"),
        (lambda d: d["info"].__setitem__("exit_status", 1), "'info.exit_status' is int"),
        (lambda d: d.pop("history"), None),  # falls back to trajectory: fine
        (
            lambda d: (d.pop("history"), d["trajectory"][1].pop("response")),
            "'trajectory[1].response' missing",
        ),
        (lambda d: (d.pop("history"), d.pop("trajectory")), "field 'history' missing"),
    ],
)
def test_malformed_files_name_the_field(data_dir, mutate, message):
    raw = json.loads((data_dir / EXAMPLE).read_text())
    mutate(raw)
    if message is None:
        sweagent_to_trajectory(raw, source="x.traj")
        return
    with pytest.raises(DataError) as err:
        sweagent_to_trajectory(raw, source="x.traj")
    assert str(err.value).startswith("x.traj: ") and message in str(err.value)


def test_committed_malformed_example(data_dir):
    with pytest.raises(
        DataError, match=r"bad_missing_role\.traj: field 'history\[3\]\.role' missing"
    ):
        read_sweagent(data_dir / "bad_missing_role.traj")
