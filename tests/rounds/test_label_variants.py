"""Label variants of the ablation: each source's labels, and corruption to a target F1."""

from __future__ import annotations

import random

import pytest

from srft_ray.data.model import Outcome, Step, StepLabel, Trajectory
from srft_ray.rounds.label_variants import corrupt, label_f1, variant_labels, with_labels


def _traj() -> Trajectory:
    def step(i, command, returncode, truth, critic, **kw):
        labels = [StepLabel(label=truth, source="scripted")]
        if critic:
            labels.append(StepLabel(label=critic, source="critic", model="smol"))
            labels.append(
                StepLabel(label="mistake", source="critic", model="combined:critic_or_rules")
            )
        return Step(
            index=i,
            assistant=f"THOUGHT\n```bash\n{command}\n```",
            command=command,
            returncode=returncode,
            end_reason=kw.get("end", "exit"),
            labels=labels,
            observation="<returncode>0</returncode>",
        )

    steps = [
        step(0, "cat missing.py", 1, "mistake", "good"),
        step(1, "grep -rn 'def f' .", 0, "good", "bad"),  # a legacy critic verdict
        step(2, "nl -ba a.py | sed -n '1,9p'", 0, "unnecessary", "unnecessary"),
        step(3, "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", 0, "good", None),
    ]
    return Trajectory(
        trajectory_id="t",
        instance_id="i",
        system_prompt="s",
        task_prompt="p",
        steps=steps,
        outcome=Outcome(resolved=True),
    )


def test_each_variant_reads_its_own_source():
    traj = _traj()
    assert variant_labels(traj, "scripted") == ["mistake", "good", "unnecessary", "good"]
    assert variant_labels(traj, "rules") == ["mistake", "good", "good", "good"]  # failed command
    # the raw critic verdict, not the stored combined one; no verdict on the last step
    assert variant_labels(traj, "critic") == ["good", "mistake", "unnecessary", "unknown"]
    assert variant_labels(traj, "critic_or_rules") == [
        "mistake",
        "mistake",
        "unnecessary",
        "unknown",
    ]
    with pytest.raises(ValueError, match="unknown label variant"):
        variant_labels(traj, "oracle")
    with pytest.raises(ValueError, match="no replay labels"):
        variant_labels(traj, "replay")
    for step, kind in zip(traj.steps, ["mistake", "good", "good", "unknown"]):
        step.labels.append(StepLabel(label=kind, source="replay", model="replay/v1"))
    assert variant_labels(traj, "replay") == ["mistake", "good", "good", "unknown"]
    # replay's kind where it decided, else the raw critic's (no verdict on the last step)
    assert variant_labels(traj, "replay_else_critic") == ["mistake", "good", "good", "unknown"]
    # only where both agree: step 0 (critic good), 1 (critic mistake), 2 (unnecessary) disagree
    assert variant_labels(traj, "consensus") == ["unknown", "unknown", "unknown", "unknown"]


def test_with_labels_leaves_exactly_one_label_per_step():
    kinds = ["good", "mistake", "recover", "good"]
    out = with_labels(_traj(), kinds, source="rule", model="ablate:x")
    assert [[(lab.label, lab.source) for lab in s.labels] for s in out.steps] == [
        [("good", "rule")],
        [("mistake", "rule")],
        [("recover", "rule")],
        [("good", "rule")],
    ]


@pytest.mark.parametrize("target", [1.0, 0.74, 0.5])
def test_corruption_hits_the_target_f1(target):
    rng = random.Random(3)
    kinds = ["mistake", "good", "good", "unnecessary", "recover"]
    truth = [[rng.choice(kinds) for _ in range(8)] for _ in range(60)]
    corrupted, achieved = corrupt(truth, target, seed=1)
    assert achieved == pytest.approx(label_f1(truth, corrupted))
    assert achieved == pytest.approx(target, abs=0.02)
    num_mistakes = sum(lab == "mistake" for steps in truth for lab in steps)
    assert sum(lab == "mistake" for steps in corrupted for lab in steps) == num_mistakes  # P = R
    # Only mistake <-> good flips: unnecessary and recover steps keep their kind.
    for t_steps, c_steps in zip(truth, corrupted):
        for t, c in zip(t_steps, c_steps):
            assert t == c or {t, c} == {"mistake", "good"}
    assert corrupt(truth, target, seed=1) == (corrupted, achieved)  # seeded
    legacy = [["bad" if lab == "mistake" else lab for lab in steps] for steps in truth]
    assert corrupt(legacy, target, seed=1) == (corrupted, achieved)  # "bad" reads as mistake


def test_label_f1_by_hand():
    truth = [["mistake", "mistake", "good", "unnecessary"]]
    assert label_f1(truth, [["mistake", "good", "mistake", "unnecessary"]]) == pytest.approx(0.5)
    assert label_f1(truth, [["bad", "recover", "unnecessary", "mistake"]]) == pytest.approx(0.5)
    assert label_f1(truth, truth) == 1.0
    assert label_f1(truth, [["good"] * 4]) == 0.0
