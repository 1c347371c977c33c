"""`srft report RUN_DIR [--out FILE.html]`: one self-contained HTML page about a run.

The page has inline SVG plots (no scripts, no network): resolve rate, steps labelled bad,
trained-token share, loss curves, critic label distribution and stage wall times per round, each
round's summary, and a table of trajectories linking to their viewer pages (trained tokens
highlighted) under RUN_DIR/report/trajectories/. Numbers come from the round manifests, the
train metrics files and the trajectory stores themselves.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError
from srft_ray.present.progress import format_duration, format_round_summary
from srft_ray.present.report_data import (
    RoundData,
    base_metrics,
    ci95_of,
    load_round,
    step_label,
)
from srft_ray.present.svg_plots import LABEL_COLORS, bar_chart, line_chart
from srft_ray.runstate.layout import STAGES, report_dir
from srft_ray.runstate.run_manifest import RunManifest


@dataclass(kw_only=True)
class ReportConfig:
    """What `srft report` writes."""

    out: str = ""
    """HTML file to write; empty means RUN_DIR/report/index.html."""
    max_trajectories_per_round: int = 20
    """Trajectories listed (and given a viewer page) per round."""
    tokenizer: str = ""
    """Tokenizer folder for the viewer pages; empty: a round's export, else the embedded model."""
    mode: str = "srft"
    """Masking mode the viewer pages highlight (rft, srft, all)."""
    viewer_pages: bool = True
    """Generate missing viewer pages when the viewer module is installed."""


# ----------------------------------------------------------------------------- viewer pages


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:120] or "trajectory"


def viewer_page_path(run_dir: Path, round_index: int, trajectory_id: str) -> Path:
    return (
        report_dir(run_dir)
        / "trajectories"
        / f"round-{round_index:03d}"
        / (_safe_name(trajectory_id) + ".html")
    )


def _find_tokenizer(run_dir: Path, rounds: list[RoundData], configured: str) -> str | None:
    if configured:
        return configured
    for data in reversed(rounds):
        export = data.manifest.paths.export
        if (export / "tokenizer_config.json").exists() or (export / "tokenizer.json").exists():
            return str(export)
    from srft_ray.model_prep import DONE_MARKER, default_model_dir

    model_dir = default_model_dir()
    return str(model_dir) if (model_dir / DONE_MARKER).exists() else None


