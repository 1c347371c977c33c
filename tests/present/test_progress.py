"""The progress printer (terminal and log modes) and the one-screen round summary."""

from __future__ import annotations

import io
import logging
import re

import pytest

from srft_ray import logs
from srft_ray.present import progress
from srft_ray.present.progress import (
    Progress,
    ProgressConfig,
    format_duration,
    format_rate,
    format_round_summary,
    stage_line,
)
from srft_ray.runstate.manifest import RoundManifest


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(text: str) -> list[str]:
    """What a terminal shows after `text`: enough of one to read carriage returns, newlines,
    cursor-up (ESC[nA) and erase-below (ESC[J), the only controls the live lines use."""
    rows, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[\d*[AJ]|\r|\n|[^\x1b\r\n]+", text):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            rows += [""] * (row + 1 - len(rows))
        elif token.endswith("A"):
            row = max(0, row - int(token[2:-1] or 1))
        elif token.endswith("J"):
            rows = rows[:row] + [rows[row][:col]]
        else:
            line = rows[row].ljust(col)
            rows[row] = line[:col] + token + line[col + len(token) :]
            col += len(token)
    return rows


@pytest.fixture(autouse=True)
def _fresh_live_regions(monkeypatch):
    monkeypatch.setattr(progress, "_REGIONS", {})
    monkeypatch.setattr(logs, "_LIVE_DISPLAYS", [])
    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)


def test_rate_and_eta_are_exact():
    clock = FakeClock()
    p = Progress("collect", total=40, unit="episodes", stream=io.StringIO(), clock=clock)
    clock.now += 20
    p.update(10)
    assert p.rate == 0.5 and p.eta_s == 60.0  # 30 left at 0.5/s
    assert "10/40 episodes (25%)  30.00 episodes/min  elapsed 20s  eta 1m00s" in p.line()
    p.update(30)
    assert p.eta_s == 0.0 and "eta" not in p.line()  # done: no ETA shown

    # Resumed at 10 of 40: the 10 done before do not count in the rate.
    resumed = Progress("train", 40, unit="steps", initial=10, stream=io.StringIO(), clock=clock)
    clock.now += 4
    resumed.update(8)
    assert resumed.rate == 2.0 and resumed.eta_s == 11.0  # 22 left at 2/s
    assert "18/40 steps (45%)  2.0 steps/s  elapsed 4.0s  eta 11s" in resumed.line()

    unknown = Progress("critique", unit="trajectories", stream=io.StringIO(), clock=clock)
    assert unknown.rate == 0.0 and unknown.eta_s is None  # no time passed, no total
    clock.now += 2
    unknown.update(3)
    assert unknown.eta_s is None and "3 trajectories  1.5 trajectories/s" in unknown.line()


def test_log_mode_prints_periodic_lines_with_rate_and_eta():
    clock, out = FakeClock(), io.StringIO()
    config = ProgressConfig(line_interval_s=10)
    with Progress(
        "collect", total=40, unit="episodes", stream=out, config=config, clock=clock
    ) as p:
        for _ in range(20):
            clock.now += 1.0  # one episode every 2 s -> 0.5/s = 30/min
            p.update(1, resolved=3)
            clock.now += 1.0
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    # the first episode prints at once, then one line per 10 s of clock, then the final line
    assert len(lines) == 5
    assert lines[0].startswith("collect  1/40 episodes (2%)")
    assert lines[1].startswith("collect  6/40 episodes (15%)")
    assert "30.00 episodes/min" in lines[-1] and "elapsed 40s" in lines[-1]
    assert "eta 40s" in lines[-1] and "resolved=3" in lines[-1]


def test_log_mode_stays_short_for_a_thousand_updates():
    clock, lines = FakeClock(), []
    config = ProgressConfig(line_interval_s=10)
    p = Progress("critique", 1000, unit="steps", log=lines.append, config=config, clock=clock)
    for _ in range(1000):
        clock.now += 0.125  # 125 s in all
        p.update(1, detail="labels {...}")
    p.close()
    # at 0.125 s (the first step), then at 10.125, 20.125, ... 120.125, then the summary
    assert len(lines) == 1 + 12 + 1 <= 2 + 125 / config.line_interval_s
    assert lines[-1] == (
        "critique  1000/1000 steps (100%)  8.0 steps/s  elapsed 2m05s  labels {...}"
    )


def test_log_mode_prints_nothing_until_there_is_progress_or_the_interval_passes():
    clock, lines = FakeClock(), []
    config = ProgressConfig(line_interval_s=15)
    p = Progress("collect", 4, unit="episodes", log=lines.append, config=config, clock=clock)
    for _ in range(14):  # workers starting: polls without progress
        clock.now += 1
        p.update(0)
    assert lines == []
    clock.now += 1
    p.update(0)
    assert len(lines) == 1 and lines[0].startswith("collect  0/4 episodes (0%)")
    assert "eta ?" in lines[0]


