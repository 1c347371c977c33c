"""The trajectory store: Parquet round-trips exactly, appends are atomic and never duplicate."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pyarrow.parquet as pq
import pytest

from srft_ray.data.model import (
    DataError,
    Outcome,
    Provenance,
    Step,
    StepLabel,
    Task,
    Trajectory,
)
from srft_ray.data.store import TRAJECTORY_SCHEMA, TrajectoryStore


def make_traj(i: int) -> Trajectory:
    return Trajectory(
        trajectory_id=f"0/task-{i}/0",
        instance_id=f"task-{i}",
        system_prompt="system ✓",
        task_prompt=f"fix bug {i}\nsecond line «ü»",
        steps=[
            Step(
                index=0,
                assistant="THOUGHT\n```bash\nls\n```",
                token_ids=[1, 2, 49151],
                logprobs=[-0.25, -1e-9, -12.5],
                command="ls",
                observation="a.py\nb.py",
                returncode=0,
                end_reason="exit",
                model_seconds=0.5,
                exec_seconds=0.04,
                labels=[
                    StepLabel(label="good", source="scripted"),
                    StepLabel(
                        label="bad",
                        source="critic",
                        confidence=0.73,
                        model="SmolLM2",
                        prompt_version="per_step/v1",
                        rationale="wrong file",
                    ),
                ],
            ),
            Step(index=1, assistant="no command here", end_reason="format_error"),
        ],
        outcome=Outcome(
            exit_status="submitted",
            patch="diff --git a/a.py b/a.py\n",
            resolved=i % 2 == 0,
            test_results={"test_a": "PASSED", "test_b": "FAILED"},
        ),
        provenance=Provenance(
            policy_model="smollm2",
            round=3,
            sampling_params={"temperature": 0.7, "seed": i},
            config_hash="abc",
            created_at=1.5,
        ),
        extra={"note": [1, 2]},
    )


def test_round_trip_is_exact(tmp_path):
    store = TrajectoryStore(tmp_path / "s")
    trajs = [make_traj(i) for i in range(5)]
    assert store.append(trajs[:2]) == 2
    assert store.append(trajs[2:]) == 3
    assert TrajectoryStore(tmp_path / "s").read_all() == trajs
    # A part is a plain Parquet file with the declared schema, readable by any tool.
    table = pq.read_table(store.parts()[0])
    assert table.schema.equals(TRAJECTORY_SCHEMA, check_metadata=False)
    assert table.num_rows == 2


def test_ids_are_never_written_twice(tmp_path):
    store = TrajectoryStore(tmp_path / "s")
    assert store.append([make_traj(0), make_traj(0), make_traj(1)]) == 2
    reopened = TrajectoryStore(tmp_path / "s")  # a resumed run sees what is on disk
    assert reopened.append([make_traj(1), make_traj(2)]) == 1
    assert [t.trajectory_id for t in reopened.read_all()] == [
        "0/task-0/0",
        "0/task-1/0",
        "0/task-2/0",
    ]


def test_a_crash_mid_write_loses_only_the_batch_in_flight(tmp_path):
    path = tmp_path / "s"
    TrajectoryStore(path).append([make_traj(0)])
    # A writer killed while writing leaves a temporary file; readers ignore it.
    script = (
        "import os, sys, time\n"
        "from srft_ray.data.store import TrajectoryStore\n"
        f"sys.path.insert(0, {str(os.path.dirname(__file__))!r})\n"
        "from test_store import make_traj\n"
        "import pyarrow.parquet as pq\n"
        "real = pq.write_table\n"
        "def slow(table, where, **kw):\n"
        "    real(table, where, **kw)\n"
        "    print('written', flush=True); time.sleep(60)\n"
        "pq.write_table = slow\n"
        f"TrajectoryStore({str(path)!r}).append([make_traj(1)])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    proc.kill()
    proc.wait()
    assert any(p.name.startswith(".tmp-") for p in path.iterdir())
    store = TrajectoryStore(path)
    assert [t.trajectory_id for t in store.read_all()] == ["0/task-0/0"]
    assert store.append([make_traj(1)]) == 1  # the lost batch is simply written again


def test_follow_streams_parts_until_complete(tmp_path):
    store = TrajectoryStore(tmp_path / "s")

    def produce():
        for i in range(3):
            store.append([make_traj(i)])
        store.mark_complete()

    thread = threading.Thread(target=produce)
    thread.start()
    seen = [t.trajectory_id for t in TrajectoryStore(tmp_path / "s").follow(poll_s=0.01)]
    thread.join()
    assert seen == [f"0/task-{i}/0" for i in range(3)]


def test_unreadable_part_names_the_file(tmp_path):
    store = TrajectoryStore(tmp_path / "s")
    (store.path / "part-000000.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="part-000000.parquet"):
        store.read_all()


def test_task_rows_parse_and_bad_rows_name_the_field():
    row = {
        "instance_id": "o__r-1",
        "repo": "o/r",
        "base_commit": "abc",
        "problem_statement": "p",
        "FAIL_TO_PASS": '["t1"]',
        "PASS_TO_PASS": [],
        "version": 1.0,
        "custom": "kept",
    }
    task = Task.from_row(row)
    assert (
        task.fail_to_pass == ["t1"] and task.version == "1.0" and task.extra == {"custom": "kept"}
    )
    assert Task.from_row(task.to_row()) == task
    with pytest.raises(DataError, match="'FAIL_TO_PASS'"):
        Task.from_row({**row, "FAIL_TO_PASS": "[not json"})
    with pytest.raises(DataError, match="'base_commit'"):
        Task.from_row({**row, "base_commit": ""})
    with pytest.raises(DataError, match="label"):
        StepLabel(label="meh", source="critic")


def test_parts_written_before_tool_calls_still_read(tmp_path):
    """Schema 1 parts (no tool calls, tools or observation template) read with those empty."""
    import pyarrow as pa

    from srft_ray.data.store import STEP_TYPE, trajectory_to_record

    step_v1 = pa.struct([f for f in STEP_TYPE if f.name not in ("tool_calls", "output")])
    fields = [
        pa.field("steps", pa.list_(step_v1)) if f.name == "steps" else f
        for f in TRAJECTORY_SCHEMA
        if f.name not in ("tools", "observation_template")
    ]
    v1 = pa.schema(fields, metadata={"srft_ray.schema_version": "1"})
    record = trajectory_to_record(make_traj(0))
    record["extra"] = (
        '{"tool_calls": {"0": [{"id": "c1", "function": {"name": "bash", "arguments": "{\\"command\\": \\"ls\\"}"}}]}}'
    )
    store = TrajectoryStore(tmp_path)
    pq.write_table(pa.Table.from_pylist([record], schema=v1), tmp_path / "part-000000.parquet")
    (old,) = store.read_all()
    assert old.steps[0].labels == make_traj(0).steps[0].labels
    assert old.observation_template == "" and old.tools == []
    assert old.steps[0].tool_calls[0].command == "ls"  # kept in extra by the old importer
    store.append([make_traj(1)])
    assert {t.trajectory_id for t in store} == {"0/task-0/0", "0/task-1/0"}


def test_stores_written_with_good_bad_labels_read_bad_as_mistake(tmp_path):
    """Before the paper's four kinds a step was good | bad | unknown; "bad" reads as mistake."""
    import pyarrow as pa

    from srft_ray.data.store import trajectory_to_record

    record = trajectory_to_record(make_traj(0))
    labels = record["steps"][0]["labels"]
    labels[1]["label"] = "bad"  # what an old writer put in the column
    labels.append({**labels[1], "label": "unknown", "source": "rule"})
    table = pa.Table.from_pylist([record], schema=TRAJECTORY_SCHEMA)
    assert table.column("steps").to_pylist()[0][0]["labels"][1]["label"] == "bad"
    pq.write_table(table, tmp_path / "part-000000.parquet")
    (old,) = TrajectoryStore(tmp_path).read_all()
    assert [(lab.label, lab.source) for lab in old.steps[0].labels] == [
        ("good", "scripted"),
        ("mistake", "critic"),
        ("unknown", "rule"),
    ]
    assert old.steps[0].labels[1].rationale == "wrong file"
    # Old code that still says "bad" builds the same label; the new kinds round-trip as written.
    assert StepLabel(label="bad", source="critic") == StepLabel(label="mistake", source="critic")
    kinds = ["good", "unnecessary", "mistake", "recover", "unknown"]
    new = make_traj(1)
    new.steps[1].labels = [StepLabel(label=kind, source="replay") for kind in kinds]
    store = TrajectoryStore(tmp_path / "new")
    store.append([new])
    assert [lab.label for lab in store.read_all()[0].steps[1].labels] == kinds
