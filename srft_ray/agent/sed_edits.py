"""The teacher's edits: the gold patch as one-line replacements, and `sed -i` commands that
make them using only text the agent has printed (nl -ba listings).

A range-addressed `sed -i 'A,Bs/OLD/NEW/' FILE` repeats the range of the read command, and OLD is
widened until it is on no other printed line, so a student that copies the range from its own
read cannot land the edit on a neighbouring line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(kw_only=True)
class LineEdit:
    """One line of the gold patch: line `number` of `path` reads `old` and should read `new`."""

    path: str
    number: int
    old: str
    new: str


def one_line_edits(patch: str) -> list[LineEdit] | None:
    """The gold patch as line replacements, or None when it adds or removes lines."""
    edits: list[LineEdit] = []
    path, old_no = "", 0
    removed: list[tuple[int, str]] = []
    added: list[str] = []

    def flush() -> bool:
        if len(removed) != len(added):
            return False
        edits.extend(
            LineEdit(path=path, number=n, old=o, new=a)
            for (n, o), a in zip(removed, added, strict=True)
        )
        removed.clear()
        added.clear()
        return True

    for line in patch.splitlines():
        if line.startswith("+++ "):
            path = line[4:].removeprefix("b/")
        elif line.startswith("--- ") or line.startswith("diff --git") or line.startswith("index "):
            continue
        elif line.startswith("@@"):
            if not flush():
                return None
            match = re.match(r"@@ -(\d+)", line)
            old_no = int(match.group(1)) if match else 0
        elif line.startswith("-"):
            if added:  # a removal after an addition: not a simple replacement
                return None
            removed.append((old_no, line[1:]))
            old_no += 1
        elif line.startswith("+"):
            added.append(line[1:])
        else:
            if not flush():
                return None
            old_no += 1
    if not flush() or not edits:
        return None
    return edits


def sed_substitution(old: str, new: str, others: tuple[str, ...] = ()) -> tuple[str, str]:
    """The shortest readable (old span, new span) that turns line `old` into `new`.

    The span grows from the changed characters to whole words on both sides, then further until
    it occurs once in the line and in none of the `others` (the other lines a range-addressed
    `sed 'A,Bs/OLD/NEW/'` would also try), so the substitution changes exactly the intended
    place; when even the whole line occurs in `others`, the span is the whole line.
    """
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old, end_new = end_old - 1, end_new - 1

    def widen(a: int, b: int, c: int) -> tuple[int, int, int]:
        # move to word boundaries: a non-space run on each side of the change
        while a > 0 and not old[a - 1].isspace():
            a -= 1
        while b < len(old) and not old[b].isspace():
            b, c = b + 1, c + 1
        return a, b, c

    def ambiguous(a: int, b: int) -> bool:
        span = old[a:b]
        return old.count(span) > 1 or any(span in other for other in others)

    a, b, c = widen(start, end_old, end_new)
    if not any(ch.isalnum() for ch in old[a:b] + new[a:c]):  # a bare operator: add its operands
        a = old.rfind(" ", 0, max(old.rfind(" ", 0, a), 0)) + 1 if a > 0 else 0
        a, b, c = widen(a, b + 1 if b < len(old) else b, c + 1 if b < len(old) else c)
    while ambiguous(a, b) and (a > 0 or b < len(old)):
        a = old.rfind(" ", 0, max(a - 1, 0)) + 1 if a > 0 else 0
        if ambiguous(a, b) and b < len(old):
            nxt = old.find(" ", b + 1)
            grow = (len(old) if nxt < 0 else nxt) - b
            b, c = b + grow, c + grow
    return old[a:b].strip() or old.strip(), new[a:c].strip()


def _sed_escape(text: str, *, pattern: bool) -> str:
    special = r"\/.*[]^$" if pattern else "\\/&"
    out = "".join("\\" + ch if ch in special else ch for ch in text)
    return out.replace("'", "'\\''")


def sed_command(edit: LineEdit, listed: dict[int, str] | None = None) -> str:
    """`sed -i` that rewrites line `edit.number` of `edit.path`.

    With `listed` (the numbered lines of the file the teacher printed, as they read now), the
    address is the printed range `A,B`, the same numbers as the read command's `sed -n 'A,Bp'`,
    and OLD is text found on no other line of it: a student copies the range from its own read
    instead of looking up one line's number (off-by-one line numbers were the commonest failed
    edit of a trained SmolLM2). Without it, or when the line's text repeats in the range, the
    address is the line number.
    """
    address = str(edit.number)
    others: tuple[str, ...] = ()
    if listed and edit.number in listed:
        first, last = min(listed), max(listed)
        others = tuple(text for number, text in listed.items() if number != edit.number)
        span, _ = sed_substitution(edit.old, edit.new, others)
        if len(listed) == last - first + 1 and not any(span in other for other in others):
            address = f"{first},{last}"
        else:
            others = ()
    old, new = sed_substitution(edit.old, edit.new, others)
    return (
        f"sed -i '{address}s/{_sed_escape(old, pattern=True)}/"
        f"{_sed_escape(new, pattern=False)}/' {edit.path}"
    )


def edits_applied(edits: list[LineEdit], listed: dict[int, str]) -> dict[int, str]:
    """The printed lines as they read once `edits` are made."""
    return {**listed, **{e.number: e.new for e in edits if e.number in listed}}


def sed_chain(edits: list[LineEdit], listed: dict[int, str]) -> str:
    """One command making all `edits`, each addressed against the lines as the earlier ones
    left them."""
    commands = []
    for index, edit in enumerate(edits):
        commands.append(sed_command(edit, edits_applied(edits[:index], listed)))
    return " && ".join(commands)


def numbered_lines(listing: str) -> dict[int, str]:
    """{line number: text} from `nl -ba` output (tab after the number)."""
    out = {}
    for line in listing.splitlines():
        match = re.match(r"^\s*(\d+)\t(.*)$", line)
        if match:
            out[int(match.group(1))] = match.group(2)
    return out
