"""Typed configs: YAML files, `a.b=c` overrides, and errors that name the bad key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from srft_ray.config import ConfigError, config_hash, load_config, to_dict


@dataclass(kw_only=True)
class Inner:
    steps: int = 3
    mode: Literal["rft", "srft"] = "srft"
    rate: float = 0.5


@dataclass(kw_only=True)
class Root:
    name: str = "x"
    tags: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    limit: int | None = None


def test_files_then_overrides(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("name: first\ninner:\n  steps: 7\n")
    b = tmp_path / "b.yaml"
    b.write_text("inner:\n  mode: rft\n")
    cfg = load_config(Root, [a, b], ["inner.rate=2", "tags=[x, y]", "limit=null"])
    assert cfg == Root(name="first", tags=["x", "y"], inner=Inner(steps=7, mode="rft", rate=2.0))
    assert isinstance(cfg.inner.rate, float)
    # YAML 1.1 reads 1e-4 (no dot) as a string; a float field takes it as the number written.
    rate = tmp_path / "rate.yaml"
    rate.write_text("inner:\n  rate: 1e-4\n")
    assert load_config(Root, [rate], []).inner.rate == 1e-4
    assert load_config(Root, [], ["inner.rate=-5E+3"]).inner.rate == -5000.0
    assert config_hash(cfg) == config_hash(load_config(Root, base=to_dict(cfg)))
    assert config_hash(cfg) != config_hash(Root())


def test_unknown_keys_and_bad_values_name_the_key_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inner:\n  stpes: 7\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'inner.stpes'"):
        load_config(Root, [bad])
    with pytest.raises(ConfigError, match=r"override 'inner.mode=sft'.*inner.mode"):
        load_config(Root, [], ["inner.mode=sft"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(Root, [], ["inner.steps=many"])
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(Root, [], ["inner.rate=fast"])
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(Root, [], ["novalue"])


def test_a_moved_key_names_its_new_place():
    from srft_ray.rounds.config import LoopConfig

    with pytest.raises(ConfigError, match=r"'critique' is now 'critique_pool'"):
        load_config(LoopConfig, [], ["critique.num_workers=2"])
    with pytest.raises(ConfigError, match=r"'critique_pool.num_workers' is now "):
        load_config(LoopConfig, [], ["critique_pool.num_workers=2"])
    pool = load_config(LoopConfig, [], ["critique_pool.resources.num_workers=2"]).critique_pool
    assert pool.resources.num_workers == 2 and pool.resources.num_cpus == 1.0
    with pytest.raises(
        ConfigError, match=r"'train_num_workers' is now 'train.resources.num_workers'"
    ):
        load_config(LoopConfig, [], ["train_num_workers=2"])
    with pytest.raises(ConfigError, match=r"'train.mode' is now 'train.masking.mode'"):
        load_config(LoopConfig, [], ["train.mode=rft"])
    train = load_config(LoopConfig, [], ["train.masking.mode=rft"]).train
    assert train.masking.mode == "rft" and train.masking.max_length == 4096


def test_a_backend_name_outside_its_map_names_the_known_ones():
    from srft_ray.agent.policies import POLICIES, PolicyConfig, policy_provider
    from srft_ray.rounds.config import LoopConfig

    with pytest.raises(ConfigError, match=r"teacher: unknown policy kind 'gpt' \(known: openai, "):
        load_config(LoopConfig, [], ["teacher.kind=gpt"])
    assert set(POLICIES) == {"scripted", "vllm", "openai"}
    with pytest.raises(ValueError, match="needs an engine"):
        policy_provider(PolicyConfig(kind="vllm"))
    with pytest.raises(
        ConfigError, match=r"critic: unknown critic backend 'tgi' \(known: openai, vllm\)"
    ):
        load_config(LoopConfig, [], ["critic.backend=tgi"])


def test_a_run_recorded_before_the_keys_moved_still_loads():
    """`srft ablate RUN_DIR` re-reads run.json: the old keys land in their new places."""
    from srft_ray.config import upgrade_config
    from srft_ray.rounds.config import LoopConfig

    old = {
        "critique": {"num_workers": 2, "batch_size": 8},
        "critic_num_cpus": 4.0,
        "critic_num_gpus": 1.0,
        "train": {"mode": "rft", "max_length": 0, "label_sources": ["rule"], "lr": 1e-4},
        "train_num_workers": 4,
        "train_use_gpu": True,
        "train_cpus_per_worker": 8.0,
        "policy_engine_num_gpus": 1.0,
        "collect": {"episode": {"policy": {"kind": "vllm", "engine_num_cpus": 2.0}}},
    }
    config = load_config(LoopConfig, base=upgrade_config(LoopConfig, old))
    pool = config.critique_pool
    assert (pool.batch_size, pool.resources.num_workers, pool.resources.num_gpus) == (8, 2, 1.0)
    assert pool.resources.num_cpus == 4.0
    masking = config.train.masking
    assert (masking.mode, masking.max_length, masking.label_sources) == ("rft", None, ["rule"])
    train = config.train.resources
    assert (train.num_workers, train.num_cpus, train.num_gpus, config.train.lr) == (
        4,
        8.0,
        1.0,
        1e-4,
    )
    engine = config.collect.episode.policy.resources
    assert (engine.num_cpus, engine.num_gpus) == (2.0, 1.0)


def test_each_policy_kind_has_its_own_section():
    from srft_ray.rounds.config import LoopConfig

    config = load_config(
        LoopConfig, [], ["teacher.kind=openai", "teacher.openai.base_url=http://x/v1"]
    )
    assert config.teacher.openai.base_url == "http://x/v1" and config.teacher.scripted.mode
    with pytest.raises(ConfigError, match=r"'teacher.base_url' is now 'teacher.openai.base_url'"):
        load_config(LoopConfig, [], ["teacher.base_url=http://x/v1"])


@pytest.mark.parametrize("job", ["collect", "critique", "train", "evaluate", "loop"])
def test_every_job_reports_a_bad_key_like_a_bad_flag(job, tmp_path, capsys):
    import importlib

    main = importlib.import_module(f"srft_ray.jobs.{job}").main
    bad = tmp_path / "bad.yaml"
    bad.write_text("no_such_section: {x: 1}\n")
    for argv in (["no_such_key=1"], ["-c", str(bad)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"srft {'run' if job == 'loop' else job}: ")
        assert argv[-1].split("=")[0] in err or "no_such_section" in err, err
