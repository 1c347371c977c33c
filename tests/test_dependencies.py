"""The dependency runs one way: jobs -> rounds -> library; actors are shells the library never
imports, and no two library modules import each other (directly or around a loop)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "srft_ray"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every srft_ray module `path` imports, at module level or inside a function.

    `from pkg import mod` counts as importing pkg.mod when that is a module (importing a
    module always runs its package's __init__ first; that alone is no dependency)."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if _is_module(child) else base)
    return {name for name in found if name == "srft_ray" or name.startswith("srft_ray.")}


def _is_module(name: str) -> bool:
    parts = name.split(".")
    if parts[0] != "srft_ray":
        return False
    if parts[:2] in (["srft_ray", "actors"], ["srft_ray", "jobs"]):  # installed from actors/, jobs/
        base = ROOT / parts[1]
        parts = parts[2:]
    else:
        base, parts = LIBRARY, parts[1:]
    target = base.joinpath(*parts)
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


def _library_modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in LIBRARY.rglob("*.py")
        if "task_pack" not in path.parts and not path.is_symlink()
    }


def test_no_library_module_imports_the_actors():
    offenders = {
        name: sorted(i for i in _imports(path) if i.startswith("srft_ray.actors"))
        for name, path in _library_modules().items()
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_import_cycle_among_library_modules():
    modules = _library_modules()
    graph = {
        name: {i for i in _imports(path) if i in modules and i != name}
        for name, path in modules.items()
    }
    # A package's __init__ is imported on the way to each of its modules: that edge is not a
    # dependency of the module on the package, so only explicit imports of the package count.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_imports(tmp_path):
    probe = LIBRARY / "collect.py"
    assert "srft_ray.actor_pool" in _imports(probe)
    assert "srft_ray.agent.agent_loop" in _imports(probe)
