"""Generated repositories: a family's functions rendered from shapes, run, and written as files.

`build_family` draws a repository (domain, package, modules, one shape per function, names);
`candidates` runs every bug of every function on its examples and keeps those that show;
`module_text`, `function_tests` and `family_files` write the files, with or without one bug.
Functions run here, in-process, on literal arguments: the outputs that statements and tests
quote are computed, never written by hand.
"""

from __future__ import annotations

import copy
import difflib
import random
import string
import sys
from dataclasses import dataclass, field
from typing import Any

from srft_ray.tasks.generated_templates import SHAPES, Bug, Shape
from srft_ray.tasks.generated_vocab import DOMAINS, PACKAGE_SUFFIXES, ROLE_NAMES, Domain


@dataclass
class Function:
    shape: Shape
    package: str
    module: str
    name: str
    names: dict[str, Any]
    """Role -> identifier (and `c_*` constants) the shape's template is formatted with."""
    examples: list[tuple[Any, ...]]

    @property
    def qualname(self) -> str:
        return f"{self.package}.{self.module}.{self.name}"

    def render(self, bug: Bug | None = None) -> str:
        code = self.shape.code
        if bug is not None:
            if code.count(bug.old) != 1:
                raise AssertionError(f"shape {self.shape.name}: {bug.old!r} is not unique")
            code = code.replace(bug.old, bug.new)
        return code.format(fn=self.name, **self.names)


@dataclass
class Family:
    family: str
    domain: Domain
    modules: dict[str, list[Function]]

    @property
    def package(self) -> str:
        return self.family


@dataclass
class Candidate:
    """One (function, bug) pair whose bug shows on at least one example."""

    function: Function
    bug: Bug
    diffs: list[tuple[tuple[Any, ...], tuple[str, Any], tuple[str, Any]]]
    """(args, fixed outcome, buggy outcome) where they differ; the shortest call first."""
    agreeing: list[tuple[tuple[Any, ...], Any]] = field(default_factory=list)
    """(args, value) where the bug does not show."""


# --- running functions -----------------------------------------------------------------------

_COMPILED: dict[str, Any] = {}


