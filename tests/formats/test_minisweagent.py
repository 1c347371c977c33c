"""mini-swe-agent import/export against files mini-swe-agent itself wrote."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from mswea_scripted import TASK, TEXT_REPLIES

from srft_ray.data.model import DataError, Outcome, Provenance, Step, StepLabel, Trajectory
from srft_ray.formats import (
    export_minisweagent,
    parse_action,
    read_minisweagent,
    trajectory_to_minisweagent,
)
from srft_ray.formats.minisweagent import minisweagent_to_trajectory

EXAMPLE = "mini_swe_agent_textbased.traj.json"


def without_source(traj: Trajectory) -> Trajectory:
    return replace(traj, provenance=replace(traj.provenance, source_file=""))


def test_import_real_textbased_file(data_dir):
    traj = read_minisweagent(data_dir / EXAMPLE)
    assert traj.instance_id == "demo__greet-1"
    assert traj.system_prompt.startswith("You are a helpful assistant")
    assert TASK in traj.task_prompt and "«Grüß dich»" in traj.task_prompt
    assert [s.assistant for s in traj.steps] == TEXT_REPLIES  # the failed reply is rebuilt too
    assert [s.command for s in traj.steps] == [
        "cat greet.py",
        None,  # two actions in one reply: mini-swe-agent's format error
        "cat <<'EOF' > greet.py\ndef greet():\n    print(\"Grüß dich 👋\")\n\n\ngreet()\nEOF\n"
        "python3 greet.py",
        "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff",
    ]
    assert [s.end_reason for s in traj.steps] == ["exit", "format_error", "exit", "submitted"]
    assert [s.returncode for s in traj.steps] == [0, None, 0, None]
    assert traj.steps[0].observation.startswith("<returncode>0</returncode>\n<output>\ndef greet")
    assert traj.steps[1].observation.startswith("Please always provide EXACTLY ONE action")
    assert "Grüß dich 👋" in traj.steps[2].observation
    assert traj.steps[3].observation is None  # submitting ends the run without an observation
    assert all(s.token_ids is None and s.logprobs is None for s in traj.steps)
    assert traj.outcome.exit_status == "Submitted"
    assert traj.outcome.patch.startswith("diff --git a/greet.py b/greet.py")
    assert '+    print("Grüß dich 👋")' in traj.outcome.patch
    assert traj.outcome.resolved is None
    assert traj.provenance.agent == "mini-swe-agent-1.1"
    assert traj.provenance.policy_model == "scripted-text"
    assert traj.provenance.source_file == str(data_dir / EXAMPLE)
    roles = [m["role"] for m in traj.messages()]
    assert roles == ["system", "user"] + ["assistant", "user"] * 3 + ["assistant"]


def test_reimport_gives_the_same_id(data_dir, tmp_path):
    copy_path = tmp_path / EXAMPLE
    copy_path.write_bytes((data_dir / EXAMPLE).read_bytes())
    assert (
        read_minisweagent(copy_path).trajectory_id
        == read_minisweagent(data_dir / EXAMPLE).trajectory_id
    )


@pytest.mark.parametrize(
    "text",
    [
        TEXT_REPLIES[0],
        TEXT_REPLIES[1],
        TEXT_REPLIES[2],
        "no action at all",
        "```mswea_bash_command\n  ls -la  \n```",
        "```mswea_bash_command\nunterminated",
        "```mswea_bash_command   \nls\n```\ntext\n```mswea_bash_command\npwd\n```",
        "```bash\nls\n```",  # only the v1 fence: not an action for a 2.x text-based model
    ],
)
def test_parse_action_agrees_with_minisweagent(text):
    from minisweagent.exceptions import FormatError
    from minisweagent.models.utils.actions_text import parse_regex_actions
    from mswea_scripted import ACTION_REGEX

    try:
        expected = parse_regex_actions(text, action_regex=ACTION_REGEX, format_error_template="x")
        expected = expected[0]["command"]
    except FormatError:
        expected = None
    assert parse_action(text, (ACTION_REGEX,)) == expected


def test_v1_bash_fence_is_parsed_when_no_config_says_otherwise():
    data = {
        "trajectory_format": "mini-swe-agent-1",
        "info": {"exit_status": "LimitsExceeded", "submission": ""},
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "task"},
            {"role": "assistant", "content": "THOUGHT: list\n```bash\nls -la\n```"},
            {"role": "user", "content": "<returncode>0</returncode>"},
        ],
    }
    traj = minisweagent_to_trajectory(data, source="v1.traj.json")
    assert traj.steps[0].command == "ls -la"
    assert traj.outcome.exit_status == "LimitsExceeded"
    assert traj.instance_id == "v1"


def test_live_textbased_run_imports(mini_run):
    path = mini_run()
    raw = json.loads(path.read_text())
    traj = read_minisweagent(path)
    assert traj.num_steps == 4
    assert traj.steps[2].observation == raw["messages"][6]["content"]
    assert traj.outcome.patch == raw["info"]["submission"] != ""


def test_live_toolcall_run_imports_and_round_trips(mini_run, tmp_path):
    path = mini_run(toolcall=True)
    traj = read_minisweagent(path)
    assert traj.observation_role == "tool"
    assert [s.command for s in traj.steps] == [
        "cat greet.py",
        "sed -i 's/Hello/Grüß dich/' greet.py && python3 -c 'import greet; greet.greet()'",
        "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff",
    ]
    assert "Grüß dich" in traj.steps[1].observation
    call = traj.steps[0].tool_calls[0]
    assert (call.id, call.name, call.command) == ("call_0", "bash", "cat greet.py")
    assert call.output == traj.steps[0].observation and call.returncode == 0
    assert traj.tools[0]["function"]["name"] == "bash"
    assert "<returncode>" in traj.observation_template
    [out] = export_minisweagent([traj], tmp_path / "export")
    exported = json.loads(out.read_text())
    assert [m["role"] for m in exported["messages"]] == [
        m["role"] for m in json.loads(path.read_text())["messages"]
    ]
    assert without_source(read_minisweagent(out)) == without_source(traj)


def test_round_trip_import_export_import(data_dir, tmp_path):
    traj = read_minisweagent(data_dir / EXAMPLE)
    [out] = export_minisweagent([traj], tmp_path)
    again = read_minisweagent(out)
    assert again.provenance.source_file == str(out)
    assert without_source(again) == without_source(traj)
    [out2] = export_minisweagent([again], tmp_path / "second")
    assert json.loads(out2.read_text()) == json.loads(out.read_text())


def test_round_trip_keeps_labels_and_grading(tmp_path):
    traj = Trajectory(
        trajectory_id="demo__x-1/round0/7",
        instance_id="demo__x-1",
        system_prompt="sys ✓",
        task_prompt="fix\nthe bug",
        steps=[
            Step(
                index=0,
                assistant="look\n```mswea_bash_command\nls\n```",
                command="ls",
                observation="a.py",
                returncode=0,
                end_reason="exit",
                model_seconds=0.5,
                exec_seconds=0.25,
                labels=[StepLabel(label="bad", source="critic", confidence=0.8, model="c")],
            ),
            Step(index=1, assistant="done", command=None, end_reason="submitted"),
        ],
        outcome=Outcome(
            exit_status="submitted", patch="diff", resolved=True, test_results={"t": "PASSED"}
        ),
        provenance=Provenance(policy_model="smol", round=2, sampling_params={"temperature": 0.7}),
        extra={"note": "x"},
    )
    [out] = export_minisweagent([traj], tmp_path)
    assert without_source(read_minisweagent(out)) == traj


def test_export_is_read_by_minisweagent_tooling(data_dir, tmp_path):
    from minisweagent.models.utils.content_string import get_content_string
    from minisweagent.run.utilities.inspector import _messages_to_steps

    traj = read_minisweagent(data_dir / EXAMPLE)
    exported = trajectory_to_minisweagent(traj)
    original = json.loads((data_dir / EXAMPLE).read_text())
    assert exported["trajectory_format"] == original["trajectory_format"]
    assert set(original["info"]) <= set(exported["info"])
    assert set(original["info"]["model_stats"]) <= set(exported["info"]["model_stats"])
    pages = _messages_to_steps(exported["messages"])
    assert len(pages) == 1 + traj.num_steps  # prompts, then one page per step
    for message in exported["messages"]:
        if message["role"] != "exit":
            assert get_content_string(message) == message["content"]


def test_content_lists_read_as_text(data_dir):
    data = json.loads((data_dir / EXAMPLE).read_text())
    as_lists = copy.deepcopy(data)
    for message in as_lists["messages"]:
        text = message["content"]
        message["content"] = [
            {"type": "text", "text": text[:5]},
            {"type": "text", "text": text[5:]},
        ]
    plain = minisweagent_to_trajectory(data, source="a.traj.json")
    listed = minisweagent_to_trajectory(as_lists, source="a.traj.json")
    assert listed.messages() == plain.messages()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["messages"][3].pop("role"), "field 'messages[3].role' missing"),
        (lambda d: d["messages"].__setitem__(2, "hi"), "field 'messages[2]' is str"),
        (lambda d: d.pop("messages"), "field 'messages' missing"),
        (lambda d: d["info"].__setitem__("submission", 3), "field 'info.submission' is int"),
        (
            lambda d: d["messages"][2]["extra"].__setitem__("actions", [{}]),
            "messages[2].extra.actions[0].command",
        ),
        (lambda d: d.__setitem__("messages", d["messages"][:1]), "'messages' has no user message"),
        (lambda d: d["messages"][2].__setitem__("role", "robot"), "'messages[2].role' is 'robot'"),
    ],
)
def test_malformed_files_name_the_field(data_dir, mutate, message):
    data = json.loads((data_dir / EXAMPLE).read_text())
    mutate(data)
    with pytest.raises(DataError) as err:
        minisweagent_to_trajectory(data, source="x.traj.json")
    assert str(err.value).startswith("x.traj.json: ")
    assert message in str(err.value)


def test_malformed_srft_block_names_the_field(tmp_path, data_dir):
    traj = read_minisweagent(data_dir / EXAMPLE)
    record = trajectory_to_minisweagent(traj)
    record["srft_ray"]["provenance"]["colour"] = "red"
    with pytest.raises(DataError, match="field 'srft_ray.provenance' does not fit"):
        minisweagent_to_trajectory(record, source="x.traj.json")
    record = trajectory_to_minisweagent(traj)
    record["srft_ray"]["steps"][0]["labels"] = [{"label": "meh", "source": "critic"}]
    with pytest.raises(DataError, match=r"field 'srft_ray.steps\[0\].labels' is malformed"):
        minisweagent_to_trajectory(record, source="x.traj.json")