def test_terminal_shows_one_live_line_per_open_counter_and_logs_above_them():
    clock, tty = FakeClock(), TTY()
    logger = logging.getLogger("srft_ray.test_progress")
    handler = logs.ConsoleHandler(tty)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        collect = Progress(
            "[collect]", 10, unit="episodes", log=logger.info, stream=tty, clock=clock
        )
        critique = Progress(
            "[critique]", unit="trajectories", log=logger.info, stream=tty, clock=clock
        )
        assert collect.is_live and critique.is_live
        for _ in range(5):
            clock.now += 1
            collect.update(1)
            critique.update(2)
        logger.info("a worker died; started another")
        shown = screen(tty.getvalue())
        assert shown[0] == "a worker died; started another"
        assert shown[1].startswith("[collect]  [############............]  5/10 episodes (50%)")
        assert "1.0 episodes/s" in shown[1] and "eta 5.0s" in shown[1]
        assert shown[2].startswith("[critique]  10 trajectories  2.0 trajectories/s")
        assert len(shown) == 3  # the live lines sit at the bottom, not once per redraw
        collect.update(5)
        collect.close()
        clock.now += 1
        critique.update(2)
        critique.close()
    finally:
        logger.removeHandler(handler)
    shown = screen(tty.getvalue())
    assert shown[1].startswith("[collect]  10/10 episodes (100%)  2.0 episodes/s")
    assert shown[2].startswith("[critique]  12 trajectories  2.0 trajectories/s  elapsed 6.0s")
    assert shown[3:] == [""]  # both summaries printed for good, no live line left


def test_verbose_prints_plain_lines_on_a_terminal_too(monkeypatch):
    monkeypatch.setenv(logs.VERBOSE_ENV, "1")
    clock, tty = FakeClock(), TTY()
    p = Progress("[train]", 3, unit="steps", stream=tty, clock=clock)
    clock.now += 2
    p.update(1)
    p.close()
    assert not p.is_live and "\x1b" not in tty.getvalue()
    assert (
        tty.getvalue().splitlines()
        == ["[train]  1/3 steps (33%)  30.00 steps/min  elapsed 2.0s  eta 4.0s"] * 2
    )


def test_terminal_lines_fit_the_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    tty = TTY()
    p = Progress("[collect]", 10, unit="episodes", stream=tty, clock=FakeClock())
    p.update(1, detail="x" * 200)
    assert max(len(row) for row in screen(tty.getvalue())) <= 39


def test_formatters():
    assert format_duration(3725) == "1h02m" and format_duration(185) == "3m05s"
    assert format_duration(42.4) == "42s" and format_duration(0.84) == "0.8s"
    assert format_duration(None) == "?"
    assert format_rate(1700.0, "tok") == "1,700.0 tok/s" and format_rate(0.1, "ep") == "6.00 ep/min"
    assert format_rate(2.5, "episodes", per_minute=True) == "150.00 episodes/min"


def test_round_summary_shows_every_stage(synthetic_run):
    manifest = RoundManifest.load_or_create(synthetic_run, 1)
    text = format_round_summary(manifest)
    lines = text.splitlines()
    assert lines[0].startswith("round 1  [done]")
    assert len(lines) == 6 and len(text.splitlines()) <= 24  # fits one screen
    collect = manifest.stages["collect"].metrics
    assert f"resolved {collect['num_resolved']}/12" in lines[1]
    critique = manifest.stages["critique"].metrics
    assert f"mistake {critique['num_mistake']}/" in lines[2]
    for kind in ("good", "unnecessary", "recover", "unknown"):
        assert f"{kind} {critique[f'num_{kind}']}" in lines[2]
    # A run from before the four kinds recorded num_bad: it is the mistake count.
    old = stage_line("critique", {"num_steps": 10, "num_good": 7, "num_bad": 3}, None)
    assert "mistake 3/10 (30.0%)" in old and "unnecessary n/a" in old
    assert "trained-token share 21.0%" in lines[3] and " -> " in lines[3]
    assert "resolve rate" in lines[4] and lines[5].lstrip().startswith("total")
    assert "(round wall " in lines[5]


def test_round_summary_of_a_failed_round(tmp_path):
    manifest = RoundManifest.load_or_create(tmp_path, 0)
    manifest.stage("collect").start({"c": "1"}).fail(ValueError("sandbox died\nbwrap: boom"))
    text = format_round_summary(manifest)
    assert "[failed]" in text and "FAILED: bwrap: boom" in text
    assert "critique  pending" in text
