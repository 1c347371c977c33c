"""`srft tasks list [PATH]`, `srft tasks validate [PATH]` and `srft tasks generate --out PACK`.

PATH is a task source: "embedded" (the bundled pack, the default), a pack folder
(tasks.jsonl + repos/), or a .jsonl / .json / .parquet file of SWE-bench rows.

    srft tasks list
    srft tasks validate                      # every embedded task, in bwrap sandboxes
    srft tasks validate ./my_pack --workers 4
    srft tasks generate --out ./gen_pack --num-tasks 300 --seed 0   # see srft_ray.tasks.generate
"""

from __future__ import annotations

import argparse
import sys
import time

from srft_ray.data.model import DataError
from srft_ray.tasks.grading import GradingConfig
from srft_ray.tasks.source import load_task_source
from srft_ray.tasks.validate import format_table, print_progress, validate_tasks


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srft tasks", description="list, validate or generate tasks"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="print the tasks of a source")
    check = sub.add_parser("validate", help="check every task in a sandbox (base vs gold)")
    for action in (listing, check):
        action.add_argument(
            "path", nargs="?", default="embedded", help="source (default: embedded)"
        )
        action.add_argument("--repos-dir", default="", help="local clones for a row file")
    check.add_argument("--instance", action="append", default=[], help="only these instance ids")
    check.add_argument("--backend", default="bwrap", help="sandbox backend (bwrap, docker)")
    check.add_argument("--image", default="", help="docker: image for tasks without their own")
    check.add_argument("--workers", type=int, default=2, help="tasks validated at once")
    check.add_argument("--timeout", type=float, default=300.0, help="seconds per evaluation")
    make = sub.add_parser("generate", help="write a pack of generated one-bug tasks")
    make.add_argument("--out", required=True, help="pack folder to create (must be empty)")
    make.add_argument("--num-tasks", type=int, default=300, help="tasks to generate")
    make.add_argument("--seed", type=int, default=0, help="same seed, same pack (byte for byte)")
    make.add_argument("--num-repos", type=int, default=0, help="repositories (0: one per 6 tasks)")
    make.add_argument(
        "--bugs-per-shape", type=int, default=0, help="only the first N bugs of each shape (0: all)"
    )
    return parser


def _generate(args: argparse.Namespace) -> int:
    from srft_ray.tasks.generate import generate_pack

    try:
        summary = generate_pack(
            args.out,
            num_tasks=args.num_tasks,
            seed=args.seed,
            num_repos=args.num_repos,
            bugs_per_shape=args.bugs_per_shape,
        )
    except (FileExistsError, ValueError) as exc:
        print(f"srft tasks: {exc}", file=sys.stderr)
        return 2
    kinds = ", ".join(f"{kind}={n}" for kind, n in summary.kinds.items())
    print(
        f"wrote {summary.num_tasks} tasks over {summary.num_repos} repositories to "
        f"{summary.out_dir} in {summary.seconds:.1f}s ({kinds})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.action == "generate":
        return _generate(args)
    try:
        source = load_task_source(args.path, repos_dir=args.repos_dir)
        tasks = source.tasks()
    except (DataError, FileNotFoundError) as exc:
        print(f"srft tasks: {exc}", file=sys.stderr)
        return 2
    if args.action == "list":
        for task in tasks:
            print(
                f"{task.instance_id}\t{task.repo}\t{task.base_commit[:12]}\t"
                f"F2P={len(task.fail_to_pass)} P2P={len(task.pass_to_pass)}"
            )
        print(f"{len(tasks)} tasks", file=sys.stderr)
        return 0
    if args.instance:
        unknown = set(args.instance) - {t.instance_id for t in tasks}
        if unknown:
            print(f"srft tasks: unknown instance ids {sorted(unknown)}", file=sys.stderr)
            return 2
        tasks = [t for t in tasks if t.instance_id in args.instance]
    from srft_ray.sandbox import SandboxConfig

    start = time.monotonic()
    print(
        f"validating {len(tasks)} tasks from {args.path} ({args.workers} at once, "
        f"{args.backend} sandboxes)",
        file=sys.stderr,
        flush=True,
    )
    results = validate_tasks(
        tasks,
        source,
        sandbox_config=SandboxConfig(backend=args.backend, image=args.image),
        config=GradingConfig(timeout_s=args.timeout),
        num_workers=args.workers,
        on_result=print_progress,
    )
    print(format_table(results))
    num_invalid = sum(not r.valid for r in results)
    elapsed = time.monotonic() - start
    print(
        f"{len(results) - num_invalid}/{len(results)} tasks valid in {elapsed:.1f}s "
        f"({len(results) / max(elapsed, 1e-9) * 60:.0f} tasks/min)"
    )
    return 1 if num_invalid else 0


if __name__ == "__main__":
    sys.exit(main())
