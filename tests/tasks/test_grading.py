"""Our grading gives swebench's verdict on the same log; logs come from real bwrap runs."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from swebench.harness.constants import ResolvedStatus
from swebench.harness.grading import get_eval_report, get_logs_eval
from swebench.harness.test_spec.test_spec import TestSpec as SwebenchTestSpec

from srft_ray.data.model import Outcome, Task
from srft_ray.tasks.grading import (
    GradingConfig,
    eval_script,
    grade_log,
    grade_patch,
    instance_image,
)

# Wrong answers an agent could submit, each for a pack task: (name, instance, old, new).
PARTIAL = (
    "partial",
    "srft-embedded__calc-2",
    "return ordered[rank]",
    "return ordered[min(rank, len(ordered) - 1)]",
)
BREAKS_P2P = (
    "breaks_p2p",
    "srft-embedded__calc-1",
    "    return ordered[middle]\n",
    "    return (ordered[middle - 1] + ordered[middle]) / 2\n",
)
HANGS = (
    "hangs",
    "srft-embedded__textkit-2",
    "    lines = []\n",
    "    while True:\n        pass\n    lines = []\n",
)


def _edit_patch(pack, task, old, new, tmp_path):
    """A real `git diff` of one edit in a checkout of the task (as an agent would submit)."""
    from srft_ray.tasks.source import git, materialize_checkout

    checkout = materialize_checkout(pack.repo_dir(task), task.base_commit, tmp_path / "edit")
    path = next(p for p in checkout.rglob("*.py") if old in p.read_text())
    path.write_text(path.read_text().replace(old, new, 1))
    return git("diff", cwd=checkout)


@pytest.fixture(scope="module")
def graded(pack, tasks_by_id, tmp_path_factory):
    """name -> (task, patch, our GradeResult), each graded in a real bwrap sandbox."""
    out = {}
    cases = [("base", "srft-embedded__spans-2", None), ("gold", "srft-embedded__spans-2", "gold")]
    cases.append(("stripped_gold", "srft-embedded__calc-3", "stripped"))
    cases.append(
        (
            "unappliable",
            "srft-embedded__inicfg-1",
            "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n",
        )
    )
    for name, instance, old, new in (PARTIAL, BREAKS_P2P, HANGS):
        task = tasks_by_id[instance]
        cases.append(
            (name, instance, _edit_patch(pack, task, old, new, tmp_path_factory.mktemp(name)))
        )

    def grade(case):
        name, instance, patch = case
        task = tasks_by_id[instance]
        patch = {"gold": task.patch, "stripped": task.patch.strip()}.get(patch, patch)
        config = GradingConfig(timeout_s=5 if name == "hangs" else 120)
        return name, (task, patch, grade_patch(task, patch, source=pack, config=config))

    with ThreadPoolExecutor(max_workers=2) as pool:  # independent sandboxes, as validate runs them
        out.update(pool.map(grade, cases))
    return out


def _spec(task: Task, repo: str, version: str) -> SwebenchTestSpec:
    """A swebench TestSpec; get_eval_report reads only its repo, version and test lists."""
    return SwebenchTestSpec(
        instance_id=task.instance_id,
        repo=repo,
        version=version,
        repo_script_list=[],
        eval_script_list=[],
        env_script_list=[],
        arch="x86_64",
        FAIL_TO_PASS=task.fail_to_pass,
        PASS_TO_PASS=task.pass_to_pass,
        language="py",
        docker_specs={},
        namespace=None,
    )


def _swebench_report(task: Task, patch, log: str, tmp_path):
    """swebench's own get_eval_report on the log, under a repo it parses with parse_log_pytest."""
    spec = _spec(task, "pytest-dev/pytest", "5.4")
    log_path = tmp_path / f"{task.instance_id}.log"
    log_path.write_text(log)
    prediction = {
        "instance_id": task.instance_id,
        "model_name_or_path": "srft",
        "model_patch": patch or "",
    }
    report = get_eval_report(spec, prediction, str(log_path), include_tests_status=True)
    return report[task.instance_id], get_logs_eval(spec, str(log_path))[0]


@pytest.mark.parametrize(
    ("name", "resolved", "status", "applied"),
    [
        ("base", False, ResolvedStatus.NO.value, True),
        ("gold", True, ResolvedStatus.FULL.value, True),
        ("stripped_gold", True, ResolvedStatus.FULL.value, True),
        ("partial", False, ResolvedStatus.PARTIAL.value, True),
        ("breaks_p2p", False, ResolvedStatus.NO.value, True),
        ("unappliable", False, ResolvedStatus.NO.value, False),
        ("hangs", False, ResolvedStatus.NO.value, False),
    ],
)
def test_verdict_equals_swebench_on_real_logs(graded, tmp_path, name, resolved, status, applied):
    task, patch, ours = graded[name]
    assert (ours.resolved, ours.status, ours.patch_applied) == (resolved, status, applied)
    theirs, their_status_map = _swebench_report(task, patch, ours.log, tmp_path)
    assert theirs["resolved"] == ours.resolved
    assert theirs["patch_successfully_applied"] == ours.patch_applied
    assert their_status_map == ours.test_results
    if ours.patch_applied:
        assert {k: theirs["tests_status"][k] for k in ours.report} == ours.report
    # grading the stored log again (e.g. from a Parquet outcome) gives the same verdict
    again = grade_log(task, ours.log)
    assert (again.resolved, again.status, again.test_results) == (
        ours.resolved,
        ours.status,
        ours.test_results,
    )


