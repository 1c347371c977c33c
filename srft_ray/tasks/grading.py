"""Grading a patch the way SWE-bench does, with swebench's own parsers and report functions.

The evaluation: a fresh sandbox holding the task checkout at base_commit; the patch is applied
(`git apply`, then `patch --fuzz` as swebench's harness falls back); the test files named in
test_patch are reset to base_commit and test_patch applied; the tests run between swebench's
">>>>> Start Test Output" / ">>>>> End Test Output" markers. The log is graded exactly like
`swebench.harness.grading.get_eval_report` grades a log file: bad-code markers, the repository's
log parser from MAP_REPO_TO_PARSER, `get_eval_tests_report`, `get_resolution_status`.

- Repositories swebench knows (MAP_REPO_VERSION_TO_SPECS, e.g. django/django) use the eval
  script from `make_test_spec` (conda env, repo-specific test command); it runs only in the
  docker sandbox from the SWE-bench instance image.
- Other repositories (the embedded pack, user packs) run `python -m pytest -rA` on the test
  files of test_patch and are parsed with swebench's `parse_log_pytest`.
"""

from __future__ import annotations

import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swebench.harness.constants import (
    APPLY_PATCH_FAIL,
    APPLY_PATCH_PASS,
    END_TEST_OUTPUT,
    FAIL_ONLY_REPOS,
    FAIL_TO_PASS,
    MAP_REPO_TO_EXT,
    MAP_REPO_VERSION_TO_SPECS,
    PASS_TO_PASS,
    RESET_FAILED,
    START_TEST_OUTPUT,
    TESTS_ERROR,
    TESTS_TIMEOUT,
    EvalType,
    ResolvedStatus,
)
from swebench.harness.grading import get_eval_tests_report, get_resolution_status
from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
from swebench.harness.log_parsers.python import parse_log_pytest
from swebench.harness.test_spec.create_scripts import make_eval_script_list
from swebench.harness.test_spec.python import get_test_directives
from swebench.harness.test_spec.test_spec import TestSpec

from srft_ray.data.model import Outcome, Task
from srft_ray.protocols import Sandbox, TaskSource

_GRADING_DIR = ".git/srft-grading"  # inside the checkout, invisible to `git diff` and `git status`


@dataclass(kw_only=True)
class GradingConfig:
    """How a patch is evaluated for repositories swebench has no spec for."""

    test_command: str = "python -m pytest -rA -p no:cacheprovider"
    """Test runner; the test files of test_patch are appended (pytest -rA output is parsed)."""
    timeout_s: float = 300.0
    """Wall-clock limit of the whole evaluation script (apply, tests, reset)."""
    image_namespace: str = "swebench"
    """Docker Hub namespace of SWE-bench instance images; empty: locally built image names."""


@dataclass(kw_only=True)
class GradeResult:
    """swebench's verdict on one evaluation log."""

    resolved: bool
    status: str
    """swebench ResolvedStatus: RESOLVED_FULL, RESOLVED_PARTIAL or RESOLVED_NO."""
    patch_applied: bool
    """False when the log shows the patch (or test patch) did not apply, or tests errored."""
    test_results: dict[str, str] = field(default_factory=dict)
    """Test name -> PASSED / FAILED / ERROR / SKIPPED / XFAIL as the log parser read it."""
    report: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """swebench's tests_status: FAIL_TO_PASS / PASS_TO_PASS -> success / failure lists."""
    log: str = ""
    seconds: float = 0.0

    def to_outcome(self, outcome: Outcome) -> Outcome:
        """Copy the verdict onto an episode's Outcome (patch and exit status stay as they are)."""
        outcome.resolved = self.resolved
        outcome.test_results = dict(self.test_results)
        outcome.grading_log = self.log
        return outcome


def swebench_instance(task: Task) -> dict[str, Any]:
    """The task as the instance dict swebench's functions take (lists as JSON strings)."""
    return task.to_row()


def has_swebench_spec(task: Task) -> bool:
    return task.version in MAP_REPO_VERSION_TO_SPECS.get(task.repo, {})


