"""benchmarks/engine_bench.py --smoke: every part runs and reports its figures (shapes, not speeds).

Runs the benchmark in a subprocess: it starts a local Ray cluster of its own, never the test
session's `ray_cluster`. The full benchmark is `python benchmarks/engine_bench.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "engine_bench.py"


def test_engine_bench_smoke(tmp_path, smollm_dir):
    out = tmp_path / "engine_bench.json"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--out", str(out), "--log-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(out.read_text())
    hw = result["hardware"]
    assert hw["bfloat16_gflops"] > 0 and hw["float32_gflops"] > 0 and hw["copy_gb_per_s"] > 0
    assert set(result["limit_tokens_per_s"]) == {"1", "2"}
    assert set(result["variants"]) == {"before", "after"}
    for entry in result["variants"].values():
        assert set(entry["by_concurrency"]) == {"1", "2"}
        for run in entry["by_concurrency"].values():
            assert run["generated_tokens"] > 0 and run["prompt_tokens"] > 0
        assert entry["start_s"]["first"] > 0
    # Before: one blocking engine call per batch; after: the actor steps the engine itself.
    assert result["variants"]["before"]["by_concurrency"]["2"]["engine_calls"] > 0
    after = result["variants"]["after"]
    assert after["by_concurrency"]["2"]["engine_steps"] > 0
    assert after["threads"]["torch_threads"] == after["num_cpus"] == 1
    assert result["generate_tokens_per_s"]["generated_tokens"] > 0
