"""critic-eval metrics against numbers computed by hand."""

import json

import pytest

from srft_ray.critic.critic_eval import evaluate, main, reference_from_trajectories
from srft_ray.data.model import DataError, StepLabel
from srft_ray.data.store import TrajectoryStore

from .trajectories import make_trajectory


def _labelled():
    # Truth (scripted): steps 2 and 3 mistakes, 5 a recover. Rules fire on 2, 3, 4 (test_rules).
    traj = make_trajectory("e")
    per_step = {0: "unnecessary", 2: "mistake", 4: "bad", 5: "mistake", 8: "unknown"}
    for step in traj.steps:
        step.labels.append(
            StepLabel(
                label=per_step.get(step.index, "good"),
                source="critic",
                model="tiny",
                prompt_version="per_step/v1",
            )
        )
        step.labels.append(
            StepLabel(label="good", source="critic", model="tiny", prompt_version="single_pass/v1")
        )
    return traj


EXPECTED = {
    # (version, mode): (TP, FP, FN, TN, unknown, precision, recall, F1, accuracy)
    ("per_step/v1", "critic"): (1, 2, 1, 5, 1, 1 / 3, 1 / 2, 0.4, 6 / 9),
    ("per_step/v1", "critic_and_rules"): (1, 1, 1, 6, 0, 0.5, 0.5, 0.5, 7 / 9),
    ("per_step/v1", "critic_or_rules"): (2, 2, 0, 5, 1, 0.5, 1.0, 2 / 3, 7 / 9),
    ("-", "rules"): (2, 1, 0, 6, 0, 2 / 3, 1.0, 0.8, 8 / 9),
    ("single_pass/v1", "critic"): (0, 0, 2, 7, 0, 0.0, 0.0, 0.0, 7 / 9),
}


def test_metrics_match_hand_computed_numbers():
    traj = _labelled()
    rows = {
        (m.prompt_version, m.mode): m for m in evaluate([traj], reference_from_trajectories([traj]))
    }
    for key, (tp, fp, fn, tn, unk, p, r, f1, acc) in EXPECTED.items():
        m = rows[key]
        assert m.critic_model == ("-" if key[1] == "rules" else "tiny"), key
        assert (m.tp, m.fp, m.fn, m.tn, m.num_unknown, m.num_steps) == (tp, fp, fn, tn, unk, 9), key
        assert (m.precision, m.recall, m.f1, m.accuracy) == pytest.approx((p, r, f1, acc)), key
    assert len(rows) == 7  # rules + 3 modes for each of the 2 prompt versions


def test_confusion_matrix_and_kind_counts_by_hand():
    traj = _labelled()
    rows = {
        (m.prompt_version, m.mode): m for m in evaluate([traj], reference_from_trajectories([traj]))
    }
    critic = rows[("per_step/v1", "critic")]
    # reference kind -> predicted kind (good, unnecessary, mistake, recover, unknown)
    assert critic.confusion == {
        "good": {"good": 3, "unnecessary": 1, "mistake": 1, "recover": 0, "unknown": 1},
        "unnecessary": {"good": 0, "unnecessary": 0, "mistake": 0, "recover": 0, "unknown": 0},
        "mistake": {"good": 1, "unnecessary": 0, "mistake": 1, "recover": 0, "unknown": 0},
        "recover": {"good": 0, "unnecessary": 0, "mistake": 1, "recover": 0, "unknown": 0},
    }
    assert critic.reference_kinds == {"good": 6, "unnecessary": 0, "mistake": 2, "recover": 1}
    kinds = {"good": 4, "unnecessary": 1, "mistake": 3, "recover": 0, "unknown": 1}
    assert critic.predicted_kinds == kinds
    # The rules only say mistake or good: the recover step (a revert) is not flagged.
    assert rows[("-", "rules")].confusion["recover"] == {**dict.fromkeys(kinds, 0), "good": 1}
    assert rows[("-", "rules")].predicted_kinds == {
        **dict.fromkeys(kinds, 0),
        "good": 6,
        "mistake": 3,
    }


