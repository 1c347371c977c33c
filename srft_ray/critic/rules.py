"""Rule labels (no model needed) and how they combine with critic labels.

Rules only ever say "mistake", each with the evidence in its rationale; a step no rule fires on
is simply not flagged. The rules:
- failed_command: the command ended with a non-zero return code or was killed (timeout, memory,
  output limit). Exit code 1 is an answer, not a failure, for `grep`/`diff`/`cmp`/`test` ("no
  match"/"differs") and for test runners (`pytest`, `python -m unittest`, `tox`, ...: "tests
  failed", which is what a reproduction run is for); any other code from them still counts.
- format_error: the reply had no command or several (the agent answered with a format error).
- syntax_error: an edit of a .py file that broke it: a heredoc that writes Python which does not
  compile, or a SyntaxError/IndentationError naming the edited file in this or a later observation
  (before the file is edited again).
- reverted_edit: an edit of a file that a later `git checkout [--] FILE`, `git restore FILE`,
  `git stash [push]` or `git reset --hard` undid (an edit that did not work and was thrown away).
  `git checkout BRANCH`, `git restore --staged`, `git stash list/show/pop` undo nothing.
Edits are found on the command's shell surface: text inside quotes (a `python -c` script) and
heredoc bodies are not redirects.

Combination modes (the kind training uses; `unknown` means the critic gave no verdict; a
critic's legacy "bad" is a mistake):
- critic: the critic's kind.
- rules: mistake if any rule fired, else good.
- critic_and_rules: mistake if the critic says mistake AND a rule fired; a critic's mistake no
  rule confirms is good; unknown if the critic has no verdict and a rule fired; no verdict and no
  rule: good; otherwise the critic's kind (precision first).
- critic_or_rules: mistake if the critic says mistake OR a rule fired; else the critic's kind
  (unknown when it gave none; recall first).
"""

from __future__ import annotations

import re
import shlex

from srft_ray.data.model import StepLabel, Trajectory, canonical_label

RULE_NAMES = ("failed_command", "format_error", "syntax_error", "reverted_edit")
_EXIT_1_IS_AN_ANSWER = {"grep", "egrep", "fgrep", "rg", "diff", "cmp", "test", "["}
_TEST_RUNNERS = {"pytest", "py.test", "tox", "nox", "nosetests", "unittest", "nose", "trial"}
_TEST_SCRIPTS = {"runtests.py", "runtests", "run_tests.py"}
_WRAPPERS = {"timeout", "env", "time", "nice", "nohup", "stdbuf", "xvfb-run"}
_SEGMENT_SPLIT = re.compile(r"&&|\|\||[;|\n]")
_HEREDOC_BODY = re.compile(r"(<<-?\s*['\"]?(\w+)['\"]?[^\n]*)\n.*?\n\2\b", re.S)
_QUOTED = re.compile(r"(>>?\s*)?('[^']*'|\"(?:\\.|[^\"\\])*\")")
_KILLED = {"timeout", "memory_limit", "cpu_limit", "file_size_limit", "output_limit", "killed"}
_REDIRECT = re.compile(r"(?:^|[^0-9&<>])>>?\s*['\"]?([\w./-]+)")
_TEE = re.compile(r"\btee\s+(?:-a\s+)?['\"]?([\w./-]+)")
_HEREDOC = re.compile(
    r"cat\s+(?:>\s*['\"]?(?P<f1>[\w./-]+)['\"]?\s*)?<<-?\s*['\"]?(?P<tag>\w+)['\"]?"
    r"(?:\s*>\s*['\"]?(?P<f2>[\w./-]+)['\"]?)?[^\n]*\n(?P<body>.*?)\n(?P=tag)\b",
    re.S,
)
_SYNTAX = re.compile(
    r'File "([^"]+)", line \d+[^\n]*\n(?:.*\n){0,4}?\s*(SyntaxError|IndentationError)'
)
_REVERT = re.compile(r"\bgit\s+(checkout|restore|stash|reset)\b([^;&|\n]*)")


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def _program(segment: str) -> str:
    """What one simple command runs: `timeout 60 FOO=1 python -m pytest x` -> "pytest"."""
    words = _words(segment)
    while words and ("=" in words[0] and not words[0].startswith("=") or words[0] in _WRAPPERS):
        words = words[1:]
        while words and re.match(r"-|\d", words[0]):  # a wrapper's options (timeout 60)
            words = words[1:]
    if not words:
        return ""
    name = words[0].rsplit("/", 1)[-1]
    if re.fullmatch(r"python[\d.]*", name) and len(words) > 1:
        if words[1] == "-m" and len(words) > 2:
            return words[2].split(".")[0]
        return words[1].rsplit("/", 1)[-1]
    return name


def _exit_1_is_an_answer(command: str) -> bool:
    """Exit code 1 came from a search/compare tool or a test runner reporting failed tests."""
    surface = _QUOTED.sub("''", _HEREDOC_BODY.sub(r"\1", command))
    for segment in _SEGMENT_SPLIT.split(surface):
        program = _program(segment)
        if program in _EXIT_1_IS_AN_ANSWER | _TEST_RUNNERS | _TEST_SCRIPTS:  # bin/test is "test"
            return True
    return False


def _shell_surface(command: str) -> str:
    """The command without heredoc bodies and quoted text, except a quoted redirect target."""
    head = _HEREDOC_BODY.sub(r"\1", command)
    return _QUOTED.sub(lambda m: m.group(0) if m.group(1) else "''", head)


