"""Progress a person can follow: one counter per stage with rate and ETA, and a round summary.

On a terminal each open counter is one live line, redrawn in place below the log lines (two
stages running at once, collect and critique, get two lines); log records printed meanwhile go
above them (srft_ray.logs' console handler clears and redraws them). In a log file (CI, a pipe,
`ray job logs`) a counter prints a plain line at most every `line_interval_s` instead, so a log
stays short whatever the number of updates; so it does with -v (srft_ray.logs.is_verbose()).
Either way it ends with one summary line.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from srft_ray import logs

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ProgressConfig:
    """How often and how wide a Progress prints."""

    redraw_interval_s: float = 0.2
    """Minimum seconds between redraws on a terminal."""
    line_interval_s: float = 15.0
    """Seconds between printed lines when the stream is not a terminal (on a terminal: between
    lines in the driver log, and on the console with -v)."""
    bar_width: int = 24
    """Characters in the bar (terminal only; needs a known total)."""


def format_duration(seconds: float | None) -> str:
    """1h02m, 3m05s, 42s, 0.8s; "?" when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def format_rate(per_second: float, unit: str, *, per_minute: bool = False) -> str:
    """Per second when at least one a second, else per minute (episodes are slow, tokens fast);
    `per_minute`: always per minute."""
    if per_second >= 1 and not per_minute:
        return f"{per_second:,.1f} {unit}/s"
    return f"{per_second * 60:.2f} {unit}/min"


