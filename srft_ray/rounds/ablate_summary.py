"""The ablation's results: per-arm rows -> rates with intervals, paired differences, the two
curves (the JSON `srft ablate --out` writes), and the printed table."""

from __future__ import annotations

from typing import Any

from srft_ray.data.model import Task
from srft_ray.rounds import stats

METHODS = ("base", "all", "rft", "srft")
LABEL_VARIANTS = ("scripted", "rules", "critic", "critic_or_rules")


def summarize(rows: list[dict[str, Any]], cfg: Any, eval_tasks: list[Task]) -> dict[str, Any]:
    """Per arm name: rate, CI over tasks and seeds, budget; pairs; the two curves."""
    by_name: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_name.setdefault(row["arm"], {"outcomes": {}, "rows": []})
        entry["outcomes"][str(row["seed"])] = row["outcomes"]
        entry["rows"].append(row)
    methods: dict[str, Any] = {}
    for name, entry in by_name.items():
        rate, ci = stats.resolve_rate_ci(entry["outcomes"])
        trained = [r for r in entry["rows"] if r["mode"] != "base"]
        methods[name] = {
            "resolve_rate": round(rate, 4),
            "ci95": [round(ci[0], 4), round(ci[1], 4)],
            "num_tasks": len(eval_tasks),
            "num_episodes": stats.num_episodes(entry["outcomes"]),
            "num_seeds": len(entry["outcomes"]),
            "trained_tokens": _mean(trained, "num_trained_tokens"),
            "tokens": _mean(trained, "num_tokens"),
            "optimizer_steps": _mean(trained, "num_optimizer_steps"),
            "epochs": _mean(trained, "epochs"),
            "num_trajectories": _mean(trained, "num_trajectories"),
            "label_f1": _mean(trained, "label_f1"),
            "num_failed_episodes": sum(r.get("num_failed_episodes", 0) for r in entry["rows"]),
            "errors": [r["error"] for r in entry["rows"] if r.get("error")],
            "ended": _summed(r.get("ended", {}) for r in entry["rows"]),
        }
    default_srft = f"srft[{cfg.srft_label_source}]"
    pairs: dict[str, Any] = {}
    main = [n for n in methods if "@" not in n and "f1=" not in n]
    for a in main:
        for b in main:
            if a != b and _order(a) > _order(b):
                key = f"{a}-vs-{b}".replace(default_srft, "srft")
                pairs[key] = _rounded(
                    stats.paired_comparison(by_name[a]["outcomes"], by_name[b]["outcomes"])
                )
    # Both curves read the curve seeds only, main arms included, so every point of a curve
    # averages the same seeds (the main table may have more).
    curve_seeds = {str(s) for s in cfg.curve_seeds}

    def at_curve_seeds(name: str) -> dict[str, Any]:
        outcomes = {
            s: o for s, o in by_name[name]["outcomes"].items() if s in curve_seeds
        } or by_name[name]["outcomes"]
        rate, ci = stats.resolve_rate_ci(outcomes)
        return {"resolve_rate": round(rate, 4), "ci95": [round(ci[0], 4), round(ci[1], 4)]}

    curve = [
        {"label_f1": methods[n]["label_f1"], **at_curve_seeds(n), "method": n}
        for n in methods
        if "f1=" in n or n == default_srft
    ]
    data_curve = []
    for n in methods:
        if "@n=" in n:
            method, size = n.split("@n=")
            data_curve.append(
                {"num_trajectories": int(size), "method": method, **at_curve_seeds(n)}
            )
    # The curve ends at the main arm: the same method on every collected trajectory.
    for method in sorted({c["method"] for c in data_curve}):
        if method in methods and methods[method]["num_trajectories"]:
            data_curve.append(
                {
                    "num_trajectories": int(methods[method]["num_trajectories"]),
                    "method": method,
                    **at_curve_seeds(method),
                }
            )
    for c in data_curve:
        c["method"] = c["method"].replace(default_srft, "srft")
    return {
        "methods": methods,
        "pairs": pairs,
        "curve": sorted(curve, key=lambda c: c["label_f1"] or 0.0),
        "data_curve": sorted(data_curve, key=lambda c: (c["method"], c["num_trajectories"])),
    }


def _order(name: str) -> int:
    """base < all < rft < srft[...]: a pair reads "more filtering vs less"."""
    fixed = {"base": 0, "all": 1, "rft": 2}
    if name in fixed:
        return fixed[name]
    variant = name.removeprefix("srft[").removesuffix("]")
    return 3 + LABEL_VARIANTS.index(variant) if variant in LABEL_VARIANTS else 9


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(sum(values) / len(values), 3) if values else None


def _rounded(pair: dict[str, Any]) -> dict[str, Any]:
    out = dict(pair)
    out["diff"] = round(out["diff"], 4)
    out["ci95"] = [round(v, 4) for v in out["ci95"]]
    out["p"] = round(out["p"], 4)
    return out


def _summed(counts) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))


def format_table(results: dict[str, Any]) -> str:
    """Resolve rate with its 95% interval per arm, then the paired differences."""
    header = (
        f"{'method':<22} {'resolved':>7} {'95% CI':>15} {'episodes':>8} {'steps':>6} "
        f"{'trained tok':>11} {'epochs':>6} {'label F1':>8} {'timeouts':>8}"
    )
    lines = [header, "-" * len(header)]
    for name, m in results["methods"].items():
        ci = f"[{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]"
        steps = "-" if m["optimizer_steps"] is None else f"{m['optimizer_steps']:.0f}"
        tokens = "-" if m["trained_tokens"] is None else f"{m['trained_tokens']:.0f}"
        epochs = "-" if m["epochs"] is None else f"{m['epochs']:.1f}"
        f1 = "-" if m["label_f1"] is None else f"{m['label_f1']:.2f}"
        timeouts = m.get("ended", {}).get("time_limit", 0)
        lines.append(
            f"{name:<22} {m['resolve_rate']:>7.1%} {ci:>15} {m['num_episodes']:>8} {steps:>6} "
            f"{tokens:>11} {epochs:>6} {f1:>8} {timeouts:>8}"
        )
    if results["pairs"]:
        lines += ["", f"{'pair':<34} {'diff':>7} {'95% CI':>17} {'p':>6}"]
        for key, p in results["pairs"].items():
            ci = f"[{p['ci95'][0]:+.2f}, {p['ci95'][1]:+.2f}]"
            lines.append(f"{key:<34} {p['diff']:>+7.3f} {ci:>17} {p['p']:>6.3f}")
    return "\n".join(lines)