def edited_files(command: str | None) -> set[str]:
    """Files a shell command writes (redirects, tee, sed -i, heredocs); a heuristic, not a parser."""
    if not command:
        return set()
    surface = _shell_surface(command)
    files = {m.group(1) for m in _REDIRECT.finditer(surface)} | set(_TEE.findall(surface))
    for match in re.finditer(r"\bsed\s+-i\S*\s+(.*)", command):
        try:
            args = shlex.split(match.group(1).split("&&")[0].split(";")[0])
        except ValueError:
            args = match.group(1).split()
        files |= _sed_files(args)
    return {f for f in files if f not in ("/dev/null", "&1", "&2") and not f.startswith("&")}


def _sed_files(args: list[str]) -> set[str]:
    """Files of `sed -i [opts] SCRIPT FILE...` (with -e/-f the script is an option's value)."""
    positional, has_script, skip_next = [], False, False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in ("-e", "-f", "--expression", "--file"):
            has_script = skip_next = True
        elif not arg.startswith("-"):
            positional.append(arg)
    return set(positional if has_script else positional[1:])


def _heredoc_python_errors(command: str) -> list[str]:
    errors = []
    for match in _HEREDOC.finditer(command):
        target = match.group("f1") or match.group("f2") or ""
        if target.endswith(".py"):
            try:
                compile(match.group("body"), target, "exec")
            except SyntaxError as exc:
                errors.append(f"{target}: {type(exc).__name__} line {exc.lineno}: {exc.msg}")
    return errors


def _undone_paths(verb: str, rest: str) -> set[str]:
    """Work-tree paths `git VERB REST` throws away ("." = all of it); empty when it undoes none.

    Without `--`, `git checkout X` names a branch or a file: X counts only when it matches an
    edited file, so switching branches never flags anything."""
    args = _words(rest)
    paths = args[args.index("--") + 1 :] if "--" in args else None
    if verb == "reset":
        return {"."} if "--hard" in args else set()
    if verb == "stash":
        sub = args[0] if args and not args[0].startswith("-") else "push"
        if sub not in ("push", "save"):  # list, show, pop, apply, drop, ...: nothing undone
            return set()
        return set(paths) if paths else {"."}
    if verb == "restore":
        staged_only = any(a in ("--staged", "-S") for a in args) and not any(
            a in ("--worktree", "-W") for a in args
        )
        if staged_only:
            return set()
    elif any(a in ("-b", "-B", "--orphan", "--detach") for a in args):  # checkout: new branch
        return set()
    elif paths is None and any(a in ("-f", "--force") for a in args):
        return {"."}  # a forced checkout discards every local change
    if paths is None:
        paths, skip = [], False
        for arg in args:
            if skip:
                skip = False
            elif arg in ("-s", "--source"):
                skip = True
            elif not arg.startswith("-"):
                paths.append(arg)
    return set(paths) - {"HEAD"}


def _same_file(a: str, b: str) -> bool:
    a, b = a.lstrip("./"), b.lstrip("./")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def rule_labels(traj: Trajectory) -> list[list[StepLabel]]:
    """Per step, one mistake StepLabel (source "rule", model = rule name) per rule that fired."""
    out: list[list[StepLabel]] = [[] for _ in traj.steps]

    def flag(i: int, rule: str, why: str) -> None:
        if not any(lab.model == rule for lab in out[i]):
            out[i].append(StepLabel(label="mistake", source="rule", model=rule, rationale=why))

    edits: list[tuple[int, set[str]]] = []
    for i, step in enumerate(traj.steps):
        command = step.command or ""
        if step.end_reason == "format_error":
            flag(i, "format_error", "the reply had no single command (format error)")
        if step.end_reason in _KILLED:
            flag(i, "failed_command", f"command ended by {step.end_reason}")
        elif step.returncode not in (None, 0) and not (
            step.returncode == 1 and _exit_1_is_an_answer(command)
        ):
            flag(i, "failed_command", f"return code {step.returncode}")
        for error in _heredoc_python_errors(command):
            flag(i, "syntax_error", error)
        observation = step.observation or ""
        for match in _SYNTAX.finditer(observation):
            broken = match.group(1)
            # The most recent edit of that file (this step included) introduced the error.
            for j, files in reversed(edits + [(i, edited_files(command))]):
                if any(_same_file(broken, f) for f in files if f.endswith(".py")):
                    flag(j, "syntax_error", f"{match.group(2)} in {broken} seen at step {i}")
                    break
        for match in _REVERT.finditer(command):
            targets = _undone_paths(match.group(1), match.group(2))
            for j, files in edits:
                if files and (
                    "." in targets or any(_same_file(t, f) for t in targets for f in files)
                ):
                    flag(j, "reverted_edit", f"undone by step {i}: {match.group(0).strip()}")
        files = edited_files(command)
        if files:
            edits.append((i, files))
    return out


def combine(mode: str, critic: StepLabel | None, rules: list[StepLabel]) -> str:
    """The final label under `mode` (see the module doc for the exact definitions)."""
    kind = canonical_label(critic.label) if critic is not None else "unknown"
    fired = any(canonical_label(lab.label) == "mistake" for lab in rules)
    if mode == "critic":
        return kind
    if mode == "rules":
        return "mistake" if fired else "good"
    if mode == "critic_and_rules":
        if kind == "unknown":
            return "unknown" if fired else "good"
        if kind == "mistake":
            return "mistake" if fired else "good"
        return kind
    if mode == "critic_or_rules":
        return "mistake" if fired or kind == "mistake" else kind
    raise ValueError(f"unknown label mode {mode!r}")
