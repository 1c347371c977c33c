"""The committed hand-labelled set (benchmarks/data) is whole: every step of every episode in
the store has exactly one hand label, every label names a step that exists, each episode is in
one set, and the guide names every set. The label-quality figures are computed over it, so a
label without its step (or a step without its label) would silently change them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from srft_ray.critic.critic_eval import load_reference_jsonl
from srft_ray.data.store import TrajectoryStore

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"


def test_every_stored_step_has_one_hand_label_and_every_label_a_step():
    labels_file = DATA / "hand_labels.jsonl"
    rows = [json.loads(line) for line in labels_file.read_text().splitlines() if line.strip()]
    reference = load_reference_jsonl(labels_file)  # valid kinds, or a DataError naming the line
    keys = Counter((row["trajectory_id"], row["step"]) for row in rows)
    assert [key for key, count in keys.items() if count > 1] == []
    steps = {
        (traj.trajectory_id, step.index)
        for traj in TrajectoryStore(DATA / "hand_labelled_episodes")
        for step in traj.steps
    }
    assert set(reference) == steps

    sets_of_episode: dict[str, set[str]] = {}
    for row in rows:
        sets_of_episode.setdefault(row["trajectory_id"], set()).add(row["set"])
    assert all(len(sets) == 1 for sets in sets_of_episode.values())
    guide = (DATA / "LABELLING_GUIDE.md").read_text()
    for name in {row["set"] for row in rows}:
        assert name in guide, f"the guide does not name the set {name!r}"
