"""See what is learned: a trajectory's tokens with the trained ones highlighted.

`srft view TRAJECTORY --tokenizer PATH --mode {rft,srft,all}` prints the rendered chat with trained
tokens in green, tokens of masked steps struck through in red and context dimmed; each step is
tagged with its kind (good, unnecessary, mistake, recover, unknown: the label training reads), in
one colour per kind, listed above the tokens, with a legend. `--html OUT` writes the same as a page
(hover a token for its id and step), `--json` prints the arrays for scripts. TRAJECTORY is a
trajectory store directory, a Parquet part, or a mini-swe-agent / SWE-agent file. A trajectory the
chat template cannot render is one error line naming the file and the template (exit 1).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path
from typing import Any

from srft_ray.data.model import LABELS, DataError, Step, Trajectory
from srft_ray.masking import MODES, MaskingConfig, RenderedExample, render_trajectory
from srft_ray.present.svg_plots import LABEL_COLORS

TRAINED, MASKED, CONTEXT = "trained", "masked", "context"
ANSI = {TRAINED: "\033[30;42m", MASKED: "\033[9;31m", CONTEXT: "\033[2m"}
ANSI_RESET = "\033[0m"
# The nearest of the 16 terminal colours to each kind's colour in LABEL_COLORS (reverse video).
ANSI_KIND = {
    "good": "\033[7;32m",
    "unnecessary": "\033[7;33m",
    "mistake": "\033[7;31m",
    "recover": "\033[7;34m",
    "unknown": "\033[7;90m",
}


def step_kind(step: Step, config: MaskingConfig) -> str:
    """The kind training reads for `step` (its first label source in config order), else unknown."""
    found = step.label_from(*config.label_sources)
    return found.label if found else "unknown"


def _kind_tag(kind: str) -> str:
    return f"{ANSI_KIND[kind]} {kind} {ANSI_RESET}"


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


def render_terminal(
    example: RenderedExample, tokenizer: Any, traj: Trajectory, config: MaskingConfig | None = None
) -> str:
    config = config or MaskingConfig()
    kinds = {step.index: step_kind(step, config) for step in traj.steps}
    # Consecutive tokens of one class and step, decoded together; a step opens with its kind tag.
    runs: list[tuple[str, int, list[int]]] = []
    for pos, token in enumerate(example.input_ids):
        cls, step = token_class(example, pos), example.step_index[pos]
        if runs and runs[-1][:2] == (cls, step):
            runs[-1][2].append(token)
        else:
            runs.append((cls, step, [token]))
    body, tagged = [], set()
    for cls, step, ids in runs:
        if step >= 0 and step not in tagged:
            tagged.add(step)
            body.append(f"{_kind_tag(kinds.get(step, 'unknown'))} ")
        text = tokenizer.decode(ids)
        # Style each line separately so a styled run never bleeds across a newline.
        body.append("\n".join(f"{ANSI[cls]}{line}{ANSI_RESET}" for line in text.split("\n")))
    width = max(map(len, LABELS))

    def pad(kind: str) -> str:  # the tags differ in length; keep the columns after them aligned
        return " " * (width - len(kind))

    steps = []
    for step in traj.steps:
        trained = TRAINED if example.step_trained[step.index] else MASKED
        tags = ", ".join(f"{lab.source}: {lab.label}" for lab in step.labels) or "no label"
        command = (step.command or "(no command)").split("\n")[0][:60]
        steps.append(
            f"  step {step.index:>2} {_kind_tag(kinds[step.index])}{pad(kinds[step.index])} "
            f"{trained:<7}  {command}"
            f"  [{tags}]"
        )
    legend = "  ".join(f"{ANSI[k]}{k}{ANSI_RESET}" for k in (TRAINED, MASKED, CONTEXT))
    legend += "    kinds: " + " ".join(_kind_tag(kind) for kind in LABELS)
    return (
        f"{summary_line(example, traj)}\n\n" + "\n".join(steps) + f"\n\n{''.join(body)}\n\n{legend}"
    )


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


def _kind_badge(kind: str, text: str = "") -> str:
    return f'<span class="kind k-{kind}">{html.escape(text or kind)}</span>'


def render_html(
    example: RenderedExample,
    tokenizer: Any,
    traj: Trajectory,
    mode: str,
    config: MaskingConfig | None = None,
) -> str:
    config = config or MaskingConfig(mode=mode)
    kinds = {step.index: step_kind(step, config) for step in traj.steps}
    spans, tagged = [], set()
    for first, stop, text in token_pieces(tokenizer, example.input_ids):
        cls = token_class(example, first)
        step = example.step_index[first]
        title = f"ids {example.input_ids[first:stop]}" + (f", step {step}" if step >= 0 else "")
        if step >= 0:
            kind = kinds.get(step, "unknown")
            if step not in tagged:  # a badge (not a token) opens each step
                tagged.add(step)
                spans.append(_kind_badge(kind, f"step {step}: {kind}"))
            cls += f" k-{kind}"
        spans.append(f'<span class="{cls}" title="{title}">{html.escape(text)}</span>')
    labels = []
    for step in traj.steps:
        tags = ", ".join(f"{lab.source}: {lab.label}" for lab in step.labels) or "no label"
        trained = "trained" if example.step_trained[step.index] else "masked"
        calls = f" {len(step.tool_calls)} tool call(s)" if step.tool_calls else ""
        labels.append(
            f"<li><b>step {step.index}</b> {_kind_badge(kinds[step.index])} ({trained}{calls}) "
            f"{html.escape(tags)} <code>{html.escape((step.command or '')[:120])}</code></li>"
        )
    kind_css = "\n".join(
        f".kind.k-{k} {{ background: {c}; }} span.k-{k} {{ box-shadow: inset 0 -3px 0 {c}; }}"
        for k, c in LABEL_COLORS.items()
    )
    return PAGE.format(
        title=html.escape(traj.trajectory_id),
        summary=html.escape(summary_line(example, traj)),
        mode=mode,
        kind_css=kind_css,
        kind_legend=" ".join(_kind_badge(kind) for kind in LABELS),
        masked_kinds=html.escape(", ".join(config.masked_kinds)),
        labels="\n".join(labels),
        tokens="".join(spans),
    )


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body {{ font-family: sans-serif; margin: 2em; max-width: 110ch; }}
pre {{ white-space: pre-wrap; font-size: 13px; line-height: 1.5; border: 1px solid #ccc; padding: 1em; }}
.trained {{ background: #b7f0b1; }} .masked {{ background: #f7c4c4; text-decoration: line-through; }}
.context {{ color: #777; }} span:hover {{ outline: 1px solid #333; }}
.kind {{ color: #fff; font-weight: bold; font-size: 11px; padding: 0 5px; border-radius: 3px;
  margin: 0 2px; user-select: none; }}
{kind_css}
</style></head><body>
<h1>{title}</h1><p>{summary} &mdash; mode <b>{mode}</b></p>
<p>Tokens: <span class="trained">trained</span> <span class="masked">masked step</span>
<span class="context">context (never trained)</span></p>
<p>Step kinds (badge before each step, line under its tokens): {kind_legend}
&mdash; srft masks: <b>{masked_kinds}</b></p>
<h2>Steps</h2><ul>{labels}</ul><h2>Tokens</h2><pre>{tokens}</pre></body></html>
"""


