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
            labels.append(StepLabel(label="bad", source="critic", model="combined:critic_or_rules"))
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
        step(0, "cat missing.py", 1, "bad", "good"),
        step(1, "grep -rn 'def f' .", 0, "good", "bad"),
        step(2, "nl -ba a.py | sed -n '1,9p'", 0, "good", "good"),
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
    assert variant_labels(traj, "scripted") == ["bad", "good", "good", "good"]
    assert variant_labels(traj, "rules") == ["bad", "good", "good", "good"]  # failed command
    # the raw critic verdict, not the stored combined one; no verdict on the last step
    assert variant_labels(traj, "critic") == ["good", "bad", "good", "unknown"]
    assert variant_labels(traj, "critic_or_rules") == ["bad", "bad", "good", "unknown"]
    with pytest.raises(ValueError, match="unknown label variant"):
        variant_labels(traj, "oracle")


def test_with_labels_leaves_exactly_one_label_per_step():
    out = with_labels(_traj(), ["good", "bad", "good", "good"], source="rule", model="ablate:x")
    assert [[(lab.label, lab.source) for lab in s.labels] for s in out.steps] == [
        [("good", "rule")],
        [("bad", "rule")],
        [("good", "rule")],
        [("good", "rule")],
    ]


@pytest.mark.parametrize("target", [1.0, 0.74, 0.5])
def test_corruption_hits_the_target_f1(target):
    rng = random.Random(3)
    truth = [["bad" if rng.random() < 0.25 else "good" for _ in range(8)] for _ in range(60)]
    corrupted, achieved = corrupt(truth, target, seed=1)
    assert achieved == pytest.approx(label_f1(truth, corrupted))
    assert achieved == pytest.approx(target, abs=0.02)
    num_bad = sum(lab == "bad" for steps in truth for lab in steps)
    assert sum(lab == "bad" for steps in corrupted for lab in steps) == num_bad  # P = R
    assert corrupt(truth, target, seed=1) == (corrupted, achieved)  # seeded


def test_label_f1_by_hand():
    truth = [["bad", "bad", "good", "good"]]
    assert label_f1(truth, [["bad", "good", "bad", "good"]]) == pytest.approx(0.5)
    assert label_f1(truth, truth) == 1.0
    assert label_f1(truth, [["good"] * 4]) == 0.0
