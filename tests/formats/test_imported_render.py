"""Imported trajectories are trainable: they render through the real SmolLM2 chat template."""

from __future__ import annotations

from srft_ray.formats import import_files
from srft_ray.masking import render_trajectory


def test_imported_trajectories_train_exactly_their_assistant_text(data_dir, tokenizer):
    report = import_files(
        [data_dir / "mini_swe_agent_textbased.traj.json", data_dir / "durations__durations-7.traj"]
    )
    assert len(report.trajectories) == 2 and not report.errors
    for traj in report.trajectories:
        rendered = render_trajectory(traj, tokenizer, mode="all")
        assert rendered.num_retokenized_steps == 0 and rendered.num_prefix_mismatches == 0
        for step in traj.steps:
            trained = [
                tok
                for tok, mask, idx in zip(
                    rendered.input_ids, rendered.loss_mask, rendered.step_index
                )
                if mask and idx == step.index
            ]
            # Each step trains its own text plus the end-of-turn token, nothing else.
            assert tokenizer.decode(trained) == step.assistant + "<|im_end|>"
