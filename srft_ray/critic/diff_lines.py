"""What a diff changes, line by line: the vocabulary replay labels compare edits with.

A diff against base_commit becomes a `LineChanges`: the base lines it removes, by file and line
number, and the lines it adds, by file and text (a multiset: a fix may add the same line twice).
The distance between two diffs of the same base is the size of the symmetric difference of those
sets; the distance of a working tree to the reference patch says how far the tree is from the
reference fix (0: the reference's changes exactly), and an edit that lowers it moves toward it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(kw_only=True)
class LineChanges:
    removed: set[tuple[str, int]] = field(default_factory=set)
    """(file, base line number) of every base line the diff removes or rewrites."""
    added: Counter = field(default_factory=Counter)
    """(file, anchor, text) of every line the diff adds, with multiplicity; the anchor is the
    base line it replaces (the first removed line of its block) or is inserted before."""
    new_files: set[str] = field(default_factory=set)
    """Files the diff creates (not in base)."""

    @property
    def files(self) -> set[str]:
        return {f for f, _ in self.removed} | {f for f, _, _ in self.added} | self.new_files

    def elements(self) -> set[tuple]:
        """Every change as a hashable element (added lines numbered by multiplicity)."""
        out: set[tuple] = {("-", f, n) for f, n in self.removed}
        for (f, anchor, text), count in self.added.items():
            out |= {("+", f, anchor, text, k) for k in range(count)}
        return out

    def base_lines(self) -> set[tuple[str, int]]:
        """Base lines the diff touches: removed ones and where it adds lines."""
        return self.removed | {(f, anchor) for f, anchor, _ in self.added}


def parse_diff(diff: str | None) -> LineChanges:
    """The LineChanges of a unified git diff (empty or None: no change)."""
    out = LineChanges()
    path, old_line, adding_new, block_start = "", 0, False, None
    for line in (diff or "").splitlines():
        if line.startswith("diff --git "):
            path, adding_new, block_start = "", False, None
            continue
        if line.startswith("--- "):
            adding_new = line[4:].strip() == "/dev/null"
            continue
        if line.startswith("+++ "):
            target = line[4:].strip()
            path = target[2:] if target.startswith("b/") else target
            if adding_new:
                out.new_files.add(path)
            continue
        match = _HUNK.match(line)
        if match:
            old_line, block_start = int(match.group(1)), None
            if match.group(2) == "0":  # pure insertion after line N
                old_line += 1
            continue
        if not path or not line or line.startswith("\\"):
            continue
        if line[0] == "-":
            block_start = old_line if block_start is None else block_start
            out.removed.add((path, old_line))
            old_line += 1
        elif line[0] == "+":
            anchor = old_line if block_start is None else block_start
            out.added[(path, anchor, line[1:])] += 1
        else:
            block_start = None
            old_line += 1
    return out


def distance(a: LineChanges, b: LineChanges) -> int:
    """Size of the symmetric difference of two diffs' changes (0: the same changes)."""
    removed = len(a.removed ^ b.removed)
    added = sum(((a.added - b.added) + (b.added - a.added)).values())
    return removed + added


def touches(step: LineChanges, reference: LineChanges, slack: int = 1) -> bool:
    """Whether an edit touches a line the reference changes (within `slack` lines)."""
    ref = reference.base_lines()
    return any((f, n + d) in ref for f, n in step.base_lines() for d in range(-slack, slack + 1))


def step_changes(before: LineChanges, after: LineChanges) -> LineChanges:
    """What one step changed: the elements in `after` not in `before`, and those it dropped."""
    out = LineChanges()
    out.removed = after.removed ^ before.removed
    out.added = (after.added - before.added) + (before.added - after.added)
    out.new_files = after.new_files ^ before.new_files
    return out
