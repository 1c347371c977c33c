"""Sandbox speed: start latency and per-command overhead against a plain subprocess.

"open" is open_sandbox() alone; "start" is open_sandbox() plus the first `true` command (the
time until an agent sees its first observation); "command_true" is each later `run("true")`.

    python benchmarks/sandbox_bench.py                       # bwrap, plus docker if configured
    python benchmarks/sandbox_bench.py --backends bwrap --starts 50 --commands 200 --json out.json

docker runs when $DOCKER_HOST and $SRFT_DOCKER_IMAGE are set (eval "$(.ci/podman-setup.sh DIR)").
The baseline `bash -c true` through subprocess.run is measured in the same run, so ratios compare
like with like on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from srft_ray.sandbox import SandboxConfig, open_sandbox


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": 1000 * percentile(values, 50),
        "p95_ms": 1000 * percentile(values, 95),
        "mean_ms": 1000 * statistics.fmean(values),
        "n": len(values),
    }


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_checkout(root: Path, num_files: int) -> Path:
    """A git repository with `num_files` small modules, like a small task checkout."""
    repo = root / "repo"
    (repo / "pkg").mkdir(parents=True)
    for i in range(num_files):
        (repo / "pkg" / f"mod_{i}.py").write_text(f"def f_{i}(x):\n    return x + {i}\n" * 20)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "base"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True)
    return repo


def bench_backend(name: str, checkout: Path, num_starts: int, num_commands: int) -> dict:
    config = SandboxConfig(backend=name, image=os.environ.get("SRFT_DOCKER_IMAGE", ""))
    open_sandbox(config, source_dir=checkout).close()  # warm-up: probes, image cache
    opens, starts, closes = [], [], []
    for i in range(num_starts):
        start = time.perf_counter()
        box = open_sandbox(config, source_dir=checkout)
        opens.append(time.perf_counter() - start)
        box.run("true")  # bwrap builds the namespaces on the first command: count it
        starts.append(time.perf_counter() - start)
        closes.append(timed(box.close))
        print(f"\r  {name}: start {i + 1}/{num_starts}", end="", file=sys.stderr, flush=True)
    with open_sandbox(config, source_dir=checkout) as box:
        box.run("true")
        commands = []
        for i in range(num_commands):
            result = box.run("true")
            assert result.returncode == 0, result
            commands.append(result.duration_s)
            if (i + 1) % 10 == 0:
                print(f"\r  {name}: command {i + 1}/{num_commands}", end="", file=sys.stderr)
        edit = [timed(lambda: box.run("echo x >> pkg/mod_0.py && git diff --stat"))]
    print(file=sys.stderr)
    return {
        "open": summary(opens),
        "start": summary(starts),
        "close": summary(closes),
        "command_true": summary(commands),
        "command_edit_git_diff": summary(edit),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="", help="comma list; default bwrap (+docker)")
    parser.add_argument("--starts", type=int, default=30)
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--files", type=int, default=200, help="files in the test checkout")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if not backends:
        backends = ["bwrap"]
        if os.environ.get("DOCKER_HOST") and os.environ.get("SRFT_DOCKER_IMAGE"):
            backends.append("docker")

    with tempfile.TemporaryDirectory(prefix="srft-bench-") as tmp:
        checkout = make_checkout(Path(tmp), args.files)
        baseline = [
            timed(lambda: subprocess.run(["bash", "-c", "true"], cwd=checkout, check=True))
            for _ in range(args.commands)
        ]
        results = {"baseline_subprocess_true": summary(baseline)}
        for name in backends:
            results[name] = bench_backend(name, checkout, args.starts, args.commands)

    base = results["baseline_subprocess_true"]
    load = os.getloadavg()[0]
    print(f"checkout: {args.files} files; {args.starts} starts, {args.commands} commands each;")
    print(f"load average {load:.1f} on {os.cpu_count()} cores (figures scale with it)")
    print(f"{'what':<34}{'p50 ms':>10}{'p95 ms':>10}{'x baseline p50':>16}")
    print(
        f"{'subprocess bash -c true':<34}{base['p50_ms']:>10.1f}{base['p95_ms']:>10.1f}{1:>16.1f}"
    )
    for name in backends:
        for key in ("open", "start", "close", "command_true", "command_edit_git_diff"):
            row = results[name][key]
            ratio = f"{row['p50_ms'] / base['p50_ms']:.1f}" if key.startswith("command") else "-"
            label = f"{name} {key}"
            print(f"{label:<34}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}{ratio:>16}")
        overhead = results[name]["command_true"]["p50_ms"] - base["p50_ms"]
        print(f"{name} per-command overhead over subprocess (p50): {overhead:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
