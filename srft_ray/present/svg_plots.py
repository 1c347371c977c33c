"""Small inline-SVG charts (line and bar) for the HTML report: no JavaScript, no network.

Each chart is a self-contained <svg> string; hovering a point or bar shows its value (<title>).
"""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
# One colour per step kind, shared by the report's charts and `srft view`.
LABEL_COLORS = {
    "good": "#2ca02c",
    "unnecessary": "#ff7f0e",
    "mistake": "#d62728",
    "recover": "#1f77b4",
    "unknown": "#9e9e9e",
}

WIDTH, HEIGHT = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 62, 16, 40, 46


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _frame(title: str, x_label: str, y_label: str, body: list[str]) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14" '
        f'font-weight="600">{escape(title)}</text>',
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text transform="translate(14 {TOP + (HEIGHT - TOP - BOTTOM) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>',
        *body,
        "</svg>",
    ]
    return "\n".join(parts)


def _empty(title: str, note: str) -> str:
    return _frame(
        title,
        "",
        "",
        [
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#888">'
            f"{escape(note)}</text>"
        ],
    )


def _y_axis(ticks: list[float], y_of, y_format: str) -> list[str]:
    out = []
    for tick in ticks:
        y = y_of(tick)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(y_format.format(tick))}</text>"
        )
    out.append(
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#555"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="#555"/>'
    )
    return out


def _legend(names: list[str], colors: list[str]) -> list[str]:
    out, x = [], LEFT + 4
    for name, color in zip(names, colors, strict=True):
        out.append(f'<rect x="{x}" y="{TOP - 14}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{TOP - 5}">{escape(name)}</text>')
        x += 24 + 6.5 * len(name)
    return out


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_format: str = "{:.3g}",
    y_range: tuple[float | None, float | None] = (None, None),
    min_top: float | None = None,
    integer_x: bool = False,
    x_names: dict[float, str] | None = None,
    intervals: dict[str, list[tuple[float, float, float]]] | None = None,
) -> str:
    """One polyline per series; points get markers (with a value tooltip) when there are few.
    `x_names` writes a name instead of the number at those x ticks (e.g. -1 -> "base").
    `intervals` draws a whisker (x, low, high) per point of the series it names, e.g. a 95% CI.

    `min_top` keeps the y axis from zooming into noise (all-zero resolve rates read as 0-10%,
    not 0-1%).
    """
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    if not points:
        return _empty(title, "no data yet")
    whiskers = {name: (intervals or {}).get(name, []) for name in series}
    xs = [p[0] for p in points]
    ys = [p[1] for p in points] + [
        v for w in whiskers.values() for _, lo, hi in w for v in (lo, hi)
    ]
    top = y_range[1] if y_range[1] is not None else max(ys)
    if min_top is not None:
        top = max(top, min_top)
    y_ticks = nice_ticks(y_range[0] if y_range[0] is not None else min(ys), top)
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    x_ticks = nice_ticks(x_low, x_high, count=6)
    if integer_x:
        x_ticks = sorted({int(round(t)) for t in x_ticks if x_low <= round(t) <= x_high})
    y_low, y_high = y_ticks[0], y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(x: float) -> float:
        return LEFT + 8 + (x - x_low) / (x_high - x_low) * (plot_w - 16)

    def y_of(y: float) -> float:
        return TOP + plot_h - (y - y_low) / (y_high - y_low or 1) * plot_h

    body = _y_axis(y_ticks, y_of, y_format)
    for tick in x_ticks:
        if x_low <= tick <= x_high:
            body.append(
                f'<text x="{x_of(tick):.1f}" y="{HEIGHT - BOTTOM + 15}" '
                f'text-anchor="middle">{escape((x_names or {}).get(tick, f"{tick:g}"))}</text>'
            )
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    for (name, values), color in zip(series.items(), colors, strict=True):
        values = [p for p in values if math.isfinite(p[1])]
        coords = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in values)
        body.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, low, high in whiskers[name]:
            cx, top_y, low_y = x_of(x), y_of(high), y_of(low)
            body.append(
                f'<path d="M{cx - 4:.1f},{top_y:.1f}h8M{cx:.1f},{top_y:.1f}V{low_y:.1f}'
                f'M{cx - 4:.1f},{low_y:.1f}h8" stroke="{color}" stroke-width="1.2" fill="none">'
                f"<title>{escape(name)}: {x:g} 95% CI {escape(y_format.format(low))}-"
                f"{escape(y_format.format(high))}</title></path>"
            )
        if len(values) <= 40:
            for x, y in values:
                body.append(
                    f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="3.5" fill="{color}">'
                    f"<title>{escape(name)}: {x:g} -> {escape(y_format.format(y))}</title>"
                    "</circle>"
                )
    body += _legend(list(series), colors)
    return _frame(title, x_label, y_label, body)


def bar_chart(
    categories: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    colors: dict[str, str] | None = None,
    stacked: bool = True,
    y_format: str = "{:.3g}",
) -> str:
    """Bars per category: stacked segments (one per series) or side by side."""
    if not categories or not series:
        return _empty(title, "no data yet")
    names = list(series)
    color_list = [
        (colors or {}).get(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(names)
    ]
    heights = (
        [sum(series[n][i] for n in names) for i in range(len(categories))]
        if stacked
        else [v for n in names for v in series[n]]
    )
    y_ticks = nice_ticks(0.0, max(heights) or 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_high = y_ticks[-1]

    def y_of(y: float) -> float:
        return TOP + plot_h - y / y_high * plot_h

    body = _y_axis(y_ticks, y_of, y_format)
    slot = plot_w / len(categories)
    bar_w = min(60.0, slot * 0.7)
    for i, category in enumerate(categories):
        center = LEFT + slot * (i + 0.5)
        body.append(
            f'<text x="{center:.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="middle">'
            f"{escape(category)}</text>"
        )
        base = 0.0
        for j, (name, color) in enumerate(zip(names, color_list, strict=True)):
            value = series[name][i]
            if stacked:
                x, w, bottom = center - bar_w / 2, bar_w, base
                base += value
            else:
                w = bar_w / len(names)
                x, bottom = center - bar_w / 2 + j * w, 0.0
            top_y, bottom_y = y_of(bottom + value), y_of(bottom)
            body.append(
                f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{w:.1f}" '
                f'height="{max(0.0, bottom_y - top_y):.1f}" fill="{color}">'
                f"<title>{escape(category)} {escape(name)}: {escape(y_format.format(value))}"
                "</title></rect>"
            )
    body += _legend(names, color_list)
    return _frame(title, x_label, y_label, body)
