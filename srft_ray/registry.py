"""Choosing an implementation by a short name: one "module:attribute" map per pluggable part.

Every pluggable part keeps its map next to its protocol or config (sandboxes:
srft_ray.sandbox.BACKENDS; task sources: srft_ray.tasks.source.SOURCES; policies:
srft_ray.agent.policies.POLICIES; critic backends: srft_ray.critic.config.BACKENDS) and
resolves names through `resolve`, which imports the module only when the name is used, so the
bwrap path never imports the docker SDK and the library never imports what it does not run.

`ACTOR_FACTORIES` names the Ray actors (the thin shells in actors/, installed as
srft_ray.actors) that the library starts when a caller does not hand it a factory: the library
takes factories as arguments and falls back to these names, so no library module imports
srft_ray.actors (tests/test_dependencies.py checks it).
"""

from __future__ import annotations

import importlib
from typing import Any

ACTOR_FACTORIES: dict[str, str] = {
    "rollout_worker": "srft_ray.actors.rollout_worker:start_rollout_worker",
    "engine": "srft_ray.actors.engine:start_engine_actor",
    "critic_worker": "srft_ray.actors.critic_worker:start_critic_worker",
}


def load(target: str) -> Any:
    """The object a "module:attribute" string names."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"{target!r}: expected 'module:attribute'")
    return getattr(importlib.import_module(module_name), attribute)


def resolve(registry: dict[str, str], name: str, what: str) -> Any:
    """`registry[name]` loaded; ValueError naming the known names when `name` is unknown."""
    target = registry.get(name)
    if target is None:
        raise ValueError(f"unknown {what} {name!r} (known: {', '.join(sorted(registry))})")
    return load(target)


def actor_factory(name: str) -> Any:
    """The default starter of one of the library's Ray actors (see ACTOR_FACTORIES)."""
    return resolve(ACTOR_FACTORIES, name, "actor")
