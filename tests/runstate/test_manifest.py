"""Round and run manifests: restart semantics, atomic writes under a real SIGKILL, hash stability."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from synthetic_run import make_trajectory, write_safetensors

from srft_ray.data.model import DataError
from srft_ray.data.store import TrajectoryStore
from srft_ray.runstate.hashing import run_relative_hash
from srft_ray.runstate.manifest import (
    RoundManifest,
    append_train_metrics,
    checkpoint_hash,
    dataset_hash,
    inputs_hash,
    json_hash,
    read_train_metrics,
)
from srft_ray.runstate.run_manifest import RunManifest


def _collect(run_dir, trajs):
    manifest = RoundManifest.load_or_create(run_dir, 0)
    TrajectoryStore(manifest.paths.collected).append(trajs)
    inputs = {"config": "c1"}
    manifest.stage("collect").start(inputs).finish(
        {"trajectories": manifest.paths.collected}, {"num_trajectories": len(trajs)}
    )
    return manifest, inputs


def test_done_stage_is_skipped_only_on_same_inputs(tmp_path):
    import random

    rng = random.Random(1)
    trajs = [make_trajectory(rng, 0, n, labels=False) for n in range(4)]
    manifest, inputs = _collect(tmp_path, trajs)

    reloaded = RoundManifest.load_or_create(tmp_path, 0)  # a restarted driver
    assert reloaded.is_done("collect", inputs_hash(inputs))
    assert not reloaded.is_done("collect", inputs_hash({"config": "c2"}))
    assert not reloaded.is_done("critique", inputs_hash({}))
    rec = reloaded.stages["collect"]
    assert rec.metrics == {"num_trajectories": 4}
    assert rec.outputs["trajectories"]["path"] == "round-000/collected"  # relative: run dir moves
    assert rec.outputs["trajectories"]["hash"] == dataset_hash(manifest.paths.collected)
    assert len(rec.attempts) == 1 and rec.attempts[0]["status"] == "done"
    assert rec.wall_s >= 0 and rec.finished_at >= rec.started_at

    # Critique's input is collect's output hash: new collected data invalidates critique.
    critique_inputs = {"trajectories": reloaded.stage("collect").output_hash("trajectories")}
    reloaded.stage("critique").start(critique_inputs).finish({}, {"num_steps": 3})
    assert reloaded.is_done("critique", inputs_hash(critique_inputs))
    TrajectoryStore(manifest.paths.collected).append([make_trajectory(rng, 0, 99, labels=False)])
    fresh = {"trajectories": dataset_hash(manifest.paths.collected)}
    assert not reloaded.is_done("critique", inputs_hash(fresh))


def test_interrupted_stage_resumes_and_counts_attempts(tmp_path):
    manifest = RoundManifest.load_or_create(tmp_path, 3)
    inputs = {"config": "c1", "model": "m1"}
    manifest.stage("train").start(inputs).heartbeat({"step": 5})
    # the driver dies here: no finish(); a new driver loads the manifest
    restarted = RoundManifest.load_or_create(tmp_path, 3)
    train = restarted.stage("train")
    assert train.record.status == "running" and restarted.status == "running"
    assert not train.is_done(inputs_hash(inputs))
    assert train.should_resume(inputs_hash(inputs))  # same inputs: keep the partial checkpoint
    assert not train.should_resume(inputs_hash({"config": "c2", "model": "m1"}))

    train.start(inputs)
    train.fail(RuntimeError("out of memory"))
    again = RoundManifest.load_or_create(tmp_path, 3).stage("train")
    assert again.record.status == "failed" and "RuntimeError: out of memory" in again.record.error
    assert again.should_resume(inputs_hash(inputs))
    again.start(inputs).finish({}, {"final_loss": 1.5})
    final = RoundManifest.load_or_create(tmp_path, 3).stage("train").record
    assert [a["status"] for a in final.attempts] == ["interrupted", "failed", "done"]
    assert final.error == "" and final.metrics == {"final_loss": 1.5}
    # the interrupted attempt ends at its last heartbeat, not when the new driver came up
    assert final.attempts[0]["ended_at"] == final.attempts[0]["last_seen_at"]


def test_missing_output_means_not_done(tmp_path):
    write_safetensors(tmp_path / "round-000" / "export", seed=0)
    manifest = RoundManifest.load_or_create(tmp_path, 0)
    inputs = {"labelled": "h"}
    manifest.stage("train").start(inputs).finish({"model": manifest.paths.export})
    assert manifest.is_done("train", inputs_hash(inputs))
    shutil.rmtree(manifest.paths.export)
    assert not manifest.is_done("train", inputs_hash(inputs))


def test_misuse_and_bad_files_give_clear_errors(tmp_path):
    manifest = RoundManifest.load_or_create(tmp_path, 0)
    with pytest.raises(RuntimeError, match="finish\\(\\) before start"):
        manifest.stage("collect").finish()
    with pytest.raises(KeyError, match="unknown stage"):
        manifest.stage("colect")
    manifest.path.write_text('{"version": 1, "round": 0, "stages": {"collect": {"staus": 1}}}')
    with pytest.raises(DataError, match="manifest.json: stage 'collect'.*staus"):
        RoundManifest.load_or_create(tmp_path, 0)
    manifest.path.write_text('{"version": 1, "rou')
    with pytest.raises(DataError, match="manifest.json: round manifest is not valid JSON"):
        RoundManifest.load_or_create(tmp_path, 0)


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from srft_ray.runstate.manifest import RoundManifest
    manifest = RoundManifest.load_or_create(sys.argv[1], 0)
    mode = sys.argv[2]
    if mode == "hang-before-rename":
        real_replace = os.replace
        def hang(src, dst):
            open(sys.argv[3], "w").close()  # tell the parent the temp file is fully written
            time.sleep(60)
        os.replace = hang
        manifest.stage("collect").start({"config": "second"})
    elif mode == "writer":  # one of two processes updating different stages of one round
        stage = manifest.stage(sys.argv[3])
        stage.start({"config": sys.argv[3]})
        for i in range(1, 61):
            stage.heartbeat({"i": i})
        stage.finish({}, {"i": 60})
    else:  # rewrite as fast as possible until killed
        stage = manifest.stage("critique")
        stage.start({"config": "loop"})
        i = 0
        while True:
            i += 1
            stage.heartbeat({"i": i, "pad": "x" * (i % 5000)})
    """
)


