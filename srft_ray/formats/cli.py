"""`srft import` and `srft export`: move trajectories between agent formats and a TrajectoryStore.

    srft import [--format FORMAT] FILES_OR_DIRS... --out STORE_DIR [--report REPORT.json]
    srft export preds --store STORE_DIR --out preds.json [--model-name NAME]   (.jsonl: JSONL)
    srft export mini-swe-agent --store STORE_DIR --out DIR

`import` appends to the store (trajectories already there are skipped), prints counts and every
bad file with its error, and exits 1 when any file failed. FILES are mini-swe-agent (1.x text,
2.x tool calls), SWE-agent `.traj`, or messages tables (.jsonl / .parquet, one row per
trajectory). `--report` joins `resolved` from a SWE-bench harness report by instance id. The
store is marked complete afterwards (an import is a finished batch), so `srft critique` reads
it without waiting for a producer. argv[0] is the direction.
"""

from __future__ import annotations

import argparse
import sys

from srft_ray.data.model import DataError
from srft_ray.data.store import TrajectoryStore
from srft_ray.formats.batch import IMPORT_FORMATS, import_files
from srft_ray.formats.harness_report import join_resolution, read_resolution
from srft_ray.formats.minisweagent_export import export_minisweagent
from srft_ray.formats.preds import write_preds


def import_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srft import", description="Import agent trajectories into a trajectory store."
    )
    parser.add_argument("--format", choices=IMPORT_FORMATS, default="auto", help="file format")
    parser.add_argument("paths", nargs="+", metavar="FILES_OR_DIRS", help="files or directories")
    parser.add_argument("--out", required=True, metavar="STORE_DIR", help="store to append to")
    parser.add_argument(
        "--report", metavar="REPORT_JSON", help="SWE-bench harness report: sets `resolved`"
    )
    return parser


def export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srft export", description="Export a trajectory store.")
    targets = parser.add_subparsers(dest="target", required=True)
    preds = targets.add_parser("preds", help="SWE-bench predictions (preds.json or .jsonl)")
    preds.add_argument("--store", required=True, help="trajectory store directory")
    preds.add_argument("--out", required=True, help="preds.json (or a .jsonl file)")
    preds.add_argument("--model-name", default=None, help="model_name_or_path for every row")
    mini = targets.add_parser("mini-swe-agent", help="one mini-swe-agent-1.1 JSON per trajectory")
    mini.add_argument("--store", required=True, help="trajectory store directory")
    mini.add_argument("--out", required=True, help="output directory")
    return parser


def run_import(argv: list[str]) -> int:
    args = import_parser().parse_args(argv)
    report = import_files(args.paths, args.format)
    if args.report:
        try:
            join = join_resolution(report.trajectories, read_resolution(args.report))
        except DataError as exc:
            print(f"srft import: {exc}", file=sys.stderr)
            return 2
        print(
            f"report {args.report}: {join.num_resolved} resolved, {join.num_unresolved} "
            f"unresolved, {len(join.unmatched)} not in the report (resolved left unknown)"
        )
    store = TrajectoryStore(args.out)
    num_written = store.append(report.trajectories)
    store.mark_complete()
    num_known = len(report.trajectories) - num_written
    print(
        f"imported {len(report.trajectories)} of {report.num_files} files into {args.out}: "
        f"{num_written} new, {num_known} already stored, {len(report.errors)} failed"
    )
    for _path, message in report.errors:
        print(f"  bad file: {message}", file=sys.stderr)
    return 1 if report.errors or report.num_files == 0 else 0


def run_export(argv: list[str]) -> int:
    args = export_parser().parse_args(argv)
    store = TrajectoryStore(args.store)
    if not store.parts():
        print(f"srft export: {args.store} holds no trajectories", file=sys.stderr)
        return 1
    if args.target == "preds":
        report = write_preds(store, args.out, model_name=args.model_name)
        print(
            f"wrote {report.num_predictions} predictions to {report.path} "
            f"({report.num_empty_patches} with an empty patch, "
            f"{report.num_duplicates_skipped} extra trajectories of an instance skipped)"
        )
    else:
        written = export_minisweagent(store.read_all(), args.out)
        print(f"wrote {len(written)} mini-swe-agent trajectories under {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("import", "export"):
        print("usage: srft import ... | srft export {preds,mini-swe-agent} ...", file=sys.stderr)
        return 2
    direction, rest = argv[0], argv[1:]
    return run_import(rest) if direction == "import" else run_export(rest)


if __name__ == "__main__":
    sys.exit(main())