def run_function(code: str, name: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    """("ok", value) or ("raise", "TypeError: message") of `name(*args)` defined by `code`."""
    if code not in _COMPILED:
        namespace: dict[str, Any] = {}
        exec(compile(code, f"<generated {name}>", "exec"), namespace)
        _COMPILED[code] = namespace[name]
    try:
        return "ok", _COMPILED[code](*copy.deepcopy(args))
    except Exception as exc:
        return "raise", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _differ(fixed: tuple[str, Any], buggy: tuple[str, Any]) -> bool:
    # A test asserts `== expected`: the bug shows only when that comparison fails.
    return buggy[0] != "ok" or buggy[1] != fixed[1]


def call_text(function: Function, args: tuple[Any, ...], *, qualified: bool) -> str:
    prefix = f"{function.package}.{function.module}." if qualified else f"{function.module}."
    return f"{prefix}{function.name}({', '.join(map(repr, args))})"


# --- building families -----------------------------------------------------------------------


def _fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _pick_name(rng: random.Random, pool: tuple[str, ...], taken: set[str]) -> str:
    free = [n for n in pool if n not in taken]
    if not free:
        raise AssertionError(f"name pool {pool} exhausted by {sorted(taken)}")
    return rng.choice(free)


def _make_function(
    rng: random.Random, shape: Shape, domain: Domain, package: str, module: str, used: set[str]
) -> Function:
    plural, singular = rng.choice(domain.nouns)
    options = [p.format(plural=plural, singular=singular) for p in shape.fn_names]
    rng.shuffle(options)
    name = next((n for n in options if n not in used), options[0])
    while name in used:
        name = f"{name}_{rng.randint(2, 9)}"
    used.add(name)
    names: dict[str, Any] = {"seq": plural, "elem": singular, **shape.constants(rng)}
    taken = {name, plural, singular, module, package}
    for role in _fields(shape.code):
        if role not in names and role != "fn":
            names[role] = _pick_name(rng, ROLE_NAMES[role], taken)
            taken.add(names[role])
    return Function(shape, package, module, name, names, shape.examples(rng, domain.words))


def build_family(seed: int, index: int, used_packages: set[str]) -> Family:
    """Repository number `index` of the pack: its domain, package, modules and functions."""
    order = list(DOMAINS)
    random.Random(f"srft-gen/{seed}/domains").shuffle(order)
    domain = order[index % len(order)]
    rng = random.Random(f"srft-gen/{seed}/repo/{index}")
    package = ""
    taken = used_packages | set(sys.stdlib_module_names)  # `import calendar` must stay stdlib
    for _ in range(30):
        package = rng.choice(domain.packages) + rng.choice(PACKAGE_SUFFIXES)
        if package not in taken:
            break
    while package in taken:
        package = f"{rng.choice(domain.packages)}{rng.randint(2, 99)}"
    used_packages.add(package)
    module_names = rng.sample(domain.modules, rng.randint(2, 4))
    sizes = [rng.randint(3, 4) for _ in module_names]
    shapes = rng.sample(SHAPES, sum(sizes))
    used: set[str] = set()
    modules: dict[str, list[Function]] = {}
    for module, size in zip(module_names, sizes):
        picked, shapes = shapes[:size], shapes[size:]
        modules[module] = [_make_function(rng, s, domain, package, module, used) for s in picked]
    return Family(package, domain, modules)


def candidates(function: Function) -> list[Candidate]:
    fixed_code = function.render()
    found = []
    for bug in function.shape.bugs:
        buggy_code = function.render(bug)
        diffs, agreeing = [], []
        for args in function.examples:
            fixed = run_function(fixed_code, function.name, args)
            if fixed[0] != "ok":
                continue
            buggy = run_function(buggy_code, function.name, args)
            if _differ(fixed, buggy):
                diffs.append((args, fixed, buggy))
            else:
                agreeing.append((args, fixed[1]))
        if diffs:
            diffs.sort(key=lambda d: len(call_text(function, d[0], qualified=False)))
            found.append(Candidate(function, bug, diffs, agreeing))
    return found


# --- files -----------------------------------------------------------------------------------


def module_text(family: Family, module: str, bugged: Candidate | None = None) -> str:
    parts = []
    for function in family.modules[module]:
        hit = bugged is not None and bugged.function is function
        parts.append(function.render(bugged.bug if hit else None))
    title = module.replace("_", " ").capitalize()
    return f'"""{title} helpers for {family.package}."""\n\n\n' + "\n\n".join(parts)


def _test(name: str, checks: list[tuple[str, Any]]) -> str:
    lines = [f"def {name}():"]
    lines += [f"    assert {call} == {value!r}" for call, value in checks]
    return "\n".join(lines) + "\n"


def function_tests(function: Function, candidate: Candidate | None = None) -> dict[str, str]:
    """Test name -> source. Plain: from the first examples; for a bug: each one fails on it."""
    call = lambda args: call_text(function, args, qualified=False)  # noqa: E731
    if candidate is None:
        fixed = function.render()
        passing = [
            (args, out[1])
            for args in function.examples
            if (out := run_function(fixed, function.name, args))[0] == "ok"
        ]
        groups = [passing[:2], passing[2:3]]
    else:
        shown = [(args, fixed[1]) for args, fixed, _ in candidate.diffs]
        groups = [shown[:1] + candidate.agreeing[:1], shown[1:2]]
    tests = {}
    for number, group in enumerate((g for g in groups if g), start=1):
        name = f"test_{function.name}_{number}"
        tests[name] = _test(name, [(call(a), v) for a, v in group])
    return tests


def tests_text(family: Family, module: str, tests: dict[str, str]) -> str:
    return f"from {family.package} import {module}\n\n\n" + "\n\n".join(tests.values())


def family_files(family: Family) -> dict[str, str]:
    """The repository's files with no bug (every function's plain tests included)."""
    pkg = family.package
    files = {
        "README.md": (
            f"# {pkg}\n\nSmall {family.domain.name} helpers: "
            f"{', '.join(f'`{pkg}.{m}`' for m in family.modules)}.\n\n"
            "Run the tests with `python -m pytest`.\n"
        ),
        "pyproject.toml": (
            f'[project]\nname = "{pkg}"\nversion = "0.1.0"\n'
            f'description = "Small {family.domain.name} helpers"\nrequires-python = ">=3.8"\n\n'
            '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
        ),
        f"{pkg}/__init__.py": f'"""{pkg}: small {family.domain.name} helpers."""\n',
    }
    for module, functions in family.modules.items():
        files[f"{pkg}/{module}.py"] = module_text(family, module)
        tests = {k: v for f in functions for k, v in function_tests(f).items()}
        files[f"tests/test_{module}.py"] = tests_text(family, module, tests)
    return files


def unified_diff(path: str, old: str, new: str) -> str:
    """A `git apply`-able diff of one file (3 lines of context, git's a/ b/ prefixes)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return f"diff --git a/{path} b/{path}\n" + "".join(lines)
