"""Typed configs: dataclasses per component, composed per job, loaded from YAML plus `a.b=c` overrides.

Each component declares a keyword-only dataclass next to the class it configures. A job's root
config nests them. `load_config(RootConfig, files, overrides)` merges YAML files left to right,
applies dotted overrides, and builds the dataclasses while checking every key and type, so a typo
is an error that names the key (and the file it came from) instead of a silently ignored setting.
A config class may list `MOVED_KEYS` (a ClassVar: old key -> new dotted path) so a renamed key
names its new place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
"""A float in exponent form that YAML 1.1 leaves a string (1e-4, 5E+3)."""


class ConfigError(ValueError):
    """A config file or override that does not match the config's declared fields."""


def load_config(
    cls: type[T], files: list[str | Path] = (), overrides: list[str] = (), base: dict | None = None
) -> T:
    """Build `cls` from `base`, then each YAML file in order, then each `a.b=c` override."""
    merged: dict[str, Any] = dict(base or {})
    for file in files:
        path = Path(file)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
        try:
            from_dict(cls, _deep_merge(merged, data))  # validate this file's keys early
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        merged = _deep_merge(merged, data)
    for override in overrides:
        merged = _deep_merge(merged, parse_override(override))
        try:
            from_dict(cls, merged)
        except ConfigError as exc:
            raise ConfigError(f"override {override!r}: {exc}") from None
    return from_dict(cls, merged)


def parse_override(text: str) -> dict[str, Any]:
    """`agent.step_limit=5` -> {"agent": {"step_limit": 5}}; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key.path=value")
    value = yaml.safe_load(raw) if raw.strip() else ""
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a plain mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    moved = getattr(cls, "MOVED_KEYS", {})  # old key -> its new path under the same section
    for key in unknown:
        if key in moved:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"key {prefix + key!r} is now {prefix + moved[key]!r}")
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(
            f"unknown key {name!r} for {cls.__name__} (known: {', '.join(sorted(fields))})"
        )
    kwargs = {
        name: _coerce(
            hints[name], _onto_default(fields[name], value), f"{where}.{name}" if where else name
        )
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as exc:  # a config's own check (__post_init__): name where it sits
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def _onto_default(spec: dataclasses.Field, value: Any) -> Any:
    """A partial mapping for a nested section fills in the parent's default for that section
    (TrainConfig's masking has max_length 4096, not MaskingConfig's None), not the child class's."""
    if not isinstance(value, dict) or spec.default_factory is dataclasses.MISSING:
        return value
    default = spec.default_factory()
    if not dataclasses.is_dataclass(default):
        return value
    return _deep_merge(_plain(default), value)


def _plain(config: Any) -> Any:
    """A config as nested mappings (init fields only), so a partial section merges into it."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {
            f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config) if f.init
        }
    return config


def upgrade_config(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """A config recorded by an earlier version (a run's run.json) with each of its MOVED_KEYS
    in its new place, so `srft ablate` and the benchmarks still read old runs."""
    data = dict(data)
    moved: dict[str, Any] = {}
    for old, new in getattr(cls, "MOVED_KEYS", {}).items():
        if old in data:
            *path, leaf = new.split(".")
            node = moved
            for part in path:
                node = node.setdefault(part, {})
            value = _upgraded_value(leaf, data.pop(old))
            if isinstance(node.get(leaf), dict) and isinstance(value, dict):
                value = _deep_merge(node[leaf], value)
            node[leaf] = value
    data = _deep_merge(moved, data)
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        value = data.get(spec.name)
        if isinstance(value, dict) and dataclasses.is_dataclass(hints[spec.name]):
            data[spec.name] = upgrade_config(hints[spec.name], value)
    return data


def _upgraded_value(leaf: str, value: Any) -> Any:
    if leaf == "num_gpus" and isinstance(value, bool):  # train_use_gpu: one GPU per worker
        return 1.0 if value else 0.0
    if leaf == "max_length" and value == 0:  # TrainConfig's old "no limit"
        return None
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """Plain, JSON-able mapping of a config (for manifests and provenance)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_hash(config: Any) -> str:
    """A short, stable content hash of a config."""
    blob = json.dumps(to_dict(config), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_tp, *_) = get_args(tp) or (Any,)
        items = [_coerce(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        # PyYAML reads YAML 1.1, where 1e-4 (no dot) is a string: take it as the number meant.
        if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