def write_viewer_pages(run_dir: Path, rounds: list[RoundData], config: ReportConfig) -> str:
    """Write missing viewer pages; returns a note for the page when some could not be made."""
    missing = [
        (data.manifest.round_index, traj)
        for data in rounds
        for traj in data.trajectories
        if not viewer_page_path(run_dir, data.manifest.round_index, traj.trajectory_id).exists()
    ]
    if not missing or not config.viewer_pages:
        return ""
    if importlib.util.find_spec("srft_ray.present.viewer") is None:
        return (
            f"{len(missing)} trajectories have no viewer page: the viewer module "
            "(srft_ray.present.viewer) is not installed."
        )
    from srft_ray.present.viewer import write_html

    tokenizer_path = _find_tokenizer(run_dir, rounds, config.tokenizer)
    if tokenizer_path is None:
        return (
            f"{len(missing)} trajectories have no viewer page: no tokenizer found "
            "(pass --tokenizer DIR or run `srft prepare-model`)."
        )
    from transformers import AutoTokenizer

    from srft_ray.masking import MaskingConfig

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    masking = MaskingConfig(mode=config.mode)
    for round_index, traj in missing:
        path = viewer_page_path(run_dir, round_index, traj.trajectory_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_html(traj, tokenizer, masking, path)
    return ""


# ----------------------------------------------------------------------------- the page

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; }
.meta { color: #666; font-size: 13px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
.charts svg { border: 1px solid #ddd; border-radius: 4px; max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }
.note { background: #fff6d6; border: 1px solid #e8d48a; padding: 6px 10px; font-size: 13px; }
.good { color: #2ca02c; } .unnecessary { color: #ff7f0e; } .mistake { color: #d62728; }
.recover { color: #1f77b4; } .unknown { color: #777; }
"""


def _rate(pair: tuple[int, int] | None) -> str:
    return f"{pair[0]}/{pair[1]} ({pair[0] / pair[1]:.0%})" if pair and pair[1] else "n/a"


def _charts(rounds: list[RoundData], base: dict[str, Any] | None = None) -> list[str]:
    names = [f"round {d.manifest.round_index}" for d in rounds]
    xs = [d.manifest.round_index for d in rounds]

    def rate_points(attr: str) -> list[tuple[float, float]]:
        pairs = [(x, getattr(d, attr)) for x, d in zip(xs, rounds, strict=True)]
        if attr == "eval_resolved" and base:  # the base model sits at round -1
            pairs.insert(
                0, (-1, (int(base.get("num_resolved", 0)), int(base.get("num_episodes", 0))))
            )
        return [(x, 100 * p[0] / p[1]) for x, p in pairs if p and p[1]]

    held_out_ci = [(x, d.eval_ci95) for x, d in zip(xs, rounds, strict=True)]
    if base:
        held_out_ci.insert(0, (-1, ci95_of(base)))
    whiskers = [(x, 100 * ci[0], 100 * ci[1]) for x, ci in held_out_ci if ci]

    label_counts = [d.label_counts or {} for d in rounds]
    return [
        line_chart(
            {
                "held-out (evaluate)": rate_points("eval_resolved"),
                "collected (training tasks)": rate_points("collect_resolved"),
            },
            title="Resolve rate per round (held-out: 95% CI)",
            x_label="round",
            y_label="resolved (%)",
            y_format="{:g}%",
            y_range=(0, None),
            min_top=10,
            integer_x=True,
            x_names={-1: "base"},
            intervals={"held-out (evaluate)": whiskers},
        ),
        bar_chart(
            names,
            {"mistakes": [c.get("mistake", 0) for c in label_counts]},
            title="Steps labelled mistake per round (loss-masked by SRFT)",
            x_label="round",
            y_label="steps",
            colors={"mistakes": LABEL_COLORS["mistake"]},
            y_format="{:g}",
        ),
        line_chart(
            {
                "trained tokens / all tokens": [
                    (x, 100 * d.trained_token_share)
                    for x, d in zip(xs, rounds, strict=True)
                    if d.trained_token_share is not None
                ]
            },
            title="Trained-token share per round",
            x_label="round",
            y_label="share (%)",
            y_format="{:g}%",
            y_range=(0, None),
            min_top=10,
            integer_x=True,
        ),
        line_chart(
            {name: d.losses for name, d in zip(names, rounds, strict=True) if d.losses},
            title="Training loss per optimizer step",
            x_label="step",
            y_label="loss (mean over trained tokens)",
            integer_x=True,
        ),
        bar_chart(
            names,
            {label: [c.get(label, 0) for c in label_counts] for label in LABEL_COLORS},
            title="Step labels per round",
            x_label="round",
            y_label="steps",
            colors=LABEL_COLORS,
            y_format="{:g}",
        ),
        _wall_chart(names, rounds),
    ]


def _wall_chart(names: list[str], rounds: list[RoundData]) -> str:
    # Stacked stage walls add up to more than the round took where stages overlap (critique
    # streams beside collect); the title says so rather than hiding either figure.
    walls = {stage: [d.manifest.stages[stage].wall_s for d in rounds] for stage in STAGES}
    longest = max((sum(w[i] for w in walls.values()) for i in range(len(rounds))), default=0)
    unit, scale = ("minutes", 60.0) if longest >= 120 else ("seconds", 1.0)
    return bar_chart(
        names,
        {stage: [w / scale for w in values] for stage, values in walls.items()},
        title="Stage wall time per round (overlapping stages stack)",
        x_label="round",
        y_label=unit,
        y_format="{:.3g}",
    )


def _summary_table(rounds: list[RoundData]) -> str:
    head = ["round", "status", "collected resolved", "held-out resolved", "mistake steps"]
    head += ["trained-token share", "final loss"] + [f"{s} wall" for s in STAGES]
    rows = []
    for d in rounds:
        counts = d.label_counts or {}
        total = sum(counts.values())
        mistakes = counts.get("mistake", 0)
        bad = f"{mistakes}/{total} ({mistakes / total:.0%})" if total else "n/a"
        share = "n/a" if d.trained_token_share is None else f"{d.trained_token_share:.1%}"
        loss = f"{d.losses[-1][1]:.4g}" if d.losses else "n/a"
        cells = [str(d.manifest.round_index), d.manifest.status, _rate(d.collect_resolved)]
        cells += [_rate(d.eval_resolved), bad, share, loss]
        cells += [format_duration(d.manifest.stages[s].wall_s) for s in STAGES]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _trajectory_table(run_dir: Path, out: Path, data: RoundData) -> str:
    head = "<tr><th class=l>trajectory</th><th class=l>task</th><th>steps</th>"
    head += "".join(f"<th>{kind}</th>" for kind in LABEL_COLORS)
    head += "<th>resolved</th><th class=l>viewer</th></tr>"
    rows = []
    for traj in data.trajectories:
        labels = [step_label(s) for s in traj.steps]
        page = viewer_page_path(run_dir, data.manifest.round_index, traj.trajectory_id)
        link = (
            f'<a href="{escape(os.path.relpath(page, out.parent))}">open</a>'
            if page.exists()
            else "-"
        )
        resolved = {True: "yes", False: "no", None: "?"}[traj.outcome.resolved]
        rows.append(
            f"<tr><td class=l>{escape(traj.trajectory_id)}</td>"
            f"<td class=l>{escape(traj.instance_id)}</td><td>{traj.num_steps}</td>"
            + "".join(f"<td class={k}>{labels.count(k)}</td>" for k in LABEL_COLORS)
            + f"<td>{resolved}</td><td class=l>{link}</td></tr>"
        )
    shown = f"{len(data.trajectories)} of {data.num_trajectories}"
    return f"<p class=meta>{shown} trajectories</p><table>{head}{''.join(rows)}</table>"


def _climb_section(run_dir: Path, rounds: list[RoundData]) -> list[str]:
    """Round to round on the same held-out tasks (srft_ray.present.climb)."""
    from srft_ray.present.climb import climb, climb_table, eval_outcomes

    evaluations = [(-1, eval_outcomes(run_dir / "base" / "eval"))]
    evaluations += [(d.manifest.round_index, eval_outcomes(d.manifest.paths.eval)) for d in rounds]
    found = [(index, outcomes) for index, outcomes in evaluations if outcomes]
    if len(found) < 2:
        return []
    note = "<p class=meta>Paired on the same held-out tasks (a failed episode is unresolved): "
    note += "difference in resolve rate, 95% paired-bootstrap interval, sign-flip p.</p>"
    return ["<h2>Round to round</h2>", note, climb_table(climb(found))]


def render_page(run: RunManifest, rounds: list[RoundData], out: Path, note: str) -> str:
    title = f"srft-ray run {run.run_dir.name}"
    parts = [
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class=meta>{escape(str(run.run_dir.resolve()))} &middot; config "
        f"{escape(str(run.data.get('config_hash', ''))[:16])} &middot; {len(rounds)} rounds "
        f"&middot; generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')}</p>",
    ]
    if note:
        parts.append(f"<p class=note>{escape(note)}</p>")
    parts += ["<h2>Rounds</h2>", _summary_table(rounds)]
    parts += _climb_section(run.run_dir, rounds)
    parts.append("<div class=charts>")
    parts += _charts(rounds, base_metrics(run.run_dir))
    parts.append("</div>")
    ablation = run.run_dir / "ablate" / "results.json"
    if ablation.exists():
        from srft_ray.present.ablation_report import ablation_section

        parts += ablation_section(json.loads(ablation.read_text()))
    for data in rounds:
        parts.append(f"<h2>Round {data.manifest.round_index}</h2>")
        parts.append(f"<pre>{escape(format_round_summary(data.manifest))}</pre>")
        parts.append(_trajectory_table(run.run_dir, out, data))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | Path, config: ReportConfig | None = None) -> Path:
    """Write the page (and missing viewer pages); returns the HTML file's path."""
    config = config or ReportConfig()
    run = RunManifest.load(run_dir)
    out = Path(config.out) if config.out else report_dir(run.run_dir) / "index.html"
    rounds = [load_round(m, config.max_trajectories_per_round) for m in run.rounds()]
    note = write_viewer_pages(run.run_dir, rounds, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(render_page(run, rounds, out, note), encoding="utf-8")
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srft report", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run directory (holds run.json and round-NNN/)")
    parser.add_argument("--out", default="", help="HTML file (default RUN_DIR/report/index.html)")
    parser.add_argument("--max-trajectories", type=int, default=20, help="listed per round")
    parser.add_argument("--tokenizer", default="", help="tokenizer folder for viewer pages")
    parser.add_argument("--mode", default="srft", choices=("rft", "srft", "all"))
    parser.add_argument("--no-viewer-pages", action="store_true", help="only link existing pages")
    args = parser.parse_args(argv)
    config = ReportConfig(
        out=args.out,
        max_trajectories_per_round=args.max_trajectories,
        tokenizer=args.tokenizer,
        mode=args.mode,
        viewer_pages=not args.no_viewer_pages,
    )
    started = time.monotonic()
    try:
        out = write_report(args.run_dir, config)
    except DataError as exc:
        print(f"srft report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
