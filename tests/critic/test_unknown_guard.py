"""The critique guard: a labelled store that is mostly `unknown` stops the round before training."""

import pytest
import ray

from srft_ray.actors.critic_worker import start_critic_worker
from srft_ray.critic.config import CriticConfig
from srft_ray.critic.pool import (
    CritiquePool,
    PoolConfig,
    UnknownLabelsError,
    check_unknown_share,
    final_label_counts,
)
from srft_ray.data.model import StepLabel
from srft_ray.data.store import TrajectoryStore

from .trajectories import make_trajectory


def _no_verdict(trajectory_id: str):
    """A trajectory as the critic leaves it when every prompt overflowed: all steps unknown."""
    traj = make_trajectory(trajectory_id, num_steps=3)
    for step in traj.steps:
        step.labels.append(StepLabel(label="unknown", source="critic", model="tiny"))
    return traj


def test_the_check_counts_final_labels_and_says_how_to_change_the_limit(tmp_path):
    store = TrajectoryStore(tmp_path / "labelled")
    good = make_trajectory("good", num_steps=3)
    for step in good.steps:
        step.labels.append(StepLabel(label="good", source="critic", model="tiny"))
    store.append([_no_verdict("a"), good])
    counts = final_label_counts(store)  # the scripted ground truth is not a training source
    assert counts == {"good": 3, "unnecessary": 0, "mistake": 0, "recover": 0, "unknown": 3}
    check_unknown_share(counts, 0.5, store.path)  # exactly half: not above the limit
    with pytest.raises(UnknownLabelsError) as caught:
        check_unknown_share(counts, 0.4, store.path)
    message = str(caught.value)
    parts = ("50.0%", "3 of 6", "good 3, unnecessary 0, mistake 0, recover 0", str(store.path))
    for part in (*parts, "critique_pool.max_unknown_share", "1.0"):
        assert part in message
    check_unknown_share({"good": 0, "mistake": 0, "unknown": 0}, 0.0, store.path)  # empty store
    check_unknown_share({"unknown": 5}, 1.0, store.path)  # 1.0 never fires


@pytest.mark.slow
def test_the_pool_refuses_a_mostly_unknown_store(ray_cluster, tmp_path):
    # A first attempt left 4 trajectories without verdicts; the resumed pool labels 1 more with
    # the rules (always a verdict): the check covers the whole store, not only this attempt.
    labelled = TrajectoryStore(tmp_path / "labelled")
    labelled.append([_no_verdict(f"old-{i}") for i in range(4)])
    source = [make_trajectory("new", num_steps=3)]
    critic = CriticConfig(labels="rules")

    def pool(limit: float) -> CritiquePool:
        config = PoolConfig(poll_s=0.1, progress_every_s=0, max_unknown_share=limit)
        return CritiquePool(config, lambda slot: start_critic_worker(critic, num_cpus=0.5))

    strict, off = pool(0.5), pool(1.0)
    try:
        with pytest.raises(UnknownLabelsError, match=r"80\.0% .*\(12 of 15;"):
            strict.run(iter(source), labelled)
        assert "new" in labelled.ids()  # what was labelled is kept for the next attempt
        report = off.run(iter(source), labelled)  # the check turned off: the run goes on
        assert report.num_skipped == 1
    finally:
        for worker in strict.workers + off.workers:
            ray.kill(worker)