def test_cli_with_store_and_hand_labelled_jsonl(tmp_path, capsys):
    store = TrajectoryStore(tmp_path / "labelled")
    store.append([_labelled()])
    out = tmp_path / "eval.json"
    assert main(["--store", str(store.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "per_step/v1" in printed
    # The text output ends with the matrix, one line per row, a group per reference kind.
    matrix = printed[printed.index("confusion:") :].splitlines()
    assert "g=good u=unnecessary m=mistake r=recover ?=unknown" in matrix[0]
    line = next(ln for ln in matrix if "per_step/v1" in ln and " critic " in ln)
    assert [g.split() for g in line.split("critic ", 1)[1].split("|")] == [
        ["3", "1", "1", "0", "1"],
        ["0"] * 5,
        ["1", "0", "1", "0", "0"],
        ["0", "0", "1", "0", "0"],
    ]
    rows = {(r["prompt_version"], r["mode"]): r for r in json.loads(out.read_text())}
    critic = rows[("per_step/v1", "critic")]
    assert critic["f1"] == pytest.approx(0.4)
    assert critic["confusion"]["recover"]["mistake"] == 1
    assert critic["reference_kinds"]["mistake"] == 2 and critic["predicted_kinds"]["unknown"] == 1
    # A hand-labelled file in the four kinds overrides the scripted labels: only its steps
    # count, and a legacy "bad" reads as mistake.
    hand = tmp_path / "hand.jsonl"
    hand.write_text(
        '{"trajectory_id": "e", "step": 4, "label": "bad"}\n'
        '{"trajectory_id": "e", "step": 5, "label": "recover"}\n'
        '{"trajectory_id": "e", "step": 0, "label": "unnecessary"}\n'
    )
    assert main(["--store", str(store.path), "--labels", str(hand), "--out", str(out)]) == 0
    row = {(r["prompt_version"], r["mode"]): r for r in json.loads(out.read_text())}[
        ("per_step/v1", "critic")
    ]
    assert (row["num_steps"], row["tp"], row["fp"], row["tn"]) == (3, 1, 1, 1)
    assert row["reference_kinds"] == {"good": 0, "unnecessary": 1, "mistake": 1, "recover": 1}
    assert row["confusion"]["unnecessary"]["unnecessary"] == 1
    assert row["confusion"]["recover"]["mistake"] == 1
    # --unknown-as moves predicted unknowns into the binary counts, never out of the matrix.
    hand.write_text('{"trajectory_id": "e", "step": 8, "label": "good"}\n')
    args = ["--store", str(store.path), "--labels", str(hand), "--out", str(out)]
    assert main([*args, "--unknown-as", "bad"]) == 0
    row = {(r["prompt_version"], r["mode"]): r for r in json.loads(out.read_text())}[
        ("per_step/v1", "critic")
    ]
    assert (row["fp"], row["num_unknown"], row["confusion"]["good"]["unknown"]) == (1, 1, 1)
    hand.write_text('{"trajectory_id": "e", "step": "4", "label": "bad"}\n')
    with pytest.raises(DataError, match=r"hand.jsonl:1: field 'step'"):
        main(["--store", str(store.path), "--labels", str(hand)])
    hand.write_text('{"trajectory_id": "e", "step": 4, "label": "meh"}\n')
    with pytest.raises(DataError, match=r"hand.jsonl:1: field 'label' must be one of good, "):
        main(["--store", str(store.path), "--labels", str(hand)])


def test_two_critics_in_one_store_are_scored_apart(tmp_path, capsys):
    # A second critic re-labelled the same store with the same prompt version: "always mistake".
    traj = _labelled()
    for step in traj.steps:
        step.labels.append(
            StepLabel(label="mistake", source="critic", model="big", prompt_version="per_step/v1")
        )
    store = TrajectoryStore(tmp_path / "labelled")
    store.append([traj])
    out = tmp_path / "eval.json"
    assert main(["--store", str(store.path), "--out", str(out)]) == 0
    assert "big" in capsys.readouterr().out
    rows = {
        (r["critic_model"], r["prompt_version"], r["mode"]): r for r in json.loads(out.read_text())
    }
    tiny, big = rows[("tiny", "per_step/v1", "critic")], rows[("big", "per_step/v1", "critic")]
    expected = EXPECTED[("per_step/v1", "critic")][:5]
    assert (tiny["tp"], tiny["fp"], tiny["fn"], tiny["tn"], tiny["num_unknown"]) == expected
    assert (big["tp"], big["fp"], big["fn"], big["tn"], big["num_steps"]) == (2, 7, 0, 0, 9)
    assert len(rows) == 10  # rules + 3 modes for tiny x 2 versions and for big x 1


def test_replay_and_its_combinations_are_scored_by_hand():
    traj = _labelled()
    replay = {2: "mistake", 3: "mistake", 5: "recover", 7: "unknown"}
    for step in traj.steps:
        kind = replay.get(step.index, "good")
        step.labels.append(StepLabel(label=kind, source="replay", model="replay/v1"))
    rows = {
        (m.critic_model, m.prompt_version, m.mode): m
        for m in evaluate([traj], reference_from_trajectories([traj]))
    }
    alone = rows[("replay/v1", "-", "replay")]
    assert (alone.tp, alone.fp, alone.fn, alone.tn, alone.num_unknown) == (2, 0, 0, 7, 1)
    # Consensus with the per_step critic agrees on a mistake only at step 2; steps 0, 3, 4, 5,
    # 7 and 8 disagree (or one side has no verdict) and are unknown.
    both = rows[("tiny", "per_step/v1", "consensus")]
    assert (both.tp, both.fp, both.fn, both.tn, both.num_unknown) == (1, 0, 1, 7, 6)
    # replay_else_critic: replay's kind, the critic's (good) where replay had none (step 7).
    fallback = rows[("tiny", "per_step/v1", "replay_else_critic")]
    assert (fallback.tp, fallback.fp, fallback.fn, fallback.num_unknown) == (2, 0, 0, 0)
