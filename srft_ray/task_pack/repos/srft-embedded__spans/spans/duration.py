"""Durations written like "1h30m", "45s" or "2h"."""

import re

_PART = re.compile(r"(\d)([hms])")
_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text):
    """Number of seconds in a duration such as "1h30m15s"; raises ValueError otherwise."""
    text = text.strip()
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(number) * _SECONDS[unit] for number, unit in parts)


def format_duration(seconds):
    """The shortest "XhYmZs" form of a whole number of seconds."""
    if seconds < 0:
        raise ValueError("duration must not be negative")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = ""
    if hours:
        text += f"{hours}h"
    if minutes:
        text += f"{minutes}m"
    if secs:
        text += f"{secs}s"
    return text
