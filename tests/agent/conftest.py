"""Fixtures for agent tests: the embedded task pack and a runner over the real bwrap sandbox."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedded_source():
    from srft_ray.tasks.source import load_task_source

    return load_task_source("embedded")


@pytest.fixture(scope="session")
def scripted_runner(embedded_source):
    from srft_ray.agent.episode import EpisodeConfig, EpisodeRunner
    from srft_ray.agent.policies import PolicyConfig
    from srft_ray.agent.scripted import ScriptedConfig

    # The oracle teacher (pastes the gold patch): these tests check its plans against grading.
    oracle = PolicyConfig(kind="scripted", scripted=ScriptedConfig(mode="oracle"))
    config = EpisodeConfig(policy=oracle)
    runner = EpisodeRunner(config, task_source=embedded_source, config_hash="test")
    yield runner
    runner.close()
