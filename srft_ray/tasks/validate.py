"""Check that every task of a source is well-formed in a real sandbox.

A task is valid when, with its test_patch applied, the base commit fails every FAIL_TO_PASS test
and the gold patch passes every FAIL_TO_PASS and PASS_TO_PASS test (graded by swebench's own
log parsers and report functions, like any agent patch).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from swebench.harness.grading import test_passed

from srft_ray.data.model import Task
from srft_ray.protocols import TaskSource
from srft_ray.tasks.grading import GradingConfig, grade_patch


@dataclass(kw_only=True)
class ValidationResult:
    """The verdict on one task, with the counts the table shows."""

    instance_id: str
    num_fail_to_pass: int = 0
    num_pass_to_pass: int = 0
    num_base_f2p_failing: int = 0
    num_gold_f2p_passing: int = 0
    num_gold_p2p_passing: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_task(
    task: Task,
    source: TaskSource,
    *,
    sandbox_config: Any = None,
    config: GradingConfig | None = None,
) -> ValidationResult:
    """Grade the base commit and the gold patch of `task`, each in a fresh sandbox."""
    start = time.monotonic()
    result = ValidationResult(
        instance_id=task.instance_id,
        num_fail_to_pass=len(task.fail_to_pass),
        num_pass_to_pass=len(task.pass_to_pass),
    )
    if not task.fail_to_pass:
        result.problems.append("FAIL_TO_PASS is empty")
    if not task.patch.strip():
        result.problems.append("no gold patch")
    try:
        base = grade_patch(task, None, source=source, sandbox_config=sandbox_config, config=config)
        gold = grade_patch(
            task, task.patch, source=source, sandbox_config=sandbox_config, config=config
        )
    except Exception as exc:  # a broken task must not stop the others; report it in its row
        result.problems.append(f"{type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - start
        return result
    passing_at_base = [t for t in task.fail_to_pass if test_passed(t, base.test_results)]
    result.num_base_f2p_failing = len(task.fail_to_pass) - len(passing_at_base)
    result.num_gold_f2p_passing = len(gold.report.get("FAIL_TO_PASS", {}).get("success", []))
    result.num_gold_p2p_passing = len(gold.report.get("PASS_TO_PASS", {}).get("success", []))
    if not base.patch_applied:
        result.problems.append("base: test_patch did not apply or the tests did not run")
    if passing_at_base:
        result.problems.append(f"base passes FAIL_TO_PASS tests: {passing_at_base}")
    if not gold.patch_applied:
        result.problems.append("gold: patch or test_patch did not apply, or tests did not run")
    for kind in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        failing = gold.report.get(kind, {}).get("failure", [])
        if failing:
            result.problems.append(f"gold fails {kind} tests: {failing}")
    result.seconds = time.monotonic() - start
    return result


def validate_tasks(
    tasks: list[Task],
    source: TaskSource,
    *,
    sandbox_config: Any = None,
    config: GradingConfig | None = None,
    num_workers: int = 2,
    on_result: Callable[[int, int, ValidationResult], None] | None = None,
) -> list[ValidationResult]:
    """Validate tasks concurrently (sandboxes are independent); results in task order."""
    by_id: dict[str, ValidationResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        futures = [
            pool.submit(validate_task, t, source, sandbox_config=sandbox_config, config=config)
            for t in tasks
        ]
        for num_done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            by_id[result.instance_id] = result
            if on_result is not None:
                on_result(num_done, len(tasks), result)
    return [by_id[t.instance_id] for t in tasks]


def format_table(results: list[ValidationResult]) -> str:
    """One row per task: the counts each check needs and the verdict; problems listed below."""
    header = (
        "instance",
        "base F2P failing",
        "gold F2P passing",
        "gold P2P passing",
        "seconds",
        "verdict",
    )
    rows = [
        (
            r.instance_id,
            f"{r.num_base_f2p_failing}/{r.num_fail_to_pass}",
            f"{r.num_gold_f2p_passing}/{r.num_fail_to_pass}",
            f"{r.num_gold_p2p_passing}/{r.num_pass_to_pass}",
            f"{r.seconds:.1f}",
            "valid" if r.valid else "INVALID",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        lines += [f"{r.instance_id}: {problem}" for problem in r.problems]
    return "\n".join(lines)


def print_progress(num_done: int, num_total: int, result: ValidationResult) -> None:
    verdict = "valid" if result.valid else "INVALID"
    print(
        f"[{num_done}/{num_total}] {result.instance_id}: {verdict} ({result.seconds:.1f}s)",
        file=sys.stderr,
        flush=True,
    )
