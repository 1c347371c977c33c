"""Content hashes (files, stores, model folders, configs) and atomic JSON writes for manifests."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError

# ----------------------------------------------------------------------------- hashing

_CHUNK = 1 << 20
# (path, size, mtime_ns) -> sha256: the base model is hashed once per process, not once per round.
_file_hash_cache: dict[tuple[str, int, int], str] = {}


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _file_hash_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        _file_hash_cache[key] = digest.hexdigest()
    return _file_hash_cache[key]


def files_hash(root: str | Path, files: list[Path]) -> str:
    """One hash over several files: their names relative to `root` and their content hashes."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{file_hash(path)}\n".encode())
    return digest.hexdigest()


def dataset_hash(store_dir: str | Path) -> str:
    """Content hash of a TrajectoryStore: its Parquet part files (not temp files or markers)."""
    store_dir = Path(store_dir)
    return files_hash(store_dir, sorted(store_dir.glob("part-*.parquet")))


# Besides the weights, what makes a model folder the policy it is: the tokenizer (ids) and the
# chat template (how turns render); the same weights under another template are another policy.
MODEL_FILE_PATTERNS = (
    "tokenizer*",  # tokenizer.json, tokenizer_config.json (often holds the template), .model
    "chat_template*",  # chat_template.jinja / .json
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.*",
    "merges.txt",
)


def checkpoint_hash(model_dir: str | Path) -> str:
    """Content hash of a Hugging Face model folder: the safetensors weights, the tokenizer files
    and the chat template (not logs, READMEs or training state that sit next to them)."""
    model_dir = Path(model_dir)
    weights = sorted(model_dir.rglob("*.safetensors"))
    if not weights:
        raise DataError(f"{model_dir}: no *.safetensors files to hash")
    others = {p for pattern in MODEL_FILE_PATTERNS for p in model_dir.glob(pattern) if p.is_file()}
    return files_hash(model_dir, weights + sorted(others))


def content_hash(path: str | Path) -> str:
    """Hash whatever a stage produced: a store, a model folder, a file or any other folder."""
    path = Path(path)
    if path.is_file():
        return file_hash(path)
    if not path.is_dir():
        raise DataError(f"{path}: output does not exist, cannot hash it")
    if any(path.glob("part-*.parquet")):
        return dataset_hash(path)
    if any(path.rglob("*.safetensors")):
        return checkpoint_hash(path)
    return files_hash(path, sorted(p for p in path.rglob("*") if p.is_file()))


def json_hash(value: Any) -> str:
    """Stable hash of a JSON-able value (a config as a dict, or a dataclass)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_relative_hash(value: Any, run_dir: str | Path) -> str:
    """json_hash of `value` with every path inside `run_dir` written relative to it.

    A stage's inputs name files of its own run (the stores it trains on, the folder it exports
    to), whose contents are hashed separately. Keying on where the run folder lives would make
    a moved or copied run (`cp -r run run_rft`, then one option changed) redo every stage.
    """
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    roots = {str(Path(run_dir)), str(Path(run_dir).resolve())}

    def relative(item: Any) -> Any:
        if isinstance(item, dict):
            return {relative(key): relative(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [relative(inner) for inner in item]
        if isinstance(item, str):
            for root in roots:
                if item == root or item.startswith(root + "/"):
                    return "$RUN" + item[len(root) :]
        return item

    return json_hash(relative(value))


def inputs_hash(inputs: Mapping[str, str]) -> str:
    """One hash over a stage's named input hashes; the order of the names does not matter."""
    return json_hash(dict(inputs))


# ----------------------------------------------------------------------------- atomic JSON


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON so readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    # fsync the directory so the rename itself survives a power cut
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: {what} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: {what} must be a JSON object")
    return data
