"""train_loop end to end on CPU: FSDP2 over 2 ranks == 1 rank, exact resume, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import make_trajectory, tiny_config, write_store

from srft_ray.masking import MaskingConfig
from srft_ray.train.data import TrainDataError
from srft_ray.train.train_loop import train_loop

HERE = Path(__file__).parent
RFT = MaskingConfig(mode="rft", max_length=None)


def _weights(folder: str) -> dict[str, torch.Tensor]:
    return load_file(str(Path(folder) / "model.safetensors"))


def _assert_same_weights(a: str, b: str, atol: float) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=atol), (key, (wa[key] - wb[key]).abs().max())


@pytest.mark.slow
def test_two_rank_fsdp_equals_single_rank(tiny_model_dir, labelled_store, tmp_path):
    """2 ranks x 1 micro-batch (torchrun, gloo) == 1 rank x 2 accumulated micro-batches."""
    single = tiny_config(
        tiny_model_dir,
        labelled_store,
        tmp_path,
        grad_accum_steps=2,
        max_steps=2,
        output_dir=str(tmp_path / "single"),
    )
    ref = train_loop(single)
    multi = dataclasses.replace(single, grad_accum_steps=1, output_dir=str(tmp_path / "multi"))
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(dataclasses.asdict(multi)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(port),
            str(HERE / "torchrun_worker.py"),
            str(cfg_file),
            str(tmp_path / "out.json"),
        ],
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads((tmp_path / "out.json").read_text())
    assert len(got["losses"]) == len(ref.losses) == 2
    assert got["losses"] == pytest.approx(ref.losses, rel=1e-5)
    _assert_same_weights(str(tmp_path / "single"), str(tmp_path / "multi"), atol=1e-5)
    # the update really moved the weights (the comparison is not between two untouched models)
    start = _weights(str(tiny_model_dir))
    moved = _weights(str(tmp_path / "single"))["model.embed_tokens.weight"]
    assert not torch.allclose(start["model.embed_tokens.weight"], moved, atol=1e-4)


@pytest.mark.slow
def test_resume_reproduces_uninterrupted_curve(tiny_model_dir, labelled_store, tmp_path):
    make = lambda name, **kw: tiny_config(  # noqa: E731
        tiny_model_dir,
        labelled_store,
        tmp_path,
        max_steps=4,
        checkpoint_every=2,
        checkpoint_dir=str(tmp_path / name / "ckpt"),
        output_dir=str(tmp_path / name / "out"),
        gradient_checkpointing=True,
        **kw,
    )
    full = train_loop(make("full"))
    stopped = train_loop(make("resumed", stop_after_steps=2))
    assert stopped.stopped_early and len(stopped.losses) == 2
    assert not (tmp_path / "resumed" / "out").exists()
    resumed = train_loop(make("resumed"))
    assert resumed.first_step == 2
    assert stopped.losses + resumed.losses == pytest.approx(full.losses, rel=1e-6)
    _assert_same_weights(str(tmp_path / "full" / "out"), str(tmp_path / "resumed" / "out"), 1e-6)


def test_rft_without_resolved_trajectory_is_a_clear_error(tiny_model_dir, tmp_path):
    store = write_store(
        tmp_path / "unresolved",
        [make_trajectory(i, resolved=False, labels=["good", "good"]) for i in range(3)],
    )
    with pytest.raises(TrainDataError, match="none of 3 trajectories has a trainable token"):
        train_loop(tiny_config(tiny_model_dir, store, tmp_path, masking=RFT))


def test_empty_and_missing_datasets_are_errors(tiny_model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainDataError, match="hold no trajectory"):
        train_loop(tiny_config(tiny_model_dir, tmp_path / "empty", tmp_path))
    with pytest.raises(TrainDataError, match="does not exist"):
        train_loop(tiny_config(tiny_model_dir, tmp_path / "nope", tmp_path))


def test_tokenizer_model_mismatch_is_an_error(tiny_model_dir, labelled_store, tmp_path):
    from transformers import AutoModelForCausalLM, LlamaConfig

    small = LlamaConfig.from_pretrained(tiny_model_dir)
    small.vocab_size = 1000
    AutoModelForCausalLM.from_config(small).save_pretrained(tmp_path / "small")
    (tmp_path / "small" / "tokenizer.json").symlink_to(tiny_model_dir / "tokenizer.json")
    (tmp_path / "small" / "tokenizer_config.json").symlink_to(
        tiny_model_dir / "tokenizer_config.json"
    )
    with pytest.raises(ValueError, match="tokenizer and model do not match"):
        train_loop(tiny_config(tmp_path / "small", labelled_store, tmp_path))


def test_too_long_and_untrainable_are_counted_skips(tiny_model_dir, labelled_store, tmp_path):
    """RFT drops the 6 unresolved trajectories, a 300-token row drops the longest: all counted."""
    result = train_loop(
        tiny_config(
            tiny_model_dir,
            labelled_store,
            tmp_path,
            masking=RFT,
            tokens_per_micro_batch=300,
            max_steps=1,
        )
    )
    data = result.data
    assert data["num_trajectories"] == 12
    assert (
        data["num_dropped_untrainable"] + data["num_dropped_too_long"] + data["num_documents"] == 12
    )
    assert data["num_dropped_too_long"] >= 1 and data["num_dropped_untrainable"] >= 1
    assert len(result.losses) == 1


def test_an_epoch_of_the_collected_data_is_as_many_steps_for_rft_as_for_all(
    tiny_model_dir, labelled_store, tmp_path
):
    """RFT keeps the 6 resolved of 12 trajectories: one epoch of its own documents is fewer
    steps than mode all's, one epoch of the collected data (epochs_of="collected") the same."""
    budget = dict(max_steps=0, num_epochs=1.0, tokens_per_micro_batch=400)

    def steps(mode: str, epochs_of: str) -> int:
        masking = MaskingConfig(mode=mode, max_length=None)
        config = tiny_config(tiny_model_dir, labelled_store, tmp_path, masking=masking, **budget)
        return train_loop(dataclasses.replace(config, epochs_of=epochs_of)).num_steps

    everything = steps("all", "trained")
    assert steps("all", "collected") == everything
    assert steps("rft", "collected") == everything > steps("rft", "trained")


def test_frozen_layers_stay_as_loaded_and_the_rest_train(tiny_model_dir, labelled_store, tmp_path):
    """freeze_layers=1 with frozen embeddings: layer 0 and the embedding are bit-identical to
    the starting weights, every later layer moved; more layers than the model has is an error."""
    out = tmp_path / "export"
    train_loop(
        tiny_config(
            tiny_model_dir,
            labelled_store,
            tmp_path,
            freeze_embeddings=True,
            freeze_layers=1,
            max_steps=2,
            output_dir=str(out),
            export_dtype="float32",
        )
    )
    before, after = _weights(str(tiny_model_dir)), _weights(str(out))
    frozen = [k for k in after if k.startswith("model.layers.0.") or "embed_tokens" in k]
    trained = [k for k in after if k.startswith("model.layers.1.") and k.endswith("proj.weight")]
    assert frozen and trained
    for key in frozen:
        assert torch.equal(before[key].float(), after[key]), key
    for key in trained:
        assert not torch.equal(before[key].float(), after[key]), key
    with pytest.raises(ValueError, match="freeze_layers=99"):
        train_loop(tiny_config(tiny_model_dir, labelled_store, tmp_path, freeze_layers=99))
