"""The GPU benchmark runs with --tiny on CPU without Ray, vLLM, pyarrow, srft's YAML config or
its store: what the GPU machine (torch + transformers only) will run, minus the shapes.
TrainConfig nests MaskingConfig, so srft_ray.masking and srft_ray.data.model (standard library
only) come along; blocking pyarrow and srft_ray.config keeps them that way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("ray", "vllm", "pyarrow", "srft_ray.config", "srft_ray.data.store")


@pytest.mark.slow
def test_gpu_bench_tiny_runs_with_torch_and_transformers_only(tmp_path):
    code = (
        "import sys, runpy\n"
        f"for name in {BLOCKED!r}:\n"
        "    sys.modules[name] = None\n"
        f"sys.argv = ['gpu_train_bench.py', '--tiny', '--steps', '1', '--warmup', '1',"
        f" '--cases', 'packed+gc,padded', '--out', {str(tmp_path)!r}]\n"
        f"runpy.run_path({str(ROOT / 'benchmarks' / 'gpu_train_bench.py')!r}, run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_bench.json").read_text())
    cases = {r["case"]: r for r in report["results"]}
    assert set(cases) == {"packed+gc", "padded"}
    assert all("error" not in r and r["tokens_per_s"] > 0 for r in cases.values())
    assert cases["packed+gc"]["padding_fraction"] == 0.0
    assert cases["padded"]["padding_fraction"] > 0.0
