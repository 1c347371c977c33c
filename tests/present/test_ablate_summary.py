"""The ablation's summary: the JSON shape the issue asks for, pairs, curves, table and page."""

from __future__ import annotations

import random

from srft_ray.data.model import Task
from srft_ray.present.ablation_report import ablation_section
from srft_ray.rounds import stats
from srft_ray.rounds.ablate import AblateConfig, format_table, plan_arms, summarize

TASKS = [
    Task(instance_id=f"r{i}__t-{i}", repo=f"o/r{i}", base_commit="c", problem_statement="p")
    for i in range(12)
]


def _rows(cfg: AblateConfig) -> list[dict]:
    rng = random.Random(0)
    rate = {"base": 0.0, "all": 0.3, "rft": 0.4}
    rows = []
    for arm in plan_arms(cfg):
        p = rate.get(arm.name.split("@")[0], 0.5)
        outcomes = {
            t.instance_id: [rng.random() < p for _ in range(cfg.samples_per_task)] for t in TASKS
        }
        row = {"arm": arm.name, "seed": arm.seed, "mode": arm.mode or "base", "outcomes": outcomes}
        row["ended"] = {"submitted": 20, "time_limit": arm.seed + 1}
        if arm.mode:
            row.update(
                num_trained_tokens=1000,
                num_tokens=4096 * 4,
                num_optimizer_steps=4,
                epochs=1.5,
                num_trajectories=arm.num_trajectories or 30,
            )
            if arm.target_f1 or arm.variant == "scripted":  # as arm_data measures it
                row["label_f1"] = arm.target_f1 or 1.0
        rows.append(row)
    return rows


def test_summary_has_the_shape_of_the_issue():
    cfg = AblateConfig(
        seeds=[0, 1, 2],
        label_sources=["scripted", "rules"],
        label_f1=[0.74, 0.5],
        data_sizes=[10],
        curve_seeds=[0],
        samples_per_task=2,
    )
    results = summarize(_rows(cfg), cfg, TASKS)
    methods = results["methods"]
    assert {"base", "all", "rft", "srft[scripted]", "srft[rules]", "srft[f1=0.74]"} <= set(methods)
    for name, m in methods.items():
        assert set(m) >= {
            "resolve_rate",
            "ci95",
            "num_tasks",
            "num_episodes",
            "trained_tokens",
            "optimizer_steps",
        }, name
        assert m["ci95"][0] <= m["resolve_rate"] <= m["ci95"][1]
    assert methods["rft"]["num_episodes"] == 3 * 12 * 2 and methods["rft"]["num_seeds"] == 3
    assert methods["base"]["num_episodes"] == 12 * 2 and methods["base"]["optimizer_steps"] is None
    for pair in ("srft-vs-rft", "rft-vs-base", "srft-vs-all", "srft[rules]-vs-srft"):
        assert set(results["pairs"][pair]) >= {"diff", "ci95", "p"}
    assert [c["label_f1"] for c in results["curve"]] == [0.5, 0.74, 1.0]
    sizes = {(c["method"], c["num_trajectories"]) for c in results["data_curve"]}
    # each method's curve ends at its main arm, on all 30 trajectories
    assert sizes == {(m, n) for m in ("all", "rft", "srft") for n in (10, 30)}
    # curve points average the curve seeds only, main arms included: comparable points
    seed0 = [r for r in _rows(cfg) if r["arm"] == "rft" and r["seed"] == 0][0]["outcomes"]
    end = next(
        c for c in results["data_curve"] if c["method"] == "rft" and c["num_trajectories"] == 30
    )
    assert end["resolve_rate"] == round(stats.resolve_rate_ci({"0": seed0})[0], 4)
    assert methods["rft"]["ended"] == {"submitted": 60, "time_limit": 1 + 2 + 3}
    table = format_table(results)
    assert "srft-vs-rft" in table and "95% CI" in table
    rft_line = next(line for line in table.splitlines() if line.startswith("rft "))
    assert rft_line.split()[-1] == "6"  # the timeouts column
    page = "".join(ablation_section(results))
    assert page.count("<svg") == 3 and "srft-vs-rft" in page


def test_curve_charts_give_each_method_one_colour():
    import re

    cfg = AblateConfig(
        methods=["base", "all", "rft", "srft"],
        label_sources=["scripted"],
        seeds=[0],
        label_f1=[0.5],
        data_sizes=[10],
    )
    results = summarize(_rows(cfg), cfg, TASKS)
    results["data_curve"].reverse()  # the chart must not depend on the rows' order
    charts = "".join(ablation_section(results)).split("<svg")[-2:]
    legend = re.compile(r'<rect [^>]*fill="(#[0-9a-f]+)"/>\s*<text [^>]*>(\w+)')
    methods = {"all", "rft", "srft"}
    colours = [{n: fill for fill, n in legend.findall(c) if n in methods} for c in charts]
    assert colours[0] == colours[1] and set(colours[0]) == methods
