"""The ablation's part of the report page: resolve rates with 95% intervals, paired differences,
the data-size curve and the label-quality curve (inline SVG, like the rest of the page)."""

from __future__ import annotations

from html import escape
from typing import Any

from srft_ray.present.svg_plots import line_chart

WIDTH, ROW, LEFT, RIGHT = 640, 26, 170, 40


def interval_chart(rows: list[tuple[str, float, float, float]], *, title: str) -> str:
    """One line per method: a dot at the rate and a whisker over its 95% interval (0-100%)."""
    height = 50 + ROW * len(rows)
    span = WIDTH - LEFT - RIGHT

    def x(value: float) -> float:
        return LEFT + span * max(0.0, min(1.0, value))

    body = [
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" class="title">{escape(title)}</text>'
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(
            f'<line x1="{x(tick):.1f}" y1="28" x2="{x(tick):.1f}" y2="{height - 18}" '
            'stroke="#ddd"/>'
            f'<text x="{x(tick):.1f}" y="{height - 4}" text-anchor="middle">{tick:.0%}</text>'
        )
    for i, (name, rate, low, high) in enumerate(rows):
        y = 40 + ROW * i
        body.append(
            f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end">{escape(name)}</text>'
            f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" stroke="#4477aa" '
            'stroke-width="2"/>'
            f'<circle cx="{x(rate):.1f}" cy="{y}" r="4" fill="#4477aa"/>'
            f'<text x="{x(high) + 6:.1f}" y="{y + 4}">{rate:.0%}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="sans-serif" font-size="12">{"".join(body)}</svg>'
    )


def ablation_section(results: dict[str, Any]) -> list[str]:
    """HTML blocks for RUN_DIR/ablate/results.json."""
    methods = results.get("methods", {})
    main = [(n, m) for n, m in methods.items() if "@" not in n and "f1=" not in n]
    parts = ["<h2>Ablation: held-out resolve rate (95% CI over tasks and seeds)</h2>"]
    parts.append(
        interval_chart(
            [(n, m["resolve_rate"], *m["ci95"]) for n, m in main],
            title="Resolve rate on held-out repositories",
        )
    )
    head = "<tr><th>method</th><th>resolved</th><th>95% CI</th><th>episodes</th><th>steps</th>"
    head += "<th>trained tokens</th><th>epochs</th><th>label F1</th></tr>"
    rows = []
    for name, m in methods.items():
        cells = [
            f"{m['resolve_rate']:.1%}",
            f"{m['ci95'][0]:.1%} - {m['ci95'][1]:.1%}",
            str(m["num_episodes"]),
            _num(m.get("optimizer_steps")),
            _num(m.get("trained_tokens")),
            _num(m.get("epochs"), "{:.1f}"),
            _num(m.get("label_f1"), "{:.2f}"),
        ]
        rows.append(
            f"<tr><td class=l>{escape(name)}</td>" + "".join(f"<td>{c}</td>" for c in cells)
        )
    parts.append(f"<table>{head}{''.join(rows)}</table>")
    pairs = results.get("pairs", {})
    if pairs:
        head = "<tr><th>pair</th><th>difference</th><th>95% CI</th><th>p</th></tr>"
        body = "".join(
            f"<tr><td class=l>{escape(k)}</td><td>{p['diff']:+.3f}</td>"
            f"<td>{p['ci95'][0]:+.3f} - {p['ci95'][1]:+.3f}</td><td>{p['p']:.3f}</td></tr>"
            for k, p in pairs.items()
        )
        parts.append(f"<h3>Paired differences (same tasks)</h3><table>{head}{body}</table>")
    charts = []
    curve = [c for c in results.get("curve", []) if c.get("label_f1") is not None]
    if curve:
        xs = [c["label_f1"] for c in curve]
        # Series in CURVE_ORDER, so that a method has the same colour in both curve charts.
        series = {
            f"{ref} (reference)": [(v, 100 * methods[ref]["resolve_rate"]) for v in xs]
            for ref in CURVE_ORDER
            if ref != "srft" and ref in methods
        }
        series["srft"] = [(c["label_f1"], 100 * c["resolve_rate"]) for c in curve]
        whiskers = {"srft": [_whisker(c["label_f1"], c) for c in curve]}
        charts.append(
            line_chart(
                series,
                title="Resolve rate vs label F1 (95% CI)",
                intervals=whiskers,
                x_label="label F1",
                y_label="resolved (%)",
                y_format="{:g}%",
                y_range=(0, None),
                min_top=10,
            )
        )
    data_curve = results.get("data_curve", [])
    if data_curve:
        series: dict[str, list[tuple[float, float]]] = {}
        whiskers = {}
        for c in sorted(data_curve, key=lambda c: _curve_rank(c["method"])):
            series.setdefault(c["method"], []).append(
                (c["num_trajectories"], 100 * c["resolve_rate"])
            )
            whiskers.setdefault(c["method"], []).append(_whisker(c["num_trajectories"], c))
        charts.append(
            line_chart(
                series,
                title="Resolve rate vs collected trajectories (95% CI)",
                intervals=whiskers,
                x_label="teacher trajectories",
                y_label="resolved (%)",
                y_format="{:g}%",
                y_range=(0, None),
                min_top=10,
            )
        )
    if charts:
        parts += ["<div class=charts>", *charts, "</div>"]
    return parts


CURVE_ORDER = ("all", "rft", "srft")


def _curve_rank(method: str) -> int:
    return CURVE_ORDER.index(method) if method in CURVE_ORDER else len(CURVE_ORDER)


def _whisker(x: float, point: dict[str, Any]) -> tuple[float, float, float]:
    return (x, 100 * point["ci95"][0], 100 * point["ci95"][1])


def _num(value: Any, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)
