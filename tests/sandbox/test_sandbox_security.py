"""Containment tests, the same bodies for every backend (bwrap always; docker when reachable).

Each hostile command must end with a clean CommandResult naming why it ended, leave the host
untouched, and leave the sandbox usable for the next command.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest


def host_address() -> str | None:
    """The host's own non-loopback IPv4 address (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def assert_still_usable(box) -> None:
    result = box.run("echo alive")
    assert (result.returncode, result.end_reason, result.output.strip()) == (0, "exit", "alive")


CONNECT = (
    'python3 -c "import socket,sys\n'
    "try:\n"
    "    socket.create_connection(('{host}', {port}), timeout=2); print('CONNECTED')\n"
    "except OSError as e:\n"
    "    print('BLOCKED', e)\""
)


def test_network_is_unreachable(make_sandbox, source_repo):
    box = make_sandbox(source_repo)
    interfaces = box.run(
        "python3 -c 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'"
    )
    assert interfaces.output.strip() == "['lo']", interfaces.output

    external = box.run(CONNECT.format(host="1.1.1.1", port=80), timeout_s=10)
    assert external.returncode == 0 and "BLOCKED" in external.output, external.output

    address = host_address()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address to try")
    with socket.socket() as listener:  # a server the host itself can reach
        listener.bind((address, 0))
        listener.listen()
        port = listener.getsockname()[1]
        socket.create_connection((address, port), timeout=2).close()
        local = box.run(CONNECT.format(host=address, port=port), timeout_s=10)
    assert local.returncode == 0 and "BLOCKED" in local.output, local.output


def test_writes_outside_the_checkout_fail_and_host_is_unchanged(
    make_sandbox, backend, source_repo, tmp_path, snapshot
):
    canary = tmp_path / "canary.txt"
    canary.write_text("host data\n")
    before_repo, before_passwd = snapshot(source_repo), open("/etc/passwd", "rb").read()
    box = make_sandbox(source_repo)
    targets = ["/etc/passwd", "/usr/bin/srft-evil", str(canary), f"{source_repo}/calc.py", "/evil"]
    script = "; ".join(f"(echo pwned >> {t}) 2>/dev/null && echo WROTE {t}" for t in targets)
    # a kernel setting (written back unchanged, harmless if it ever got through)
    sysctl = "/proc/sys/kernel/pid_max"
    script += (
        f"; (cat {sysctl} > /tmp/v && cat /tmp/v > {sysctl}) 2>/dev/null && echo WROTE {sysctl}"
    )
    result = box.run(script + "; echo edited >> calc.py; echo done")
    assert result.end_reason == "exit" and "done" in result.output
    assert f"WROTE {sysctl}" not in result.output
    if backend == "bwrap":  # the host's root is read-only and nothing else is mounted
        assert "WROTE" not in result.output, result.output
    # inside a container's own root some paths may be writable, but never the host's files
    assert canary.read_text() == "host data\n"
    assert open("/etc/passwd", "rb").read() == before_passwd
    assert not os.path.exists("/usr/bin/srft-evil") and not os.path.exists("/evil")
    assert snapshot(source_repo) == before_repo  # the checkout edit stayed inside
    assert "edited" in box.run("tail -n1 calc.py").output


def test_host_processes_are_invisible_and_cannot_be_signalled(make_sandbox, source_repo):
    host_proc = subprocess.Popen(["sleep", "300"])
    try:
        box = make_sandbox(source_repo)
        listing = box.run(
            "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done"
        )
        pids = [line.split()[0] for line in listing.output.splitlines() if line.strip()]
        assert len(pids) < 10, listing.output  # only the sandbox's own few processes
        assert "sleep 300" not in listing.output
        killed = box.run(f"kill -9 {host_proc.pid}; echo rc=$?")
        assert "rc=0" not in killed.output
        time.sleep(0.2)
        assert host_proc.poll() is None, "a host process was killed from inside the sandbox"
    finally:
        host_proc.kill()
        host_proc.wait()


def test_fork_bomb_is_contained(make_sandbox, backend, source_repo):
    box = make_sandbox(source_repo, pids_limit=64)
    if backend == "bwrap" and box.cgroups.pids_dir is None and os.geteuid() == 0:
        pytest.skip("no pids cgroup available and rlimit nproc is not enforced for root")
    result = box.run("bomb() { bomb | bomb & }; bomb; sleep 60", timeout_s=3)
    assert result.end_reason == "timeout" and result.returncode is None
    assert result.duration_s < 15
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork
    assert_still_usable(box)


