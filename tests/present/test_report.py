"""`srft report` on a synthetic run directory made of real stores, manifests and metrics files."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from srft_ray.cli import main as srft_main
from srft_ray.data.store import TrajectoryStore
from srft_ray.present.report import main as report_main
from srft_ray.present.report import step_label, viewer_page_path
from srft_ray.present.svg_plots import bar_chart, line_chart, nice_ticks
from srft_ray.runstate.manifest import RoundManifest, round_paths

SVG_NS = "{http://www.w3.org/2000/svg}"


class Collector(HTMLParser):
    """Collects hrefs/srcs and checks tags are balanced for the elements we emit."""

    def __init__(self):
        super().__init__()
        self.links, self.sources, self.stack = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "href" in attrs:
            self.links.append(attrs["href"])
        if "src" in attrs:
            self.sources.append(attrs["src"])
        if tag in ("table", "svg", "pre", "div", "details"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in ("table", "svg", "pre", "div", "details"):
            assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def test_report_page_shows_what_the_stores_hold(synthetic_run, capsys):
    out = synthetic_run / "elsewhere" / "page.html"
    args = ["report", str(synthetic_run), "--out", str(out), "--no-viewer-pages"]
    assert srft_main(args) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    html = out.read_text()

    parser = Collector()
    parser.feed(html)
    assert parser.stack == [] and parser.sources == []  # self-contained: nothing to fetch
    assert "<script" not in html and "https://" not in html
    assert not [link for link in parser.links if link.startswith(("http:", "https:", "//"))]

    svgs = _svgs(html)  # each chart is well-formed XML
    titles = [s.find(f"{SVG_NS}text").text for s in svgs]
    assert titles == [
        "Resolve rate per round (held-out: 95% CI)",
        "Steps labelled mistake per round (loss-masked by SRFT)",
        "Trained-token share per round",
        "Training loss per optimizer step",
        "Step labels per round",
        "Stage wall time per round (overlapping stages stack)",
    ]
    loss_lines = svgs[3].findall(f"{SVG_NS}polyline")
    assert [len(p.get("points").split()) for p in loss_lines] == [20, 20]

    for r in (0, 1):
        paths = round_paths(synthetic_run, r)
        collected = TrajectoryStore(paths.collected).read_all()
        resolved = sum(bool(t.outcome.resolved) for t in collected)
        labelled = TrajectoryStore(paths.labelled).read_all()
        labels = [step_label(s) for t in labelled for s in t.steps]
        mistakes = labels.count("mistake")
        row = re.search(rf"<tr><td>{r}</td><td>done</td>(.*?)</tr>", html).group(1)
        assert f"{resolved}/12 ({resolved / 12:.0%})" in row
        assert f"{mistakes}/{len(labels)} ({mistakes / len(labels):.0%})" in row
        # bar heights of the label chart follow the counts of every kind (tooltip: the value)
        assert f"round {r} mistakes: {mistakes}</title>" in html
        for kind in ("good", "unnecessary", "mistake", "recover", "unknown"):
            assert labels.count(kind) > 0, kind  # the synthetic run has every kind
            assert f"round {r} {kind}: {labels.count(kind)}</title>" in html
        assert html.count(f"<td class=l>r{r}-t") == 12
    assert "20.0%" in html and "21.0%" in html  # trained-token share from the train manifest


def test_links_existing_viewer_pages_relative_to_the_page(synthetic_run):
    page = viewer_page_path(synthetic_run, 0, "r0-t003")
    page.parent.mkdir(parents=True)
    page.write_text("<html>viewer</html>")
    assert report_main([str(synthetic_run), "--no-viewer-pages", "--max-trajectories", "5"]) == 0
    out = synthetic_run / "report" / "index.html"
    parser = Collector()
    parser.feed(out.read_text())
    assert parser.links == ["trajectories/round-000/r0-t003.html"]
    assert (out.parent / parser.links[0]).read_text() == "<html>viewer</html>"
    assert out.read_text().count("5 of 12 trajectories") == 2


def test_generates_viewer_pages_with_a_real_tokenizer(synthetic_run, smollm_dir):
    args = [str(synthetic_run), "--tokenizer", str(smollm_dir), "--max-trajectories", "2"]
    assert report_main(args) == 0
    for r in (0, 1):
        for n in (0, 1):
            assert viewer_page_path(synthetic_run, r, f"r{r}-t00{n}").stat().st_size > 0
    html = (synthetic_run / "report" / "index.html").read_text()
    assert html.count(">open</a>") == 4 and "no viewer page" not in html


def test_partial_run_and_bad_run_dir(tmp_path, synthetic_run, capsys):
    # a round that only collected so far: the page still renders, missing numbers are n/a
    manifest = RoundManifest.load_or_create(synthetic_run, 2)
    manifest.stage("collect").start({"c": "1"})
    assert report_main([str(synthetic_run), "--no-viewer-pages"]) == 0
    html = (synthetic_run / "report" / "index.html").read_text()
    assert re.search(r"<tr><td>2</td><td>running</td><td>n/a</td>", html)

    assert report_main([str(tmp_path / "empty")]) == 2
    assert "not a run directory (no run.json)" in capsys.readouterr().err


def test_svg_charts_scale_values():
    assert nice_ticks(0, 0.58) == [0, 0.2, 0.4, 0.6]
    assert nice_ticks(0, 100) == [0, 25, 50, 75, 100]
    assert nice_ticks(0.96, 2.7)[0] <= 0.96 and nice_ticks(0.96, 2.7)[-1] >= 2.7
    svg = ET.fromstring(bar_chart(["a", "b"], {"n": [10, 5]}, title="t", x_label="", y_label=""))
    heights = [float(r.get("height")) for r in svg.findall(f"{SVG_NS}rect")[1:3]]
    assert heights[0] == pytest.approx(2 * heights[1])
    flat = ET.fromstring(
        line_chart({"rate": [(0, 0.0), (1, 0.0)]}, title="t", x_label="", y_label="", min_top=10)
    )
    labels = [t.text for t in flat.findall(f"{SVG_NS}text")]
    assert "10" in labels and "2.5" in labels  # all-zero data: a 0-10 axis, not 0-1
    steps = ET.fromstring(
        line_chart(
            {"loss": [(1, 2.3), (2, 1.9)]}, title="t", x_label="", y_label="", integer_x=True
        )
    )
    assert "1.5" not in [t.text for t in steps.findall(f"{SVG_NS}text")]
    named = ET.fromstring(
        line_chart(
            {"rate": [(-1, 0.0), (0, 5.0), (1, 0.0)]},
            title="t",
            x_label="",
            y_label="",
            integer_x=True,
            x_names={-1: "base"},
            intervals={"rate": [(0, 0.0, 15.0)]},
        )
    )
    ticks = [t.text for t in named.findall(f"{SVG_NS}text")]
    assert "base" in ticks and "-1" not in ticks and "0" in ticks
    (whisker,) = named.findall(f"{SVG_NS}path")
    assert whisker.find(f"{SVG_NS}title").text == "rate: 0 95% CI 0-15"
    empty = ET.fromstring(line_chart({"x": []}, title="loss", x_label="", y_label=""))
    assert "no data yet" in [t.text for t in empty.findall(f"{SVG_NS}text")]


def test_report_paths_are_portable(synthetic_run, tmp_path):
    # the manifest stores paths relative to the run dir: a moved run still reports
    moved = tmp_path / "moved"
    os.rename(synthetic_run, moved)
    assert report_main([str(moved), "--no-viewer-pages"]) == 0
    resolved = sum(
        bool(t.outcome.resolved) for t in TrajectoryStore(moved / "round-000" / "collected")
    )
    assert f"{resolved}/12" in (moved / "report" / "index.html").read_text()