def write_html(traj: Trajectory, tokenizer: Any, config: MaskingConfig, path: str | Path) -> Path:
    example = render_trajectory(traj, tokenizer, config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(example, tokenizer, traj, config.mode, config))
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
    parser.add_argument(
        "--masked-kinds",
        default="mistake",
        help="comma-separated step kinds srft masks (default: mistake; e.g. mistake,unnecessary)",
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
        mode=args.mode,
        max_length=args.max_length,
        action_format=args.action_format,
        masked_kinds=args.masked_kinds.split(","),
    )
    try:
        example = render_trajectory(traj, tokenizer, config)
    except Exception as exc:
        message = _render_error(exc, traj, args.tokenizer or getattr(tokenizer, "name_or_path", ""))
        if message is None:
            raise
        if Path(args.trajectory).name not in message:  # a store: name it, not only the id
            message = f"{args.trajectory}: {message}"
        print(f"error: {message}", file=sys.stderr)
        return 1
    if args.json:
        keys = ("input_ids", "loss_mask", "step_index")
        print(json.dumps({key: getattr(example, key) for key in keys}))
    elif args.html:
        Path(args.html).write_text(render_html(example, tokenizer, traj, args.mode, config))
        print(f"wrote {args.html}: {summary_line(example, traj)}")
    else:
        print(render_terminal(example, tokenizer, traj, config))
    return 0


def _render_error(exc: Exception, traj: Trajectory, template: str) -> str | None:
    """One line naming the file and the template for a chat-template failure; None otherwise."""
    from jinja2 import TemplateError

    if isinstance(exc, DataError):
        text = str(exc)  # masking's own message already names the file and the template
    elif isinstance(exc, (TemplateError, ValueError)):
        source = traj.provenance.source_file or traj.trajectory_id
        text = f"{source}: the chat template of {template} cannot render this trajectory: {exc}"
    else:
        return None
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