def _child(*args):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)], env=env)


def test_sigkill_before_rename_leaves_previous_manifest(tmp_path):
    manifest = RoundManifest.load_or_create(tmp_path, 0)
    manifest.stage("collect").start({"config": "first"}).finish({}, {"n": 1})
    before = manifest.path.read_bytes()
    ready = tmp_path / "ready"
    child = _child(tmp_path, "hang-before-rename", ready)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "child did not get there"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    leftovers = list(manifest.path.parent.glob(".manifest.json.tmp-*"))
    assert leftovers, "the killed writer should have left its temp file behind"
    assert json.loads(leftovers[0].read_text())["stages"]["collect"]["inputs"] == {
        "config": "second"
    }
    assert manifest.path.read_bytes() == before
    reloaded = RoundManifest.load_or_create(tmp_path, 0)
    assert reloaded.is_done("collect", inputs_hash({"config": "first"}))


def test_sigkill_at_random_moments_never_tears_the_manifest(tmp_path):
    manifest = RoundManifest.load_or_create(tmp_path, 0)
    for num_attempts, delay in enumerate((0.01, 0.05, 0.13), start=1):
        child = _child(tmp_path, "loop")
        deadline = time.monotonic() + 30
        while len(RoundManifest.load(manifest.path).stages["critique"].attempts) < num_attempts:
            assert child.poll() is None and time.monotonic() < deadline, "child never wrote"
            time.sleep(0.005)
        time.sleep(delay)  # now it is rewriting the manifest in a tight loop: kill it mid-way
        child.send_signal(signal.SIGKILL)
        child.wait()
        reloaded = RoundManifest.load_or_create(tmp_path, 0)  # raises if torn
        assert reloaded.stages["critique"].status == "running"
        assert len(reloaded.stages["critique"].attempts) == num_attempts


def test_two_processes_writing_different_stages_lose_nothing(tmp_path):
    """Collect and critique overlap, possibly as separate jobs: both records must survive."""
    RoundManifest.load_or_create(tmp_path, 0)
    writers = [_child(tmp_path, "writer", name) for name in ("collect", "critique")]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    manifest = RoundManifest.load_or_create(tmp_path, 0)
    for name in ("collect", "critique"):
        rec = manifest.stages[name]
        assert rec.status == "done" and rec.metrics == {"i": 60}, name
        assert rec.inputs == {"config": name}


