"""Generated task packs: many small repositories, one injected one-line bug per task.

    srft tasks generate --out ./gen_pack --num-tasks 300 --seed 0
    srft tasks validate ./gen_pack --workers 2

Each repository (a "family", `repo` = `srft-gen/<family>`) is a small Python package of 2-4
modules in one domain (ledger, sensors, recipes, ...), built from the shapes of
`generated_templates` with names of its own. Each task breaks one line of one function (a bug of
a known kind), removes that function's tests from the repository, and ships them as test_patch
(FAIL_TO_PASS); the other tests of the module's test file are PASS_TO_PASS. The problem
statement shows a call with the wrong and the expected output, both computed by running the
buggy and the fixed function here. Held-out splits by `repo` are repositories never trained on.

A family's task base commits are root commits (no history to read the fix from) under
`refs/tasks/<instance_id>` in one git bundle, `repos/srft-gen__<family>.bundle`; fixed authors,
dates and file modes make every hash, and so the whole pack, a function of the seed.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from srft_ray.tasks.generated_repos import (
    Candidate,
    Family,
    build_family,
    call_text,
    candidates,
    family_files,
    function_tests,
    module_text,
    tests_text,
    unified_diff,
)
from srft_ray.tasks.generated_templates import KINDS

OWNER = "srft-gen"
_IDENTITY = "srft-ray task pack <task-pack@srft-ray.invalid> 1767225600 +0000"  # 2026-01-01
_CREATED_AT = "2026-01-01T00:00:00Z"


@dataclass(kw_only=True)
class GenerateConfig:
    """What to generate; the same config always gives the same pack, byte for byte."""

    num_tasks: int = 300
    """Tasks in the pack."""
    seed: int = 0
    """Seed of every choice: domains, names, shapes, bugs, examples, wording."""
    num_repos: int = 0
    """Repositories (families) the tasks spread over; 0: one per `tasks_per_repo` tasks."""
    tasks_per_repo: int = 6
    """Tasks per repository when num_repos is 0."""
    bugs_per_shape: int = 0
    """Only the first N bugs each function shape can carry (0: all). A narrower family: with 1,
    each of the 22 shapes has one bug, so a small student sees each (shape, bug) pair often
    enough to learn it from a few hundred trajectories; held-out repositories still differ in
    every name, domain and example."""


@dataclass(kw_only=True)
class GenerateSummary:
    out_dir: str
    num_tasks: int
    num_repos: int
    kinds: dict[str, int]
    families: list[str]
    seconds: float = 0.0


# --- problem statements ----------------------------------------------------------------------

_TITLES = (
    "`{fn}` returns the wrong value",
    "Wrong result from `{qual}`",
    "`{fn}()` gives an incorrect answer",
    "Bug in `{qual}`",
)
_BODIES = (
    "`{call}` {got}, but it should return `{want}`.",
    "Calling `{call}` {got}. I expected `{want}`.",
    "In a Python shell at the repository root:\n\n    >>> import {module}\n    >>> {call}\n"
    "{shell}\n\nThe expected result is `{want}`.",
    "`{call}` should return `{want}`, but it {got}.",
)


def _got(outcome: tuple[str, Any]) -> str:
    return f"returns `{outcome[1]!r}`" if outcome[0] == "ok" else f"raises `{outcome[1]}`"


def _shell(outcome: tuple[str, Any]) -> str:
    if outcome[0] == "ok":
        return f"    {outcome[1]!r}"
    return f"    Traceback (most recent call last):\n      ...\n    {outcome[1]}"


def problem_statement(rng: random.Random, candidate: Candidate) -> str:
    """The symptom as a user reports it: a call to copy, what it gives, what it should give."""
    function = candidate.function
    args, fixed, buggy = candidate.diffs[0]
    fields = {
        "fn": function.name,
        "qual": function.qualname,
        "module": f"{function.package}.{function.module}",
        "call": call_text(function, args, qualified=True),
        "got": _got(buggy),
        "shell": _shell(buggy),
        "want": repr(fixed[1]),
    }
    text = rng.choice(_TITLES).format(**fields) + "\n\n" + rng.choice(_BODIES).format(**fields)
    if len(candidate.diffs) > 1 and rng.random() < 0.5:
        args, fixed, buggy = candidate.diffs[1]
        call = call_text(function, args, qualified=True)
        text += f"\n\nAlso, `{call}` {_got(buggy)} (expected `{fixed[1]!r}`)."
    return text + "\n"


# --- tasks -----------------------------------------------------------------------------------


def task_row(family: Family, candidate: Candidate, number: int, rng: random.Random) -> dict:
    """The SWE-bench row of one task (base_commit filled in once the commit exists)."""
    function = candidate.function
    module, pkg = function.module, family.package
    code_path, test_path = f"{pkg}/{module}.py", f"tests/test_{module}.py"
    fixed_code, buggy_code = module_text(family, module), module_text(family, module, candidate)
    patch = unified_diff(code_path, buggy_code, fixed_code)
    changed = [ln for ln in patch.splitlines()[3:] if ln[:1] in "+-"]
    if len(changed) != 2:
        raise AssertionError(f"{function.qualname}: the gold patch is not a one-line change")
    own = function_tests(function, candidate)
    others = {
        k: v
        for f in family.modules[module]
        if f is not function
        for k, v in function_tests(f).items()
    }
    full = {
        k: v
        for f in family.modules[module]
        for k, v in (own if f is function else function_tests(f)).items()
    }
    statement = problem_statement(rng, candidate)
    for line in (changed[0][1:].strip(), changed[1][1:].strip()):
        if line in statement:
            raise AssertionError(f"{function.qualname}: the statement quotes the code {line!r}")
    files = family_files(family)
    files[code_path] = buggy_code
    files[test_path] = tests_text(family, module, others)
    row = {
        "instance_id": f"{OWNER}__{family.family}-{number}",
        "repo": f"{OWNER}/{family.family}",
        "base_commit": "",
        "problem_statement": statement,
        "patch": patch,
        "test_patch": unified_diff(test_path, files[test_path], tests_text(family, module, full)),
        "FAIL_TO_PASS": [f"{test_path}::{name}" for name in own],
        "PASS_TO_PASS": [f"{test_path}::{name}" for name in others],
        "version": "0.1",
        "environment_setup_commit": "",
        "hints_text": "",
        "created_at": _CREATED_AT,
        "family": family.family,
        "bug_kind": candidate.bug.kind,
        "function": function.qualname,
        "file": code_path,
    }
    return {"row": row, "files": files}


def _limited(found: list[Candidate], config: GenerateConfig) -> list[Candidate]:
    return found[: config.bugs_per_shape] if config.bugs_per_shape else found


def _pick(
    rng: random.Random, pool: list[Candidate], kind: str, counts: Counter[str], used: set[int]
) -> Candidate | None:
    """A candidate of `kind` (else of the kind least used so far), removed from `pool`.

    Functions no task has bugged yet come first: a family's tasks then differ in more than
    the bug, and two tasks never share a bugged function's tests while fresh ones are left.
    """
    fresh = [c for c in pool if id(c.function) not in used] or pool
    if not fresh:
        return None
    wanted = [c for c in fresh if c.bug.kind == kind]
    if not wanted:
        rarest = min(counts[c.bug.kind] for c in fresh)
        wanted = [c for c in fresh if counts[c.bug.kind] == rarest]
    choice = rng.choice(wanted)
    pool.remove(choice)
    used.add(id(choice.function))
    return choice


# --- git -------------------------------------------------------------------------------------


def _git(*args: str, cwd: Path, stdin: bytes | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {done.stderr.decode().strip()}")
    return done.stdout.decode()


def write_bundle(bundle: Path, commits: list[tuple[str, dict[str, str]]], message: str) -> dict:
    """A git bundle of one root commit per (ref name, files); returns ref name -> commit hash."""
    stream, marks = [], {}
    for ref, files in commits:
        entries = []
        for path in sorted(files):
            data = files[path].encode()
            if data not in marks:
                marks[data] = len(marks) + 1
                stream.append(b"blob\nmark :%d\ndata %d\n%s\n" % (marks[data], len(data), data))
            entries.append(b"M 100644 :%d %s\n" % (marks[data], path.encode()))
        head = f"reset {ref}\ncommit {ref}\nauthor {_IDENTITY}\ncommitter {_IDENTITY}\n"
        text = message.encode()
        stream.append(head.encode() + b"data %d\n%s\n" % (len(text), text))
        stream.append(b"".join(entries) + b"\n")
    with tempfile.TemporaryDirectory(prefix="srft-gen-") as tmp:
        repo = Path(tmp)
        _git("init", "--quiet", "--bare", cwd=repo)
        _git("fast-import", "--quiet", "--done", cwd=repo, stdin=b"".join(stream) + b"done\n")
        refs = _git("for-each-ref", "--format=%(refname) %(objectname)", cwd=repo)
        _git("-c", "pack.threads=1", "bundle", "create", "--quiet", str(bundle), "--all", cwd=repo)
    return dict(line.split() for line in refs.splitlines())


# --- the pack --------------------------------------------------------------------------------


def generate_pack(
    out_dir: str | Path,
    *,
    num_tasks: int,
    seed: int = 0,
    num_repos: int | None = None,
    bugs_per_shape: int = 0,
    config: GenerateConfig | None = None,
) -> GenerateSummary:
    """Write a task pack (tasks.jsonl + repos/*.bundle) of generated tasks to `out_dir`."""
    start = time.monotonic()
    config = config or GenerateConfig(
        num_tasks=num_tasks, seed=seed, num_repos=num_repos or 0, bugs_per_shape=bugs_per_shape
    )
    if config.num_tasks < 1:
        raise ValueError("num_tasks must be at least 1")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: output folder is not empty")
    num_families = config.num_repos or math.ceil(config.num_tasks / config.tasks_per_repo)
    num_families = min(num_families, config.num_tasks)
    used_packages: set[str] = set()
    families = [build_family(config.seed, i, used_packages) for i in range(num_families)]
    pools = [
        [c for fns in f.modules.values() for fn in fns for c in _limited(candidates(fn), config)]
        for f in families
    ]
    kinds = list(KINDS)
    random.Random(f"srft-gen/{config.seed}/kinds").shuffle(kinds)
    counts: Counter[str] = Counter()
    bugged: set[int] = set()
    per_family: list[list[dict]] = [[] for _ in families]
    for j in range(config.num_tasks):
        index = j % num_families
        rng = random.Random(f"srft-gen/{config.seed}/task/{j}")
        candidate = _pick(rng, pools[index], kinds[j % len(kinds)], counts, bugged)
        if candidate is None:
            raise ValueError(
                f"repository {families[index].family} has no function left for task {j + 1}: "
                f"ask for more repositories (num_repos) or fewer tasks"
            )
        counts[candidate.bug.kind] += 1
        number = len(per_family[index]) + 1
        per_family[index].append(task_row(families[index], candidate, number, rng))
    (out / "repos").mkdir(parents=True, exist_ok=True)
    rows_by_family = []
    for family, tasks in zip(families, per_family):
        refs = [(f"refs/tasks/{t['row']['instance_id']}", t["files"]) for t in tasks]
        bundle = out / "repos" / f"{OWNER}__{family.family}.bundle"
        hashes = write_bundle(bundle, refs, f"{family.package}: generated repository")
        for (ref, _), task in zip(refs, tasks):
            task["row"]["base_commit"] = task["row"]["environment_setup_commit"] = hashes[ref]
        rows_by_family.append([t["row"] for t in tasks])
    rows = [rows_by_family[j % num_families][j // num_families] for j in range(config.num_tasks)]
    with (out / "tasks.jsonl").open("w") as lines:
        lines.writelines(json.dumps(row) + "\n" for row in rows)
    summary = GenerateSummary(
        out_dir=str(out),
        num_tasks=len(rows),
        num_repos=num_families,
        kinds=dict(sorted(counts.items())),
        families=[f.family for f in families],
    )
    (out / "generated.json").write_text(
        json.dumps(
            {"config": asdict(config), "kinds": summary.kinds, "families": summary.families},
            indent=1,
        )
        + "\n"
    )
    summary.seconds = time.monotonic() - start
    return summary
