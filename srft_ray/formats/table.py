"""Messages tables: JSONL or Parquet, one row per trajectory, the shape of public SFT sets.

A row holds `messages` (OpenAI chat messages, a list or its JSON text; assistant messages may
carry `tool_calls`, observations may be `tool` messages with `tool_call_id`), and optionally
`instance_id`, `resolved` (bool), `exit_status` and a patch (`patch` or `model_patch`). Rows are
read with the mini-swe-agent message reader, so text actions (```bash fences) and tool calls
import the same way. Role aliases seen in public sets (`ai`, `human`) and a `text` key instead
of `content` are accepted. A bad row fails alone, named `FILE:row N`; the other rows import.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError, Trajectory
from srft_ray.formats.fields import FieldReader
from srft_ray.formats.minisweagent import minisweagent_to_trajectory

FORMAT_NAME = "messages-table"
TABLE_SUFFIXES = (".jsonl", ".parquet")
_ROLE_ALIASES = {"ai": "assistant", "human": "user", "gpt": "assistant"}


def is_table(path: Path) -> bool:
    return path.suffix in TABLE_SUFFIXES


def read_rows(path: Path) -> list[Any]:
    """The rows of a JSONL or Parquet file (a JSONL line that is not JSON is a DataError)."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path}: not a readable Parquet table ({exc})") from None
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number} is not JSON ({exc.msg})") from None
    return rows


def import_table(path: str | Path) -> tuple[list[Trajectory], list[tuple[str, str]]]:
    """Trajectories of every good row, and (where, message) for each bad row."""
    path = Path(path)
    trajs, errors = [], []
    for index, row in enumerate(read_rows(path)):
        where = f"{path}:row {index}"
        try:
            trajs.append(row_to_trajectory(row, source=where, file_stem=path.stem, index=index))
        except DataError as exc:
            errors.append((where, str(exc)))
    return trajs, errors


def row_to_trajectory(row: Any, *, source: str, file_stem: str, index: int) -> Trajectory:
    rd = FieldReader(source)
    if not isinstance(row, dict):
        raise rd.error("<row>", f"is {type(row).__name__}, expected an object")
    messages = row.get("messages")
    if isinstance(messages, str):  # several public sets store the list as JSON text
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError as exc:
            raise rd.error("messages", f"is text but not JSON ({exc.msg})") from None
    if not isinstance(messages, list):
        raise rd.error("messages", "missing" if messages is None else "is not a list")
    messages = [_normalise(m) for m in messages]
    instance_id = rd.get(row, "instance_id", "instance_id", str, required=False)
    instance_id = instance_id or f"{file_stem}-{index}"
    resolved = rd.get(row, "resolved", "resolved", bool, required=False)
    exit_status = rd.get(row, "exit_status", "exit_status", str, required=False, default="")
    patch = row.get("model_patch", row.get("patch"))
    info = {"exit_status": exit_status, "submission": patch if isinstance(patch, str) else ""}
    record = {"messages": messages, "info": info, "instance_id": instance_id}
    traj = minisweagent_to_trajectory(record, source=source)
    digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
    traj.trajectory_id = f"{instance_id}/table-{digest[:16]}"
    traj.outcome.resolved = resolved
    traj.provenance.agent = FORMAT_NAME
    traj.provenance.policy_model = str(row.get("model") or row.get("model_name") or "")
    traj.extra["source_format"] = FORMAT_NAME
    return traj


def _normalise(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    message = dict(message)
    if message.get("role") in _ROLE_ALIASES:
        message["role"] = _ROLE_ALIASES[message["role"]]
    if "content" not in message and "text" in message:
        message["content"] = message.pop("text")
    return message
