"""See what is learned: a trajectory's tokens with the trained ones highlighted.

`srft view TRAJECTORY --tokenizer PATH --mode {rft,srft,all}` prints the rendered chat with trained
tokens in green, tokens of masked (bad) steps in red and context dimmed; `--html OUT` writes the
same as a page (hover a token for its id and step), `--json` prints the arrays for scripts.
TRAJECTORY is a trajectory store directory, a Parquet part, or a mini-swe-agent / SWE-agent file.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path
from typing import Any

from srft_ray.data.model import Trajectory
from srft_ray.masking import MODES, MaskingConfig, RenderedExample, render_trajectory

TRAINED, MASKED, CONTEXT = "trained", "masked", "context"
ANSI = {TRAINED: "\033[30;42m", MASKED: "\033[9;31m", CONTEXT: "\033[2m"}
ANSI_RESET = "\033[0m"


def load_trajectories(path: str | Path) -> list[Trajectory]:
    """Trajectories from a store directory, a Parquet file, or an agent trajectory file."""
    path = Path(path)
    if path.is_dir():
        from srft_ray.data.store import TrajectoryStore

        return TrajectoryStore(path).read_all()
    if path.suffix == ".parquet":
        from srft_ray.data.store import read_part, trajectories_from_table

        return trajectories_from_table(read_part(path))
    from srft_ray.formats import import_files

    report = import_files([path], "auto")
    if report.errors:
        raise ValueError("; ".join(f"{file}: {msg}" for file, msg in report.errors))
    return report.trajectories


def token_class(example: RenderedExample, pos: int) -> str:
    if example.loss_mask[pos]:
        return TRAINED
    if example.step_index[pos] >= 0:
        return MASKED
    return CONTEXT


def token_pieces(tokenizer: Any, ids: list[int]) -> list[tuple[int, int, str]]:
    """(first, stop, text) groups of tokens; a character split over tokens stays in one group."""
    pieces, first = [], 0
    while first < len(ids):
        stop = first + 1
        text = tokenizer.decode(ids[first:stop])
        while "\ufffd" in text and stop < len(ids) and stop - first < 8:
            stop += 1
            text = tokenizer.decode(ids[first:stop])
        pieces.append((first, stop, text))
        first = stop
    return pieces


def render_terminal(example: RenderedExample, tokenizer: Any, traj: Trajectory) -> str:
    runs: list[tuple[str, list[int]]] = []  # consecutive tokens of one class, decoded together
    for pos, token in enumerate(example.input_ids):
        kind = token_class(example, pos)
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(token)
        else:
            runs.append((kind, [token]))
    body = []
    for kind, ids in runs:
        text = tokenizer.decode(ids)
        # Style each line separately so a styled run never bleeds across a newline.
        body.append("\n".join(f"{ANSI[kind]}{line}{ANSI_RESET}" for line in text.split("\n")))
    legend = "  ".join(f"{ANSI[k]}{k}{ANSI_RESET}" for k in (TRAINED, MASKED, CONTEXT))
    return f"{summary_line(example, traj)}\n\n{''.join(body)}\n\n{legend}"


def summary_line(example: RenderedExample, traj: Trajectory) -> str:
    resolved = {True: "resolved", False: "unresolved", None: "ungraded"}[traj.outcome.resolved]
    return (
        f"{traj.trajectory_id}  [{resolved}, {traj.num_steps} steps, "
        f"{example.num_masked_steps} masked]  {len(example.input_ids)} tokens, "
        f"{example.num_trained_tokens} trained"
        + (f", {example.num_truncated_tokens} truncated" if example.truncated else "")
        + (
            f", {example.num_retokenized_steps} re-tokenized"
            if example.num_retokenized_steps
            else ""
        )
        + "".join(
            f", {getattr(example, 'num_' + key)} {key.replace('_', ' ')}"
            for key in COUNTED
            if getattr(example, "num_" + key)
        )
    )


# Conversions and mismatches between the recorded trajectory and the policy's view of it.
COUNTED = (
    "converted_tool_calls",
    "reformatted_observations",
    "shortened_observations",
    "unverified_observations",
    "elided_observations",
    "dropped_steps",
)


def render_html(example: RenderedExample, tokenizer: Any, traj: Trajectory, mode: str) -> str:
    spans = []
    for first, stop, text in token_pieces(tokenizer, example.input_ids):
        kind = token_class(example, first)
        step = example.step_index[first]
        title = f"ids {example.input_ids[first:stop]}" + (f", step {step}" if step >= 0 else "")
        spans.append(f'<span class="{kind}" title="{title}">{html.escape(text)}</span>')
    labels = []
    for step in traj.steps:
        tags = ", ".join(f"{lab.source}: {lab.label}" for lab in step.labels) or "no label"
        trained = "trained" if example.step_trained[step.index] else "masked"
        calls = f" {len(step.tool_calls)} tool call(s)" if step.tool_calls else ""
        labels.append(
            f"<li><b>step {step.index}</b> ({trained}{calls}) {html.escape(tags)}"
            f" <code>{html.escape((step.command or '')[:120])}</code></li>"
        )
    return PAGE.format(
        title=html.escape(traj.trajectory_id),
        summary=html.escape(summary_line(example, traj)),
        mode=mode,
        labels="\n".join(labels),
        tokens="".join(spans),
    )


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body {{ font-family: sans-serif; margin: 2em; max-width: 110ch; }}
pre {{ white-space: pre-wrap; font-size: 13px; line-height: 1.5; border: 1px solid #ccc; padding: 1em; }}
.trained {{ background: #b7f0b1; }} .masked {{ background: #f7c4c4; text-decoration: line-through; }}
.context {{ color: #777; }} span:hover {{ outline: 1px solid #333; }}
</style></head><body>
<h1>{title}</h1><p>{summary} &mdash; mode <b>{mode}</b></p>
<p><span class="trained">trained</span> <span class="masked">masked step</span>
<span class="context">context (never trained)</span></p>
<h2>Steps</h2><ul>{labels}</ul><h2>Tokens</h2><pre>{tokens}</pre></body></html>
"""


