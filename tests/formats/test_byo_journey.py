"""Bring your own trajectories, end to end as the README recipe runs it: `srft import` of
mini-swe-agent 1.x text and 2.x tool-call files, a SWE-agent `.traj` and a messages table, with
resolution from a harness report; `srft critique --store` (rule labels, no engine), `srft
critic-eval`, `srft train --mode srft` (two steps, in this process) and `srft view`."""

from __future__ import annotations

import json
import shutil

from srft_ray.data.store import TrajectoryStore


def write_table(path, tool_traj):
    rows = [
        {"instance_id": "demo__greet-2", "resolved": True, "messages": tool_traj["messages"]},
        {
            "instance_id": "demo__calc-9",
            "resolved": False,
            "messages": json.dumps(
                [
                    {"role": "system", "content": "You fix bugs."},
                    {"role": "user", "content": "add() is off by one."},
                    {"role": "assistant", "content": "Look.\n```bash\ncat calc.py\n```"},
                    {
                        "role": "user",
                        "content": "<returncode>0</returncode>\n<output>\n1\n</output>",
                    },
                    {"role": "assistant", "content": "Run it.\n```bash\npython3 calc.py\n```"},
                ]
            ),
        },
        {"instance_id": "broken", "messages": [{"content": "no role"}]},
    ]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def tiny_model(path, tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_import_critique_train_view(data_dir, tmp_path, tokenizer, smollm_dir, ray_cluster, capsys):
    from srft_ray.critic.critic_eval import main as critic_eval
    from srft_ray.formats.cli import main as srft_io
    from srft_ray.jobs.critique import main as critique
    from srft_ray.jobs.train import main as train
    from srft_ray.present.viewer import main as view

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in (
        "mini_swe_agent_textbased.traj.json",
        "mswea2_toolcalls.traj.json",
        "durations__durations-7.traj",
    ):
        shutil.copy(data_dir / name, inbox / name)
    write_table(
        inbox / "sft.jsonl", json.loads((data_dir / "mswea2_toolcalls.traj.json").read_text())
    )
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps({"resolved_ids": ["demo__greet-1"], "unresolved_ids": ["demo__greet-2"]})
    )
    store = tmp_path / "imported"

    files = [str(p) for p in sorted(inbox.iterdir())]
    assert srft_io(["import", *files, "--out", str(store), "--report", str(report)]) == 1
    out = capsys.readouterr()
    assert "sft.jsonl:row 2: field 'messages[0].role' missing" in out.err  # the rest imported
    trajs = {t.trajectory_id: t for t in TrajectoryStore(store)}
    assert len(trajs) == 5
    # "Submitted" is not resolution: only the report (or a table's own column) decides.
    resolved = sorted(
        (t.instance_id, t.provenance.agent, t.outcome.resolved) for t in trajs.values()
    )
    assert ("demo__greet-1", "mini-swe-agent-1.1", True) in resolved
    assert ("demo__greet-2", "mini-swe-agent-1.1", False) in resolved
    assert ("demo__calc-9", "messages-table", False) in resolved

    labelled = tmp_path / "labelled"
    assert critique(["--store", str(store), "--out", str(labelled), "critic.labels=rules"]) == 0
    labelled_trajs = TrajectoryStore(labelled).read_all()
    assert len(labelled_trajs) == 5
    assert all(s.label_from("rule") for t in labelled_trajs for s in t.steps)

    hand = tmp_path / "hand.jsonl"
    refs = [{"trajectory_id": t.trajectory_id, "step": 0, "label": "good"} for t in labelled_trajs]
    hand.write_text("".join(json.dumps(r) + "\n" for r in refs))
    assert critic_eval(["--store", str(labelled), "--labels", str(hand)]) == 0

    model = tiny_model(tmp_path / "tiny", tokenizer)
    overrides = [
        "train.resources.num_workers=0",
        f"train.model_path={model}",
        f"train.dataset_dirs=[{labelled}]",
        "train.masking.mode=srft",
        "train.max_steps=2",
        "train.masking.max_length=2048",
        "train.tokens_per_micro_batch=2048",
        "train.gradient_checkpointing=false",
        "train.mixed_precision=fp32",
    ]
    assert train(overrides) == 0
    assert "2 steps" in capsys.readouterr().out

    tool_id = next(
        i for i, t in trajs.items() if t.instance_id == "demo__greet-2" and "table" not in i
    )
    assert (
        view(
            [
                str(labelled),
                "--id",
                tool_id,
                "--tokenizer",
                str(smollm_dir),
                "--mode",
                "all",
                "--json",
            ]
        )
        == 0
    )
    rendered = json.loads(capsys.readouterr().out)
    trained = tokenizer.decode(
        [t for t, m in zip(rendered["input_ids"], rendered["loss_mask"]) if m]
    )
    for step in trajs[tool_id].steps:
        for call in step.tool_calls:
            assert call.command in trained
    assert "<returncode>" not in trained