def test_hashes_are_stable_and_content_based(tmp_path):
    import random

    trajs = [make_trajectory(random.Random(2), 0, n, labels=True) for n in range(3)]
    store_a = TrajectoryStore(tmp_path / "a")
    store_a.append(trajs)
    h = dataset_hash(store_a.path)
    store_a.mark_complete()
    (store_a.path / ".tmp-part-000009.parquet.123").write_bytes(b"half")
    assert dataset_hash(store_a.path) == h  # markers and temp files are not data
    shutil.copytree(store_a.path, tmp_path / "elsewhere")
    assert dataset_hash(tmp_path / "elsewhere") == h  # location does not matter
    store_a.append([make_trajectory(random.Random(3), 0, 50, labels=True)])
    assert dataset_hash(store_a.path) != h

    write_safetensors(tmp_path / "m1", seed=0)
    write_safetensors(tmp_path / "m2", seed=0)
    write_safetensors(tmp_path / "m3", seed=1)
    (tmp_path / "m2" / "config.json").write_text("{}")  # not the architecture notes
    assert checkpoint_hash(tmp_path / "m1") == checkpoint_hash(tmp_path / "m2")
    assert checkpoint_hash(tmp_path / "m1") != checkpoint_hash(tmp_path / "m3")
    with pytest.raises(DataError, match="no \\*.safetensors"):
        checkpoint_hash(tmp_path / "a")

    assert inputs_hash({"a": "1", "b": "2"}) == inputs_hash({"b": "2", "a": "1"})
    # a stage's own paths are keyed relative to its run: a copied run keeps its hashes
    here, there = tmp_path / "run", tmp_path / "copy"
    config = {"out": f"{here}/round-000/export", "data": [str(here)], f"{here}/s": "/models/x"}
    moved = {"out": f"{there}/round-000/export", "data": [str(there)], f"{there}/s": "/models/x"}
    assert run_relative_hash(config, here) == run_relative_hash(moved, there)
    assert run_relative_hash(config, here) != run_relative_hash({**config, "out": "x"}, here)
    assert run_relative_hash({"out": f"{here}x/a"}, here) == json_hash({"out": f"{here}x/a"})
    # pinned value: changing the hash recipe would silently redo every finished stage
    assert json_hash({"b": [1, 2], "a": "x"}) == hashlib.sha256(b'{"a":"x","b":[1,2]}').hexdigest()
    code = "from srft_ray.runstate.manifest import dataset_hash; import sys; print(dataset_hash(sys.argv[1]))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "elsewhere")],
        env={**os.environ, "PYTHONHASHSEED": "123"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == h  # same in another process with another hash seed


def test_checkpoint_hash_covers_tokenizer_and_chat_template(tmp_path):
    # Same weights, another tokenizer or chat template: another policy, so stages must rerun.
    model = tmp_path / "m"
    write_safetensors(model, seed=0)
    files = {
        "tokenizer.json": '{"model": {"vocab": {"a": 0}}}',
        "tokenizer_config.json": '{"chat_template": "{{ messages }}"}',
        "chat_template.jinja": "{% for m in messages %}{{ m.content }}{% endfor %}",
        "special_tokens_map.json": '{"eos_token": "<|im_end|>"}',
    }
    for name, text in files.items():
        (model / name).write_text(text)
    before = checkpoint_hash(model)
    for name, text in files.items():
        (model / name).write_text(text + " ")
        assert checkpoint_hash(model) != before, f"{name} is not covered"
        (model / name).write_text(text)
    assert checkpoint_hash(model) == before
    (model / "README.md").write_text("notes")  # not part of the policy
    (model / "trainer_state.json").write_text("{}")
    assert checkpoint_hash(model) == before
    (model / "model.safetensors").unlink()
    with pytest.raises(DataError, match="no \\*.safetensors"):
        checkpoint_hash(model)  # a tokenizer alone is not a checkpoint


def test_run_manifest_records_config_changes_and_finds_rounds(tmp_path):
    run = RunManifest.load_or_create(tmp_path, {"rounds": 2})
    run.round(0)
    RoundManifest.load_or_create(tmp_path, 1)  # a crash before run.json listed it
    again = RunManifest.load_or_create(tmp_path, {"rounds": 2})
    assert again.round_indices() == [0, 1]
    assert again.set_config({"rounds": 3}) is True
    reread = RunManifest.load(tmp_path)
    assert reread.config == {"rounds": 3} and len(reread.data["config_history"]) == 1
    with pytest.raises(DataError, match="not a run directory"):
        RunManifest.load(tmp_path / "nope")


def test_train_metrics_tolerate_a_torn_tail_and_resume_duplicates(tmp_path):
    path = tmp_path / "train" / "metrics.jsonl"
    row = {"lr": 1e-5, "tokens_per_s": 10.0, "trained_tokens": 5}
    for step, loss in ((1, 3.0), (2, 2.0), (2, 2.5), (3, 1.0)):
        append_train_metrics(path, {"step": step, "loss": loss, **row})
    with open(path, "a") as fh:
        fh.write('{"step": 4, "lo')  # crash mid-append
    records = read_train_metrics(path)
    assert [(r["step"], r["loss"]) for r in records] == [(1, 3.0), (2, 2.5), (3, 1.0)]
    with pytest.raises(DataError, match="lacks \\['loss'"):
        append_train_metrics(path, {"step": 5, **row})
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    with pytest.raises(DataError, match="metrics.jsonl:2: not a JSON object"):
        read_train_metrics(path)


def test_train_metrics_resume_appends_after_a_torn_line(tmp_path):
    path = tmp_path / "train" / "metrics.jsonl"
    row = {"lr": 1e-5, "tokens_per_s": 10.0, "trained_tokens": 5}
    append_train_metrics(path, {"step": 1, "loss": 3.0, **row})
    with open(path, "a") as fh:
        fh.write('{"step": 2, "lo')  # the first run dies mid-append
    for step, loss in ((2, 2.0), (3, 1.0)):  # the resumed run redoes step 2, then goes on
        append_train_metrics(path, {"step": step, "loss": loss, **row})
    assert [(r["step"], r["loss"]) for r in read_train_metrics(path)] == [
        (1, 3.0),
        (2, 2.0),
        (3, 1.0),
    ]
    assert path.read_text().splitlines()[2].startswith('{"loss": 2.0')  # a line of its own