def write_html(traj: Trajectory, tokenizer: Any, config: MaskingConfig, path: str | Path) -> Path:
    example = render_trajectory(traj, tokenizer, config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(example, tokenizer, traj, config.mode))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srft view", description=__doc__.split("\n")[0])
    parser.add_argument("trajectory", help="store dir, .parquet, or agent trajectory file")
    parser.add_argument("--tokenizer", help="tokenizer/model folder (default: embedded model)")
    parser.add_argument("--mode", choices=MODES, default="srft")
    parser.add_argument("--id", help="trajectory id (default: the first one)")
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument(
        "--action-format",
        choices=("text", "tool_calls"),
        default="text",
        help="what the policy emits: tool calls become text actions, or render natively",
    )
    parser.add_argument("--html", metavar="OUT", help="write an HTML page instead")
    parser.add_argument("--json", action="store_true", help="print input_ids/loss_mask/step_index")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from srft_ray.model_prep import prepare_model

    trajs = load_trajectories(args.trajectory)
    if args.id:
        trajs = [t for t in trajs if t.trajectory_id == args.id]
    if not trajs:
        print(f"error: no trajectory {args.id or ''} in {args.trajectory}", file=sys.stderr)
        return 2
    traj = trajs[0]
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or prepare_model())
    config = MaskingConfig(
        mode=args.mode, max_length=args.max_length, action_format=args.action_format
    )
    example = render_trajectory(traj, tokenizer, config)
    if args.json:
        keys = ("input_ids", "loss_mask", "step_index")
        print(json.dumps({key: getattr(example, key) for key in keys}))
    elif args.html:
        Path(args.html).write_text(render_html(example, tokenizer, traj, args.mode))
        print(f"wrote {args.html}: {summary_line(example, traj)}")
    else:
        print(render_terminal(example, tokenizer, traj))
    return 0


if __name__ == "__main__":
    sys.exit(main())
