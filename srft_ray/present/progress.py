"""Progress a person can follow: a counter with rate and ETA per stage, and a round summary.

On a terminal the counter redraws one line with carriage returns; in a log file (CI, `ray job
logs`) it prints a full line every `line_interval_s` instead, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from srft_ray.runstate.layout import STAGES


@dataclass(kw_only=True)
class ProgressConfig:
    """How often and how wide a Progress prints."""

    redraw_interval_s: float = 0.2
    """Minimum seconds between redraws on a terminal."""
    line_interval_s: float = 15.0
    """Seconds between printed lines when the stream is not a terminal."""
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


def format_rate(per_second: float, unit: str) -> str:
    """Per second when at least one a second, else per minute (episodes are slow, tokens fast)."""
    if per_second >= 1:
        return f"{per_second:,.1f} {unit}/s"
    return f"{per_second * 60:.2f} {unit}/min"


class Progress:
    """Counts work done, and prints counts, rate and ETA.

    with Progress("collect", total=40, unit="episodes") as bar:
        for result in results:
            bar.update(1, resolved=num_resolved)
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "items",
        stream: TextIO | None = None,
        config: ProgressConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.config = config or ProgressConfig()
        self.clock = clock
        self.count = 0
        self.fields: dict[str, Any] = {}
        self.started = clock()
        self._last_print = float("-inf")
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_width = 0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    @property
    def rate(self) -> float:
        """Items per second since the start."""
        elapsed = self.elapsed_s
        return self.count / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.total is None or self.count == 0:
            return None
        return max(0, self.total - self.count) / self.rate if self.rate > 0 else None

    def update(self, n: int = 1, **fields: Any) -> None:
        """Add `n` done items; keyword fields (resolved=3) are shown after the counts."""
        self.count += n
        self.fields.update(fields)
        now = self.clock()
        interval = self.config.redraw_interval_s if self._tty else self.config.line_interval_s
        if now - self._last_print >= interval:
            self._print(now)

    def set_total(self, total: int | None) -> None:
        self.total = total

    def line(self) -> str:
        """The status line as it would print now."""
        parts = [self.label]
        if self.total:
            share = min(1.0, self.count / self.total)
            if self._tty:
                filled = int(share * self.config.bar_width)
                parts.append("[" + "#" * filled + "." * (self.config.bar_width - filled) + "]")
            parts.append(f"{self.count}/{self.total} {self.unit} ({share:.0%})")
        else:
            parts.append(f"{self.count} {self.unit}")
        parts.append(format_rate(self.rate, self.unit.rstrip("s") or self.unit))
        parts.append(f"elapsed {format_duration(self.elapsed_s)}")
        if self.total and self.count < self.total:
            parts.append(f"eta {format_duration(self.eta_s)}")
        parts += [f"{key}={_short(value)}" for key, value in self.fields.items()]
        return "  ".join(parts)

    def close(self) -> None:
        """Print the final line (always, so every log ends with the totals)."""
        if self._closed:
            return
        self._closed = True
        self._print(self.clock(), final=True)

    def _print(self, now: float, final: bool = False) -> None:
        self._last_print = now
        text = self.line()
        if self._tty:
            # pad to erase the tail of a longer previous line
            pad = " " * max(0, self._last_width - len(text))
            self.stream.write("\r" + text + pad + ("\n" if final else ""))
            self._last_width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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
        return "steps {}: good {}, bad {}, unknown {}".format(
            steps if steps is not None else "n/a",
            metrics.get("num_good", "n/a"),
            _percent(metrics.get("num_bad"), steps),
            metrics.get("num_unknown", "n/a"),
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
    from srft_ray.runstate.layout import read_train_metrics

    records = read_train_metrics(manifest.paths.train_metrics)
    first_loss = records[0]["loss"] if records else None
    lines = [f"round {manifest.round_index}  [{manifest.status}]  {manifest.paths.root}"]
    total_wall = 0.0
    for name in STAGES:
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
