"""Reading untrusted JSON records with errors that name the file and the field.

Every importer reads through a `FieldReader`, so a malformed file fails with a message such as
``x.traj: field 'history[3].role' missing`` instead of a bare KeyError deep inside a batch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError

_TYPE_NAMES = {str: "a string", dict: "an object", list: "a list", int: "an integer"}


class FieldReader:
    """Typed access to fields of one source file's JSON; errors name `source` and the field path."""

    def __init__(self, source: str):
        self.source = source

    def error(self, path: str, problem: str) -> DataError:
        return DataError(f"{self.source}: field '{path}' {problem}")

    def get(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        kind: type | tuple[type, ...],
        *,
        required: bool = True,
        default: Any = None,
    ) -> Any:
        """`obj[key]` checked against `kind`; None or absent gives `default` unless `required`."""
        value = obj.get(key)
        if value is None:
            if required:
                raise self.error(path, "missing")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int subclass; a JSON true where a number belongs is still a malformed file.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise self.error(path, f"is {type(value).__name__}, expected {wanted}")
        return value

    def text(self, content: Any, path: str) -> str:
        """Message content as text: a string, None (empty) or a list of content parts.

        Content lists (multimodal messages, Anthropic blocks, Responses API items) contribute the
        `text` of each part, joined without separators: mini-swe-agent splits one text into parts
        around images, so joining restores the text the model saw, minus the images.
        """
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = []
            for i, part in enumerate(content):
                if isinstance(part, str):
                    parts.append(part)
                elif isinstance(part, dict):
                    text = part.get("text")
                    if text is not None and not isinstance(text, str):
                        raise self.error(f"{path}[{i}].text", f"is {type(text).__name__}")
                    parts.append(text or "")
                else:
                    raise self.error(
                        f"{path}[{i}]", f"is {type(part).__name__}, expected an object"
                    )
            return "".join(parts)
        raise self.error(path, f"is {type(content).__name__}, expected a string or content list")


def read_json(path: Path) -> tuple[Any, str]:
    """The parsed JSON of `path` and a short content hash (stable ids for re-imports)."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    return data, hashlib.sha256(raw).hexdigest()[:16]


def instance_id_from_filename(path: Path) -> str:
    """`<instance_id>.traj`, `<instance_id>.traj.json` and `<instance_id>.json` all name the task."""
    name = path.name
    for suffix in (".traj.json", ".traj", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
