"""`srft sandbox`: run one command in a fresh sandbox and say how it ended.

    srft sandbox --backend bwrap --dir path/to/checkout -- python -m pytest -q
    srft sandbox --backend docker --image srft-sandbox:local --dir . --timeout 10 -- 'ls | wc -l'
    python -m srft_ray.sandbox.cli --dir . -o memory_mb=512 -- python -c 'print(1)'

One word after `--` is a shell command line ('ls | wc -l'); several words are one command and
its arguments, quoted as given (`-- python -c 'print(1)'`). It runs by `bash -c` in the
checkout, which is a writable copy-on-write view of --dir (the folder itself is never
modified). The exit status is the command's own, or 124 when it timed out or hit a limit.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from srft_ray.config import ConfigError, load_config
from srft_ray.sandbox import BACKENDS, SandboxConfig, SandboxError, open_sandbox


def shell_command(words: list[str]) -> str:
    """The `bash -c` string for the words after `--`: one word as written, several quoted."""
    return words[0] if len(words) == 1 else shlex.join(words)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command_words: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, command_words = args[:split], args[split + 1 :]
    parser = argparse.ArgumentParser(
        prog="srft sandbox", description="Run one command in a fresh sandbox (after `--`)."
    )
    parser.add_argument("--backend", default="bwrap", choices=sorted(BACKENDS))
    parser.add_argument("--dir", type=Path, default=None, help="host checkout to expose")
    parser.add_argument("--timeout", type=float, default=None, help="wall-clock seconds")
    parser.add_argument("--image", default=None, help="docker: image to start")
    parser.add_argument("--workdir", default=None, help="checkout path inside the sandbox")
    parser.add_argument(
        "-c", "--config", action="append", default=[], help="YAML file with SandboxConfig keys"
    )
    parser.add_argument(
        "-o", "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    opts = parser.parse_args(args)
    if not command_words:
        parser.error("give the command after `--`, e.g. srft sandbox --dir . -- ls -la")
    overrides = [f"backend={opts.backend}", *opts.set]
    if opts.workdir:
        overrides.append(f"workdir={opts.workdir}")
    try:
        config = load_config(SandboxConfig, opts.config, overrides)
    except ConfigError as exc:
        print(f"srft sandbox: {exc}", file=sys.stderr)
        return 2
    if opts.dir is not None and not opts.dir.is_dir():
        print(f"srft sandbox: --dir {opts.dir} is not a directory", file=sys.stderr)
        return 2
    try:
        with open_sandbox(config, source_dir=opts.dir, image=opts.image) as box:
            result = box.run(shell_command(command_words), timeout_s=opts.timeout)
    except SandboxError as exc:
        print(f"srft sandbox: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(result.output)
    if result.output and not result.output.endswith("\n"):
        sys.stdout.write("\n")
    print(
        f"[sandbox {config.backend}] returncode={result.returncode} "
        f"end_reason={result.end_reason} duration={result.duration_s:.3f}s"
        + (" output_truncated" if result.output_truncated else "")
    )
    return result.returncode if result.returncode is not None else 124


if __name__ == "__main__":
    sys.exit(main())
