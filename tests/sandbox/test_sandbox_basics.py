"""What the agent and task code rely on, for every backend: a persistent writable checkout,
working python/pytest/git, file helpers, clean close."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from srft_ray.protocols import Sandbox
from srft_ray.sandbox import SandboxConfig, SandboxError, open_sandbox


def test_edits_persist_between_commands_and_never_reach_the_host(
    make_sandbox, source_repo, snapshot
):
    before = snapshot(source_repo)
    box = make_sandbox(source_repo)
    assert isinstance(box, Sandbox)
    assert box.run("pwd").output.strip() == "/testbed"
    assert box.run("sed -i 's/a + b/a - b/' calc.py && echo new > notes.txt").returncode == 0
    assert box.run("echo scratch > /tmp/scratch").returncode == 0
    later = box.run("cat notes.txt /tmp/scratch && git status --short")
    assert later.output.split() == ["new", "scratch", "M", "calc.py", "??", "notes.txt"]
    diff = box.run("git diff")
    assert "-    return a + b" in diff.output and "+    return a - b" in diff.output
    assert snapshot(source_repo) == before


def test_python_pytest_and_git_commit_work(make_sandbox, source_repo):
    box = make_sandbox(source_repo)
    tests = box.run("python3 -m pytest -q -p no:cacheprovider test_calc.py", timeout_s=60)
    assert tests.returncode == 0 and "1 passed" in tests.output, tests.output
    box.run("sed -i 's/a + b/a * b/' calc.py")
    failing = box.run("python3 -m pytest -q -p no:cacheprovider test_calc.py", timeout_s=60)
    assert failing.returncode == 1 and "1 failed" in failing.output
    commit = box.run("git commit -qam 'break it' && git log --oneline | wc -l")
    assert commit.returncode == 0 and commit.output.strip() == "2", commit.output


def test_write_read_and_copy_out(make_sandbox, source_repo, tmp_path):
    box = make_sandbox(source_repo)
    box.write_file("pkg/new_module.py", "VALUE = 'ünïcode'\n")
    box.write_file("/tmp/abs.txt", "absolute\n")
    assert box.read_file("pkg/new_module.py") == "VALUE = 'ünïcode'\n"
    assert box.read_file("/tmp/abs.txt") == "absolute\n"
    assert box.run("python3 -c 'import pkg.new_module as m; print(m.VALUE)'").output == "ünïcode\n"
    with pytest.raises(SandboxError):
        box.read_file("missing.txt")
    box.copy_out("pkg", tmp_path / "out" / "pkg")
    assert (tmp_path / "out" / "pkg" / "new_module.py").read_text() == "VALUE = 'ünïcode'\n"


def test_exit_status_and_duration_are_reported(make_sandbox, source_repo):
    box = make_sandbox(source_repo)
    result = box.run("echo out; echo err >&2; exit 7")
    assert (result.returncode, result.end_reason) == (7, "exit")
    assert "out" in result.output and "err" in result.output
    assert 0 < result.duration_s < 10
    quick = box.run("sleep 5", timeout_s=1)
    assert (quick.returncode, quick.end_reason) == (None, "timeout") and quick.duration_s < 4


def test_shell_setup_runs_before_every_command(make_sandbox, source_repo):
    box = make_sandbox(source_repo, shell_setup="export GREETING=hello; cd /tmp", env={"WHO": "x"})
    assert box.run("echo $GREETING $WHO; pwd").output.split() == ["hello", "x", "/tmp"]
    assert box.run("exit 4").returncode == 4


def test_close_is_idempotent_and_final(make_sandbox, source_repo):
    box = make_sandbox(source_repo)
    box.run("echo hi > f.txt")
    box.close()
    box.close()
    with pytest.raises(SandboxError):
        box.run("true")


def test_unknown_backend_is_a_clear_error(source_repo):
    with pytest.raises(ValueError, match="unknown sandbox backend 'lxc'.*bwrap"):
        open_sandbox(SandboxConfig(backend="lxc"), source_dir=source_repo)


def test_bwrap_state_is_removed_on_close(source_repo, tmp_path):
    config = SandboxConfig(temp_root=str(tmp_path / "state"))
    os.makedirs(config.temp_root)
    with open_sandbox(config, source_dir=source_repo) as box:
        box.run("echo x > a.txt && mkdir -p d/e && echo y > d/e/f")
        assert os.listdir(config.temp_root)
    assert os.listdir(config.temp_root) == []


@pytest.mark.parametrize("mode", ["copy", "overlay"])
def test_bwrap_checkout_modes(source_repo, mode, snapshot):
    before = snapshot(source_repo)
    with open_sandbox(SandboxConfig(checkout=mode), source_dir=source_repo) as box:
        assert box.checkout_mode == mode
        box.run("echo changed > calc.py && rm test_calc.py")
        assert box.run("cat calc.py; ls").output.split() == ["changed", "calc.py"]
    assert snapshot(source_repo) == before


def test_bwrap_without_source_gives_an_empty_writable_workdir():
    with open_sandbox(SandboxConfig(workdir="/work/task"), source_dir=None) as box:
        result = box.run("pwd; ls -A | wc -l; touch x && echo ok")
        assert result.output.split() == ["/work/task", "0", "ok"]


def test_bwrap_blocked_namespaces_give_one_clear_error(tmp_path):
    # a stand-in binary failing the way bwrap does where user namespaces are disabled
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    from srft_ray.sandbox import SandboxUnavailable

    with pytest.raises(SandboxUnavailable, match="user namespaces are probably blocked"):
        open_sandbox(SandboxConfig(bwrap_binary=str(fake)), source_dir=None)


@pytest.mark.parametrize("workdir", ["relative", "/", "/usr/src/app", "/proc/x", "/tmp"])
def test_bwrap_rejects_a_workdir_it_cannot_mount(workdir):
    with pytest.raises(ValueError, match="must be an absolute path outside"):
        open_sandbox(SandboxConfig(workdir=workdir), source_dir=None)


def test_bwrap_missing_source_dir_is_an_error(tmp_path):
    with pytest.raises(SandboxError, match="not a directory"):
        open_sandbox(SandboxConfig(), source_dir=Path(tmp_path / "nope"))


def test_bwrap_works_when_the_caller_holds_many_file_descriptors(source_repo):
    # a busy Ray worker can hold fds above 1024, where select() fails
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    try:
        with open_sandbox(SandboxConfig(), source_dir=source_repo) as box:
            assert box.run("echo hi").output == "hi\n"
            assert box.run("sleep 5", timeout_s=0.5).end_reason == "timeout"
    finally:
        for fd in held:
            os.close(fd)


def test_bwrap_failing_to_build_the_sandbox_raises(source_repo):
    import shutil

    with open_sandbox(SandboxConfig(checkout="overlay"), source_dir=source_repo) as box:
        shutil.rmtree(source_repo)  # the overlay's lower layer is gone
        with pytest.raises(SandboxError, match="bubblewrap could not start the sandbox"):
            box.run("true")
