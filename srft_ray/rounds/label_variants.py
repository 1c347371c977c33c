"""The step labels each SRFT variant of the ablation trains with, derived from one critique.

One collected-and-critiqued dataset serves every variant: each step already carries the
teacher's ground truth (source "scripted"), the critic's raw verdict and the rule labels. A
variant picks one of those per step (or corrupts the ground truth to a target F1) and writes a
derived store whose every step carries exactly that one label, so what SRFT masks is explicit
and inspectable (`srft view` works on it).

Labels are the paper's step kinds; mistake is the positive class. Label corruption at F1 f: with
M mistakes, flip round((1-f)M) mistakes to good (misses) and as many good steps to mistake (false
alarms); unnecessary and recover steps are left alone. Then recall = precision = f, so F1 = f
exactly up to rounding (fewer good steps than needed caps the false alarms; the achieved F1 is
reported).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable

from srft_ray.critic.label_modes import REPLAY_MODES, combine_replay, gated
from srft_ray.critic.llm_critic import COMBINED_PREFIX
from srft_ray.critic.rules import combine, rule_labels
from srft_ray.data.model import StepLabel, Trajectory, canonical_label

VARIANT_SOURCES = {"scripted": "scripted", "rules": "rule", "critic": "critic"}
VARIANT_SOURCES["critic_or_rules"] = "critic"
VARIANT_SOURCES.update(replay="replay", replay_else_critic="critic", consensus="critic")


def _raw_critic(step) -> StepLabel | None:
    raw = [
        lab
        for lab in step.labels
        if lab.source == "critic" and not lab.model.startswith(COMBINED_PREFIX)
    ]
    return raw[0] if raw else None


def variant_labels(traj: Trajectory, variant: str) -> list[str]:
    """Per step: the kind (or unknown) under `variant` (a name in VARIANT_SOURCES)."""
    if variant == "scripted":
        found = [s.label_from("scripted") for s in traj.steps]
        return [lab.label if lab else "unknown" for lab in found]
    fired = rule_labels(traj)
    if variant == "rules":
        return [combine("rules", None, f) for f in fired]
    if variant in ("critic", "critic_or_rules"):
        return [combine(variant, _raw_critic(s), f) for s, f in zip(traj.steps, fired)]
    if variant in REPLAY_MODES:
        replay = [s.label_from("replay") for s in traj.steps]
        if not any(replay):
            raise ValueError(
                f"trajectory {traj.trajectory_id!r} has no replay labels (label variant "
                f"{variant!r}): critique with critic.labels=replay or consensus first"
            )
        critic = [gated(_raw_critic(s), 0.0) for s in traj.steps]
        return [combine_replay(variant, r, c) for r, c in zip(replay, critic)]
    known = ", ".join(VARIANT_SOURCES)
    raise ValueError(f"unknown label variant {variant!r} ({known})")


def with_labels(traj: Trajectory, labels: list[str], *, source: str, model: str) -> Trajectory:
    """A copy of `traj` whose steps carry exactly the given labels (one per step)."""
    out = copy.deepcopy(traj)
    for step, label in zip(out.steps, labels, strict=True):
        step.labels = [StepLabel(label=label, source=source, model=model)]
    return out


def corrupt(
    labels: list[list[str]], target_f1: float, *, seed: int
) -> tuple[list[list[str]], float]:
    """Flip ground-truth kinds (per trajectory, per step) so mistake F1 is `target_f1`."""
    if not 0.0 < target_f1 <= 1.0:
        raise ValueError(f"target F1 must be in (0, 1], got {target_f1}")
    out = [[canonical_label(lab) for lab in steps] for steps in labels]
    where_mistake = [
        (t, s) for t, steps in enumerate(out) for s, lab in enumerate(steps) if lab == "mistake"
    ]
    where_good = [
        (t, s) for t, steps in enumerate(out) for s, lab in enumerate(steps) if lab == "good"
    ]
    flips = round((1.0 - target_f1) * len(where_mistake))
    rng = random.Random(seed)
    missed = rng.sample(where_mistake, min(flips, len(where_mistake)))
    alarms = rng.sample(where_good, min(flips, len(where_good)))
    for t, s in missed:
        out[t][s] = "good"
    for t, s in alarms:
        out[t][s] = "mistake"
    return out, label_f1(labels, out)


def label_f1(truth: Iterable[list[str]], predicted: Iterable[list[str]]) -> float:
    """F1 of mistake detection (any other kind, unknown included, is the negative class)."""
    tp = fp = fn = 0
    for t_steps, p_steps in zip(truth, predicted, strict=True):
        for t, p in zip(t_steps, p_steps, strict=True):
            t, p = canonical_label(t) == "mistake", canonical_label(p) == "mistake"
            tp += t and p
            fp += p and not t
            fn += t and not p
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