def test_partial_and_p2p_details(graded):
    _, _, partial = graded["partial"]
    assert partial.report["FAIL_TO_PASS"]["success"] == [
        "tests/test_stats.py::test_percentile_bounds"
    ]
    _, _, broken = graded["breaks_p2p"]
    assert broken.report["FAIL_TO_PASS"]["failure"] == []
    assert broken.report["PASS_TO_PASS"]["failure"] == [
        "tests/test_stats.py::test_median_odd_length"
    ]
    _, _, hangs = graded["hangs"]
    assert "Tests Timed Out" in hangs.log
    outcome = graded["gold"][2].to_outcome(Outcome(patch="x"))
    assert (
        outcome.resolved is True
        and outcome.test_results
        and ">>>>> End Test Output" in outcome.grading_log
    )


# A classic SWE-bench Verified row (django__django-11099) and a log in the exact shape its
# eval script writes (set -x trace markers, django's verbose runner lines).
DJANGO_ROW = {
    "instance_id": "django__django-11099",
    "repo": "django/django",
    "base_commit": "d26b2424437dabeeca94d7900b37d2df4410da0c",
    "version": "3.0",
    "problem_statement": "UsernameValidator allows trailing newline in usernames",
    "patch": "diff --git a/django/contrib/auth/validators.py b/django/contrib/auth/validators.py\n",
    "test_patch": (
        "diff --git a/tests/auth_tests/test_validators.py b/tests/auth_tests/test_validators.py\n"
        "--- a/tests/auth_tests/test_validators.py\n+++ b/tests/auth_tests/test_validators.py\n"
        "@@ -237 +237 @@ def test_unicode_validator(self):\n-        invalid_usernames = []\n"
        "+        invalid_usernames = ['trailingnewline\\u000A']\n"
    ),
    "FAIL_TO_PASS": '["test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)", '
    '"test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests)"]',
    "PASS_TO_PASS": '["test_help_text (auth_tests.test_validators.MinimumLengthValidatorTest)"]',
    "environment_setup_commit": "419a78300f7cd27611196e1e464d50fd0385ff27",
}


def _django_log(ascii_ok: bool, unicode_ok: bool) -> str:
    verdict = {True: "ok", False: "FAIL"}
    return (
        "\n".join(
            [
                "+ git apply -v -",
                "Checking patch tests/auth_tests/test_validators.py...",
                "Applied patch tests/auth_tests/test_validators.py cleanly.",
                "+ : '>>>>> Start Test Output'",
                "+ ./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 "
                "auth_tests.test_validators",
                "Testing against Django installed in '/testbed/django'",
                "Importing application auth_tests",
                f"test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests) ... "
                f"{verdict[ascii_ok]}",
                "test_help_text (auth_tests.test_validators.MinimumLengthValidatorTest) ... ok",
                f"test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests) ... "
                f"{verdict[unicode_ok]}",
                "",
                "-" * 70,
                "Ran 3 tests in 0.012s",
                "",
                "OK" if ascii_ok and unicode_ok else "FAILED",
                "+ : '>>>>> End Test Output'",
                "+ git checkout d26b2424437dabeeca94d7900b37d2df4410da0c tests/auth_tests/test_validators.py",
            ]
        )
        + "\n"
    )


def test_classic_row_uses_swebench_test_spec():
    task = Task.from_row(DJANGO_ROW)
    script = eval_script(task, "/testbed")
    assert (
        "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 "
        "auth_tests.test_validators" in script
    )
    assert "conda activate testbed" in script and "git apply -v - <<'EOF_" in script
    assert ": '>>>>> Start Test Output'" in script and ": '>>>>> End Test Output'" in script


@pytest.mark.parametrize(("ascii_ok", "unicode_ok"), [(True, True), (True, False), (False, False)])
def test_classic_row_verdict_equals_swebench(tmp_path, ascii_ok, unicode_ok):
    task = Task.from_row(DJANGO_ROW)
    log = _django_log(ascii_ok, unicode_ok)
    ours = grade_log(task, log)
    log_path = tmp_path / "test_output.txt"
    log_path.write_text(log)
    prediction = {"instance_id": task.instance_id, "model_name_or_path": "m", "model_patch": "x"}
    spec = _spec(task, "django/django", "3.0")
    theirs = get_eval_report(spec, prediction, str(log_path), True)
    theirs = theirs[task.instance_id]
    assert ours.resolved == theirs["resolved"] == (ascii_ok and unicode_ok)
    assert ours.report == {k: theirs["tests_status"][k] for k in ours.report}
    assert len(ours.test_results) == 3  # the django parser read it, not the pytest one


def test_eval_script_equals_make_test_spec():
    from swebench.harness.test_spec.test_spec import make_test_spec

    row = {
        "instance_id": "pytest-dev__pytest-7373",
        "repo": "pytest-dev/pytest",
        "version": "5.4",
        "base_commit": "7b77fc086aab8b3a8ebc890200371884555eea1e",
        "problem_statement": "x",
        "test_patch": "diff --git a/testing/test_mark.py b/testing/test_mark.py\n",
        "FAIL_TO_PASS": '["testing/test_mark.py::test_a"]',
        "PASS_TO_PASS": "[]",
        "environment_setup_commit": "678c1a0745f1cf175c442c719906a1f13e496910",
    }
    reference = make_test_spec(row)  # offline for this repo (its env script fetches nothing)
    task = Task.from_row(row)
    assert eval_script(task, "/testbed") == reference.eval_script
    assert instance_image(task, "") == reference.instance_image_key
    assert instance_image(task) == "swebench/sweb.eval.x86_64.pytest-dev_1776_pytest-7373:latest"