def test_spec_for(task: Task, *, namespace: str | None = None) -> TestSpec | None:
    """swebench's TestSpec for a task of a repository it knows; None for others.

    Built like `make_test_spec` minus the env/repo set-up scripts: those are only for building
    images, and making them fetches requirement files from GitHub (grading must work offline).
    """
    if not has_swebench_spec(task):
        return None
    instance = swebench_instance(task)
    specs = MAP_REPO_VERSION_TO_SPECS[task.repo][task.version]
    script = make_eval_script_list(
        instance, specs, "testbed", "/testbed", task.base_commit, task.test_patch
    )
    return TestSpec(
        instance_id=task.instance_id,
        repo=task.repo,
        version=task.version,
        repo_script_list=[],
        eval_script_list=script,
        env_script_list=[],
        arch="x86_64",
        FAIL_TO_PASS=task.fail_to_pass,
        PASS_TO_PASS=task.pass_to_pass,
        language=MAP_REPO_TO_EXT[task.repo],
        docker_specs=specs.get("docker_specs", {}),
        namespace=namespace or None,
    )


def instance_image(task: Task, namespace: str = "swebench") -> str:
    """The SWE-bench instance image of a task (task.image when the row names one)."""
    if task.image:
        return task.image
    spec = test_spec_for(task, namespace=namespace)
    if spec is None:
        raise ValueError(
            f"task {task.instance_id!r}: no image field and swebench has no spec for "
            f"{task.repo!r} version {task.version!r}, so there is no instance image to start"
        )
    return spec.instance_image_key


def log_parser_for(task: Task) -> Callable[[str, Any], dict[str, str]]:
    return MAP_REPO_TO_PARSER.get(task.repo, parse_log_pytest)


def grade_log(task: Task, log: str) -> GradeResult:
    """swebench's verdict on an evaluation log of `task` (same steps as its get_eval_report)."""
    failed = GradeResult(resolved=False, status=ResolvedStatus.NO.value, patch_applied=False)
    failed.log = log
    if any(code in log for code in (APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT)):
        return failed
    if START_TEST_OUTPUT not in log or END_TEST_OUTPUT not in log:
        return failed
    parser, spec = log_parser_for(task), test_spec_for(task)
    between = log.split(START_TEST_OUTPUT)[1].split(END_TEST_OUTPUT)[0]
    # Like swebench: when nothing parses between the markers (output went elsewhere), parse all.
    status_map = parser(between, spec) or parser(log, spec)
    eval_type = EvalType.FAIL_ONLY if task.repo in FAIL_ONLY_REPOS else EvalType.PASS_AND_FAIL
    gold = {FAIL_TO_PASS: task.fail_to_pass, PASS_TO_PASS: task.pass_to_pass}
    report = get_eval_tests_report(status_map, gold, eval_type=eval_type)
    status = get_resolution_status(report)
    return GradeResult(
        resolved=status == ResolvedStatus.FULL.value,
        status=status,
        patch_applied=True,
        test_results=dict(status_map),
        report={k: report[k] for k in (FAIL_TO_PASS, PASS_TO_PASS)},
        log=log,
    )


def _apply_patch_script(patch_path: str) -> str:
    """Apply the model patch with swebench's fallbacks, printing its success/failure markers."""
    p = shlex.quote(patch_path)
    attempts = [
        f"git apply --verbose {p}",
        f"git apply --verbose --reject {p}",
        f"patch --batch --fuzz=5 -p1 -i {p}",
    ]
    chain = " || ".join(f"({a})" for a in attempts)
    return f"if {chain}; then echo '{APPLY_PATCH_PASS}'; else echo '{APPLY_PATCH_FAIL}'; exit 1; fi"


def local_eval_script(task: Task, workdir: str, config: GradingConfig) -> str:
    """swebench's eval script shape for repos without a swebench spec (runs with pytest)."""
    test_files = get_test_directives(swebench_instance(task))
    quoted = " ".join(shlex.quote(f) for f in test_files)
    # Reset the test files to base_commit (before and after, as swebench does); a file that
    # test_patch creates does not exist there, so only tracked ones are reset.
    base = shlex.quote(task.base_commit)
    reset = (
        f'for f in {quoted}; do git cat-file -e {base}:"$f" 2>/dev/null '
        f'&& git checkout {base} -- "$f"; done; true'
    )
    return "\n".join(
        [
            "#!/bin/bash",
            "set -uxo pipefail",
            f"cd {shlex.quote(workdir)}",
            reset,
            f"git apply -v {_GRADING_DIR}/test.patch || {{ echo '{APPLY_PATCH_FAIL}'; exit 1; }}",
            f": '{START_TEST_OUTPUT}'",
            f"{config.test_command} {quoted}",
            f": '{END_TEST_OUTPUT}'",
            reset,
        ]
    )