def test_unbounded_memory_is_stopped(make_sandbox, source_repo):
    box = make_sandbox(source_repo, memory_mb=256)
    result = box.run("python3 -c 'x = bytearray(2 * 1024**3); print(len(x))'", timeout_s=20)
    assert result.end_reason == "memory_limit", (result.end_reason, result.output)
    assert result.returncode != 0
    assert_still_usable(box)


def test_memory_of_many_processes_is_bounded_together(make_sandbox, backend, source_repo):
    box = make_sandbox(source_repo, memory_mb=300)
    if backend == "bwrap" and box.cgroups.memory_dir is None:
        pytest.skip("no memory cgroup here: bwrap bounds each process only (rlimit)")
    hold = "python3 -c 'import time; x = bytearray(200 * 1024**2); print(\"held\", flush=True); time.sleep(2)'"
    result = box.run(f"for i in 1 2 3 4; do {hold} & done; wait; echo end", timeout_s=30)
    assert result.end_reason == "exit" and "end" in result.output
    num_held = sum(line == "held" for line in result.output.splitlines())
    assert num_held < 4, result.output  # 800 MB never fit in 300 MB
    assert_still_usable(box)


def test_cpu_hog_is_stopped_by_the_cpu_time_limit(make_sandbox, source_repo):
    box = make_sandbox(source_repo, cpu_seconds=1)
    result = box.run("python3 -c 'while True: pass'", timeout_s=30)
    assert (result.end_reason, result.returncode) == ("cpu_limit", None), result
    assert_still_usable(box)


def test_filling_the_disk_is_stopped(make_sandbox, source_repo):
    box = make_sandbox(source_repo, file_size_mb=8)
    shell = box.run("head -c 100000000 /dev/zero > big.bin", timeout_s=10)
    assert shell.end_reason == "file_size_limit", (shell.end_reason, shell.output)
    python = box.run(
        "python3 -c \"f = open('big2.bin', 'wb')\nwhile True: f.write(bytes(1 << 20))\"",
        timeout_s=10,
    )
    assert python.end_reason == "file_size_limit", (python.end_reason, python.output)
    size = int(box.run("stat -c %s big.bin").output.strip())
    assert size <= 8 * 1024 * 1024
    assert_still_usable(box)


def test_endless_printing_is_capped(make_sandbox, source_repo):
    box = make_sandbox(source_repo, output_limit_bytes=2000, output_kill_bytes=2_000_000)
    result = box.run("yes 'spam spam spam'", timeout_s=10)
    assert result.end_reason == "output_limit" and result.returncode is None
    assert result.output_truncated and "[output truncated" in result.output
    assert len(result.output) < 2300 and result.duration_s < 8
    bounded = box.run("seq 1 5000")  # finishes by itself: kept head + marker, exit status kept
    assert bounded.end_reason == "exit" and bounded.returncode == 0
    assert bounded.output.startswith("1\n2\n") and bounded.output.rstrip().endswith("bytes]")
    assert_still_usable(box)


def test_timeout_kills_setsid_and_background_grandchildren(make_sandbox, source_repo):
    box = make_sandbox(source_repo)
    marker = "987654"
    result = box.run(
        f"setsid sleep {marker} & (nohup sleep {marker}1 >/dev/null 2>&1 &); "
        f"sh -c 'sleep {marker}2' & sleep {marker}3",
        timeout_s=2,
    )
    assert result.end_reason == "timeout" and result.returncode is None
    assert result.duration_s < 10
    time.sleep(0.5)
    inside = box.run("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
    assert marker not in inside.output, inside.output
    host = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"sleep {marker}" not in host, "a sandboxed process survived on the host"


def test_episodes_do_not_see_each_other(make_sandbox, source_repo):
    import threading

    first, second = make_sandbox(source_repo), make_sandbox(source_repo)
    first.run("echo secret > mine.txt && echo tmp > /tmp/mine.txt")
    busy = threading.Thread(target=first.run, args=("sleep 4321",), kwargs={"timeout_s": 4})
    busy.start()
    try:
        time.sleep(1)
        seen = second.run("ls mine.txt /tmp/mine.txt; cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
    finally:
        busy.join()
    assert "sleep 4321" not in seen.output
    assert seen.output.count("No such file") == 2, seen.output
    assert first.run("cat mine.txt").output == "secret\n"