class Progress:
    """Counts work done, and shows counts, rate and ETA (see the module docstring).

    with Progress("[collect]", total=40, unit="episodes", log=logger.info) as bar:
        for result in results:
            bar.update(1, resolved=num_resolved)

    `log` takes the plain lines (default: written to `stream`); `stream` (default stderr) is
    where a terminal's live line is drawn. `initial`: work done before (a resumed run), counted
    in done/total but not in the rate. `per_minute`: show the rate per minute even when fast.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "items",
        initial: int = 0,
        per_minute: bool = False,
        log: Callable[[str], None] | None = None,
        stream: TextIO | None = None,
        config: ProgressConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.total, self.unit, self.per_minute = label, total, unit, per_minute
        self.stream = stream if stream is not None else sys.stderr
        self.log = log
        self.config = config or ProgressConfig()
        self.clock = clock
        self.count = self.initial = initial
        self.fields: dict[str, Any] = {}
        self.detail = ""
        self.started = clock()
        self._last_line, self._last_draw, self._num_lines = self.started, float("-inf"), 0
        # -v: plain lines on a terminal too (worker output printed there would garble live ones)
        live = _is_terminal(self.stream) and not logs.is_verbose()
        self._live = _live_region(self.stream) if live else None
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_live(self) -> bool:
        """True when drawn as a live line on a terminal."""
        return self._live is not None

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    @property
    def rate(self) -> float:
        """Items per second since the start (items done before it, `initial`, do not count)."""
        elapsed = self.elapsed_s
        return (self.count - self.initial) / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None without a total or a rate."""
        if self.total is None:
            return None
        rate = self.rate
        return max(0, self.total - self.count) / rate if rate > 0 else None

    def update(self, n: int = 1, *, detail: str | None = None, **fields: Any) -> None:
        """Add `n` done items (0: only refresh); `detail` (free text) and keyword fields
        (resolved=3) are shown after the counts."""
        self.count += n
        self.fields.update(fields)
        if detail is not None:
            self.detail = detail
        if self._closed:
            return
        now = self.clock()
        if self._live is not None and now - self._last_draw >= self.config.redraw_interval_s:
            self._last_draw = now
            self._live.draw(self)
        # The first progress prints at once, then a line at most every line_interval_s.
        first = n > 0 and self._num_lines == 0
        if first or now - self._last_line >= self.config.line_interval_s:
            self._last_line = now
            self._num_lines += 1
            if self._live is None:
                self._emit(self.line())
            else:  # the live line shows it; the driver log (and the console with -v) get a line
                logger.debug(self.line())

    def set_total(self, total: int | None) -> None:
        self.total = total

    def line(self) -> str:
        """The status line as it would print now."""
        parts = [self.label]
        if self.total:
            share = min(1.0, self.count / self.total)
            if self._live is not None and not self._closed:
                filled = int(share * self.config.bar_width)
                parts.append("[" + "#" * filled + "." * (self.config.bar_width - filled) + "]")
            parts.append(f"{self.count}/{self.total} {self.unit} ({share:.0%})")
        else:
            parts.append(f"{self.count} {self.unit}")
        parts.append(format_rate(self.rate, self.unit, per_minute=self.per_minute))
        parts.append(f"elapsed {format_duration(self.elapsed_s)}")
        if self.total and self.count < self.total:
            parts.append(f"eta {format_duration(self.eta_s)}")
        parts += [f"{key}={_short(value)}" for key, value in self.fields.items()]
        if self.detail:
            parts.append(self.detail)
        return "  ".join(parts)

    def close(self) -> None:
        """Print the summary line (always, so every stage ends with its totals)."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.remove(self)
        self._emit(self.line())

    def _emit(self, text: str) -> None:
        if self.log is not None:
            self.log(text)
        elif self._live is not None:
            self._live.write_above(text)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


class LiveRegion:
    """The live lines of the counters open on one terminal stream, kept below everything else.

    The cursor rests at the end of the last live line; a redraw goes back to the first one,
    clears to the end of the screen and writes them again. Lines are cut to the terminal's
    width, since a wrapped line would break the count of lines to go back over.
    """

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.bars: list[Progress] = []
        self.num_drawn = 0

    def draw(self, bar: Progress | None = None) -> None:
        with logs.CONSOLE_LOCK:
            if bar is not None and bar not in self.bars:
                self.bars.append(bar)
            width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
            text = "\n".join(b.line()[:width] for b in self.bars)
            self.stream.write(self._back() + text)
            self.num_drawn = len(self.bars)
            self.stream.flush()

    def clear(self) -> None:
        """Erase the live lines (before something else writes to the terminal)."""
        with logs.CONSOLE_LOCK:
            if self.num_drawn:
                self.stream.write(self._back())
                self.stream.flush()
                self.num_drawn = 0

    def write_above(self, text: str) -> None:
        with logs.CONSOLE_LOCK:
            self.clear()
            self.stream.write(text + "\n")
            self.redraw()

    def redraw(self) -> None:
        if self.bars:
            self.draw()

    def remove(self, bar: Progress) -> None:
        with logs.CONSOLE_LOCK:
            if bar in self.bars:
                self.bars.remove(bar)
            self.clear()
            self.redraw()

    def _back(self) -> str:
        """Cursor to the start of the first live line, and everything below it erased."""
        if not self.num_drawn:
            return "\r\x1b[J"
        up = f"\x1b[{self.num_drawn - 1}A" if self.num_drawn > 1 else ""
        return "\r" + up + "\x1b[J"


_REGIONS: dict[int, LiveRegion] = {}


def _live_region(stream: TextIO) -> LiveRegion:
    """The one LiveRegion of `stream` (every counter on a terminal shares it); registered with
    srft_ray.logs so that console log records print above it."""
    with logs.CONSOLE_LOCK:
        region = _REGIONS.get(id(stream))
        if region is None or region.stream is not stream:
            region = _REGIONS[id(stream)] = LiveRegion(stream)
            logs.add_live_display(region)
        return region


# ----------------------------------------------------------------------------- round summary


def _percent(part: Any, whole: Any) -> str:
    if not isinstance(part, (int, float)) or not isinstance(whole, (int, float)) or not whole:
        return "n/a"
    return f"{part}/{whole} ({part / whole:.1%})"


def stage_line(name: str, metrics: dict[str, Any], first_loss: float | None) -> str:
    if name == "collect":
        return "trajectories {}, resolved {}".format(
            metrics.get("num_trajectories", "n/a"),
            _percent(metrics.get("num_resolved"), metrics.get("num_trajectories")),
        )
    if name == "critique":
        steps = metrics.get("num_steps")
        mistakes = metrics.get("num_mistake", metrics.get("num_bad"))  # num_bad: older runs
        return "steps {}: good {}, unnecessary {}, mistake {}, recover {}, unknown {}".format(
            steps if steps is not None else "n/a",
            metrics.get("num_good", "n/a"),
            metrics.get("num_unnecessary", "n/a"),
            _percent(mistakes, steps),
            metrics.get("num_recover", "n/a"),
            metrics.get("num_unknown", "n/a"),
        )
    if name == "distil":
        loss = metrics.get("final_loss")
        return "critic {} from {} examples, {} steps, loss {}".format(
            metrics.get("model_name", "n/a"),
            metrics.get("num_examples", "n/a"),
            metrics.get("num_optimizer_steps", "n/a"),
            "n/a" if loss is None else f"{loss:.4g}",
        )
    if name == "train":
        share = metrics.get("trained_token_share")
        loss = metrics.get("final_loss")
        loss_text = "n/a" if loss is None else f"{loss:.4g}"
        if first_loss is not None and loss is not None:
            loss_text = f"{first_loss:.4g} -> {loss:.4g}"
        share_text = "n/a" if share is None else f"{share:.1%}"
        return f"trained-token share {share_text}, loss {loss_text}"
    episodes = metrics.get("num_episodes", metrics.get("num_tasks"))
    line = "resolve rate {}".format(_percent(metrics.get("num_resolved"), episodes))
    ci = metrics.get("ci95")
    return line + (f" (95% CI {ci[0]:.0%}-{ci[1]:.0%})" if ci else "")


def format_round_summary(manifest: Any) -> str:
    """One screen per round: what each stage did, its key numbers and its wall time.

    `manifest` is a RoundManifest; the first logged train loss comes from the train metrics file.
    """
    from srft_ray.runstate.layout import OPTIONAL_STAGES, STAGES, read_train_metrics

    records = read_train_metrics(manifest.paths.train_metrics)
    first_loss = records[0]["loss"] if records else None
    lines = [f"round {manifest.round_index}  [{manifest.status}]  {manifest.paths.root}"]
    total_wall = 0.0
    for name in (*STAGES, *(s for s in OPTIONAL_STAGES if s in manifest.stages)):
        rec = manifest.stages[name]
        wall = rec.wall_s
        total_wall += wall
        detail = stage_line(name, rec.metrics, first_loss) if rec.metrics else ""
        if rec.status == "failed":
            detail = f"FAILED: {rec.error.splitlines()[-1] if rec.error else '?'}"
        attempts = f" ({len(rec.attempts)} attempts)" if len(rec.attempts) > 1 else ""
        wall_text = format_duration(wall) if rec.attempts else "-"
        lines.append(f"  {name:<9} {rec.status:<8} {wall_text:>7}{attempts}  {detail}".rstrip())
    attempts = [a for rec in manifest.stages.values() for a in rec.attempts]
    span = ""
    if attempts:
        # collect and critique overlap, so the stage times add up to more than the round took
        end = max(a["ended_at"] if a.get("ended_at") is not None else time.time() for a in attempts)
        span = f"  (round wall {format_duration(end - min(a['started_at'] for a in attempts))})"
    lines.append(f"  {'total':<9} {'':<8} {format_duration(total_wall):>7}{span}")
    return "\n".join(lines)
