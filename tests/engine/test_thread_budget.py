"""Each engine computes on the threads its config gives it, read from inside its Ray actor, and
policy engines on CPU serve with prefix caching when their config asks for it."""

from __future__ import annotations

import ray

from srft_ray.actors.engine import start_engine_actor
from srft_ray.vllm_engine import EngineConfig, GenerateRequest


def test_engine_without_a_budget_computes_on_the_cpus_it_reserves(engine_actor):
    # The session engine reserves 1 CPU and leaves num_threads at 0: Ray's OMP_NUM_THREADS.
    info = ray.get(engine_actor.thread_info.remote())
    assert info["torch_threads"] == 1 and info["omp_num_threads"] == "1"


def test_engine_thread_budget_holds_in_the_thread_that_steps_it(ray_cluster, smollm_dir, tokenizer):
    config = EngineConfig(
        model=str(smollm_dir), max_model_len=1024, kv_cache_memory_gb=0.25, num_threads=2
    )
    actor = start_engine_actor(config, num_cpus=1)
    try:
        assert ray.get(actor.thread_info.remote())["torch_threads"] == 2
        ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
        prompt = tokenizer(ids, add_special_tokens=False)["input_ids"]
        # vLLM's CPU attention refuses a step whose thread count differs from its metadata's:
        # a reply proves the stepping thread computed on the budget too.
        request = GenerateRequest(prompt_token_ids=prompt, max_tokens=4, min_tokens=4)
        results = ray.get([actor.generate.remote(request) for _ in range(3)])
        assert all(len(r.token_ids) == 4 for r in results)
        stats = ray.get(actor.stats.remote())
        assert stats["torch_threads"] == 2 and stats["max_in_flight"] >= 1
        # A reload waits for what is in flight, then serves on the same budget.
        pending = actor.generate.remote(request)
        assert ray.get(actor.reload.remote(str(smollm_dir))) == str(smollm_dir)
        assert len(ray.get(pending).token_ids) == 4
        assert len(ray.get(actor.generate.remote(request)).token_ids) == 4
        assert ray.get(actor.thread_info.remote())["torch_threads"] == 2
    finally:
        ray.kill(actor)


def test_policy_engines_on_cpu_serve_with_prefix_caching(engine_actor):
    from srft_ray.config import load_config
    from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig

    # The embedded run's one policy engine (collect and evaluate share it) asks for it ...
    loop = load_config(LoopConfig, [EMBEDDED_CONFIG])
    assert loop.collect.episode.policy.engine.enable_prefix_caching
    # ... and an engine built from such a config serves with it on.
    assert ray.get(engine_actor.stats.remote())["prefix_caching"] is True