def eval_script(task: Task, workdir: str, config: GradingConfig | None = None) -> str:
    """The evaluation script: swebench's own for repos it knows, else the local pytest one."""
    spec = test_spec_for(task)
    if spec is not None:
        return spec.eval_script
    return local_eval_script(task, workdir, config or GradingConfig())


def grade_in_sandbox(
    task: Task, patch: str | None, sandbox: Sandbox, config: GradingConfig | None = None
) -> GradeResult:
    """Apply `patch` (None or empty: grade base_commit as is) and the tests in `sandbox`."""
    config = config or GradingConfig()
    start = time.monotonic()
    sandbox.write_file(f"{_GRADING_DIR}/test.patch", task.test_patch)
    sandbox.write_file(f"{_GRADING_DIR}/eval.sh", eval_script(task, sandbox.workdir, config))
    steps = []
    if patch and patch.strip():
        # `git apply` rejects a diff whose last line lost its newline (an output parser that
        # strips text does that); the diff itself is unchanged by adding it back.
        sandbox.write_file(f"{_GRADING_DIR}/model.patch", patch.rstrip("\n") + "\n")
        steps.append(_apply_patch_script(f"{_GRADING_DIR}/model.patch"))
    log_file = f"{_GRADING_DIR}/eval.log"
    steps.append(f"bash {_GRADING_DIR}/eval.sh")
    # The log goes to a file and is read back whole: a capped command output could cut the
    # end marker off and turn a pass into a fail.
    command = f"{{ {' && '.join(steps)}; }} > {log_file} 2>&1"
    result = sandbox.run(command, timeout_s=config.timeout_s)
    log = _read_log(sandbox, log_file, fallback=result.output)
    if result.end_reason != "exit":
        log += f"\n{TESTS_TIMEOUT if result.end_reason == 'timeout' else TESTS_ERROR}"
        log += f" (sandbox command ended: {result.end_reason})\n"
    graded = grade_log(task, log)
    graded.seconds = time.monotonic() - start
    return graded


def _read_log(sandbox: Sandbox, path: str, *, fallback: str) -> str:
    try:
        return sandbox.read_file(path)
    except Exception:  # no log file (the command died before writing it): grade what we have
        return fallback


def grade_patch(
    task: Task,
    patch: str | None,
    *,
    source: TaskSource,
    sandbox_config: Any = None,
    open_sandbox: Callable[..., Sandbox] | None = None,
    config: GradingConfig | None = None,
) -> GradeResult:
    """Grade `patch` for `task` in a fresh sandbox (bwrap: a fresh checkout; docker: the image).

    `sandbox_config` is a srft_ray.sandbox.SandboxConfig (default: bwrap with defaults);
    `open_sandbox` defaults to srft_ray.sandbox.open_sandbox.
    """
    from srft_ray import sandbox as sandboxes
    from srft_ray.tasks.source import checkout_task

    sandbox_config = sandbox_config or sandboxes.SandboxConfig()
    open_sandbox = open_sandbox or sandboxes.open_sandbox
    if sandbox_config.backend == "docker" and source.repo_dir(task) is None:
        image = instance_image(task, (config or GradingConfig()).image_namespace)
        box = open_sandbox(sandbox_config, source_dir=None, image=image)
        try:
            return grade_in_sandbox(task, patch, box, config)
        finally:
            box.close()
    with tempfile.TemporaryDirectory(prefix="srft-grade-") as tmp:
        checkout = checkout_task(source, task, Path(tmp) / "checkout")
        box = open_sandbox(sandbox_config, source_dir=checkout, image=task.image or None)
        try:
            return grade_in_sandbox(task, patch, box, config)
        finally:
            box.close()
