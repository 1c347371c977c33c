"""The progress printer (terminal and log modes) and the one-screen round summary."""

from __future__ import annotations

import io

from srft_ray.present.progress import (
    Progress,
    ProgressConfig,
    format_duration,
    format_rate,
    format_round_summary,
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
    assert "\r" not in out.getvalue()
    # first update prints, then one line per 10 s of clock, then the final line on close
    assert len(lines) == 5
    assert lines[1].startswith("collect  6/40 episodes (15%)")
    assert "30.00 episode/min" in lines[-1] and "elapsed 40s" in lines[-1]
    assert "eta 40s" in lines[-1] and "resolved=3" in lines[-1]


def test_tty_mode_redraws_one_line_and_ends_with_newline():
    clock, out = FakeClock(), TTY()
    p = Progress("critique", total=None, unit="steps", stream=out, clock=clock)
    for _ in range(3):
        clock.now += 0.5
        p.update(10)
    p.close()
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "30 steps" in text.split("\r")[-1] and "20.0 step/s" in text.split("\r")[-1]

    bar = Progress("train", total=4, unit="steps", stream=TTY(), clock=clock)
    bar.update(2)
    assert "[" + "#" * 12 + "." * 12 + "]" in bar.line()


def test_formatters():
    assert format_duration(3725) == "1h02m" and format_duration(185) == "3m05s"
    assert format_duration(42.4) == "42s" and format_duration(0.84) == "0.8s"
    assert format_duration(None) == "?"
    assert format_rate(1700.0, "tok") == "1,700.0 tok/s" and format_rate(0.1, "ep") == "6.00 ep/min"


def test_round_summary_shows_every_stage(synthetic_run):
    manifest = RoundManifest.load_or_create(synthetic_run, 1)
    text = format_round_summary(manifest)
    lines = text.splitlines()
    assert lines[0].startswith("round 1  [done]")
    assert len(lines) == 6 and len(text.splitlines()) <= 24  # fits one screen
    collect = manifest.stages["collect"].metrics
    assert f"resolved {collect['num_resolved']}/12" in lines[1]
    bad = manifest.stages["critique"].metrics["num_bad"]
    assert f"bad {bad}/" in lines[2]
    assert "trained-token share 21.0%" in lines[3] and " -> " in lines[3]
    assert "resolve rate" in lines[4] and lines[5].lstrip().startswith("total")
    assert "(round wall " in lines[5]


def test_round_summary_of_a_failed_round(tmp_path):
    manifest = RoundManifest.load_or_create(tmp_path, 0)
    manifest.stage("collect").start({"c": "1"}).fail(ValueError("sandbox died\nbwrap: boom"))
    text = format_round_summary(manifest)
    assert "[failed]" in text and "FAILED: bwrap: boom" in text
    assert "critique  pending" in text
