"""Files of SWE-bench rows (.jsonl, .json, .parquet) read as Tasks, with errors that name the
file, the row and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from srft_ray.data.model import DataError, Task

# Row fields that must be strings when present (Task.from_row checks the required ones).
_STRING_FIELDS = ("patch", "test_patch", "version", "hints_text", "environment_setup_commit")


def read_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, row) for each row of a .jsonl / .json / .parquet file of tasks."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such task file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for number, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield number, row
        return
    if path.suffix == ".json":  # a JSON list of rows (how some datasets are shared)
        rows = json.loads(path.read_text())
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected a JSON list of task rows")
        yield from enumerate(rows, start=1)
        return
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: row {number}: not valid JSON ({exc})") from None
            yield number, row


def load_tasks(path: str | Path) -> list[Task]:
    """Every row of a task file as a Task; a bad row raises DataError naming file, row and field."""
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for number, row in read_rows(path):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {number}: expected an object, got {type(row).__name__}")
        where = f"{path}: row {number} (instance {row.get('instance_id', '?')!r})"
        task = Task.from_row(row, where=where)
        for key in _STRING_FIELDS:
            if key in row and row[key] is not None and not isinstance(row[key], str):
                raise DataError(f"{where}: field {key!r} must be a string")
        if not task.image and isinstance(row.get("image_name"), str):
            task.image = row["image_name"]  # SWE-smith rows name their docker image this way
        if task.instance_id in seen:
            raise DataError(f"{where}: instance_id repeats row {seen[task.instance_id]}")
        seen[task.instance_id] = number
        tasks.append(task)
    return tasks
