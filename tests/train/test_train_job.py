"""`srft train` / `python -m srft_ray.jobs.train`: YAML + overrides, clear exit codes."""

from __future__ import annotations

from srft_ray.cli import main as srft


def test_srft_train_in_process_from_yaml_and_overrides(
    tiny_model_dir, labelled_store, tmp_path, capsys
):
    config = tmp_path / "train.yaml"
    config.write_text(
        f"train:\n  resources:\n    num_workers: 0\n  model_path: {tiny_model_dir}\n"
        "  tokens_per_micro_batch: 1024\n  gradient_checkpointing: false\n  max_steps: 1\n"
    )
    code = srft(
        [
            "train",
            "-c",
            str(config),
            f"train.dataset_dirs=[{labelled_store}]",
            f"train.output_dir={tmp_path / 'policy'}",
        ]
    )
    assert code == 0
    assert (tmp_path / "policy" / "model.safetensors").exists()
    assert "[train]  1/1 steps (100%)" in capsys.readouterr().out


def test_srft_train_bad_input_exit_codes(tiny_model_dir, tmp_path, capsys):
    assert srft(["train", "train.no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    args = [f"train.model_path={tiny_model_dir}", f"train.dataset_dirs=[{tmp_path / 'empty'}]"]
    assert srft(["train", "train.resources.num_workers=0", *args]) == 2
    assert "hold no trajectory" in capsys.readouterr().err
