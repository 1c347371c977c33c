"""Real collection rounds on the session's local Ray cluster, real bwrap sandboxes and grading."""

from __future__ import annotations

import collections

import pyarrow.parquet as pq
import pytest

from srft_ray.agent.episode import EpisodeConfig
from srft_ray.agent.scripted import scripted_teacher
from srft_ray.collect import CollectConfig, collect
from srft_ray.data.store import TrajectoryStore
from srft_ray.tasks.source import load_task_source


@pytest.fixture(scope="module")
def tasks():
    return load_task_source("embedded").tasks()


def _stored_ids(store: TrajectoryStore) -> list[str]:
    """Every id in every part file (duplicates included, unlike store.ids())."""
    return [i for part in store.parts() for i in pq.read_table(part).column(0).to_pylist()]


@pytest.mark.slow
def test_scripted_round_streams_and_resumes(ray_cluster, tasks, tmp_path):
    config = CollectConfig(
        round=1, max_tasks=6, num_workers=2, episodes_per_worker=2, worker_num_cpus=0.5
    )
    store = TrajectoryStore(tmp_path / "round-1" / "collect")
    lines: list[str] = []
    summary = collect(config, tasks, store, log=lines.append)
    expected = {f"1/{t.instance_id}/0" for t in tasks[:6]}
    assert summary.num_written == 6 and summary.num_failed == 0
    assert sorted(_stored_ids(store)) == sorted(expected)
    assert len(store.parts()) == 6  # appended one by one as episodes finished
    assert store.is_complete()
    trajs = store.read_all()
    planned = sum(scripted_teacher(t, seed=0, round_index=1).will_resolve for t in tasks[:6])
    assert summary.num_resolved == planned == sum(bool(t.outcome.resolved) for t in trajs)
    assert all(t.provenance.round == 1 and t.provenance.config_hash for t in trajs)
    assert all(s.labels and s.labels[0].source == "scripted" for t in trajs for s in t.steps)
    assert any("episodes/min" in line for line in lines)

    # Resume: everything is stored, so nothing runs and nothing is written again.
    again = collect(config, tasks, store, log=lines.append)
    assert again.num_skipped == 6 and again.num_written == 0
    assert len(store.parts()) == 6


@pytest.mark.slow
def test_killed_worker_loses_and_duplicates_nothing(ray_cluster, tasks, tmp_path):
    import ray

    config = CollectConfig(
        round=2, max_tasks=8, num_workers=2, episodes_per_worker=2, worker_num_cpus=0.5
    )
    store = TrajectoryStore(tmp_path / "collect")
    prefix = f"srft-test-death-{tmp_path.name}-"
    killed = []

    def log(line: str) -> None:
        # Kill worker 0 for real right after the first episode lands; it still has episodes
        # in flight (two slots, at most one just freed), which must be retried elsewhere.
        if "written 1," in line and not killed:
            ray.kill(ray.get_actor(f"{prefix}0"))
            killed.append(line)

    summary = collect(config, tasks, store, log=log, worker_name_prefix=prefix)
    assert killed and summary.num_worker_deaths == 1
    assert summary.num_retries >= 1 and summary.num_failed == 0
    ids = _stored_ids(store)
    assert collections.Counter(ids).most_common(1)[0][1] == 1  # none written twice
    assert set(ids) == {f"2/{t.instance_id}/0" for t in tasks[:8]}  # none lost


@pytest.mark.slow
def test_vllm_policy_round(ray_cluster, engine_actor, tasks, tokenizer, smollm_dir, tmp_path):
    episode = EpisodeConfig()
    episode.agent.step_limit = 3
    episode.policy.kind = "vllm"
    episode.policy.sampling.max_tokens = 64
    config = CollectConfig(
        round=0,
        max_tasks=2,
        num_workers=1,
        episodes_per_worker=2,
        worker_num_cpus=0.5,
        episode=episode,
    )
    store = TrajectoryStore(tmp_path / "collect")
    summary = collect(config, tasks, store, engine=engine_actor)
    assert summary.num_written == 2 and summary.num_failed == 0
    for traj in store.read_all():
        assert 1 <= traj.num_steps <= 3
        # time_limit too: on a starved 2-core host the shared engine can take the episode's
        # wall budget; that is still a well-formed, graded episode
        assert traj.outcome.exit_status in (
            "step_limit",
            "submitted",
            "format_error_limit",
            "time_limit",
        )
        assert traj.outcome.resolved is not None  # graded, whatever the tiny model did
        assert traj.provenance.sampling_params["max_tokens"] == 64
        assert traj.provenance.policy_model == smollm_dir.name
        assert traj.provenance.policy_version == str(smollm_dir)
        for step in traj.steps:
            assert step.token_ids and len(step.logprobs) == len(step.token_ids) <= 64
            assert tokenizer.decode(step.token_ids, skip_special_tokens=True) == step.assistant
            assert step.model_seconds > 0
            assert step.end_reason in ("format_error", "exit", "timeout", "submitted") or (
                step.end_reason.endswith("_limit")
            )
