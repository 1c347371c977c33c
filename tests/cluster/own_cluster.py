"""A Ray cluster of a test's own: `ray start --head` in a fresh temp dir, stopped by pid.

Never `ray stop` (it stops every Ray cluster on the machine, other people's included), and
never Ray's AutoscalingCluster.start/shutdown (they call `ray stop --force`). Every process of
this cluster, the nodes an autoscaler launches later and the drivers of submitted jobs included,
inherits a marker variable in its environment; `stop()` ends exactly the processes that carry
this cluster's marker. Every port is picked free, so the cluster never collides with another
cluster on the machine (the dashboard agent's 52365 included).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from srft_ray.ray_cluster import QUIET_ENV, free_port

MARKER = "SRFT_TEST_CLUSTER"
RAY = str(Path(sys.executable).with_name("ray"))


def node_ip() -> str:
    from ray.util import get_node_ip_address

    return get_node_ip_address()


class OwnCluster:
    """`address` (GCS host:port) and `dashboard_url` are fixed here and hold after `start()`."""

    def __init__(self, *, env: dict[str, str] | None = None, marker: str = ""):
        self.temp_dir = Path(tempfile.mkdtemp(prefix="srft-own-", dir="/tmp"))  # short: sockets
        self.port = free_port()
        self.dashboard_port = free_port()
        self.address = f"{node_ip()}:{self.port}"
        self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}"
        self.marker = marker or uuid.uuid4().hex
        self.env = {
            **os.environ,
            **QUIET_ENV,
            "HF_HUB_OFFLINE": "1",
            **(env or {}),
        }
        self.env[MARKER] = self.marker
        self.env.pop("RAY_ADDRESS", None)

    def start(
        self, head_options: list[str], *, autoscaling_config: dict | None = None,
        timeout_s: float = 300,
    ) -> OwnCluster:  # fmt: skip
        """`ray start --head` with `head_options` (e.g. ["--num-cpus=2"]); with
        `autoscaling_config`, Ray's autoscaler runs it (the fake provider needs the env
        RAY_FAKE_CLUSTER=1)."""
        command = [
            RAY, "start", "--head", f"--temp-dir={self.temp_dir}", f"--port={self.port}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--ray-client-server-port={free_port()}", "--min-worker-port=0",
            "--max-worker-port=0", "--object-store-memory=200000000", "--disable-usage-stats",
        ]  # fmt: skip
        command += head_options
        if autoscaling_config is not None:
            path = self.temp_dir / "autoscaling.json"
            path.write_text(json.dumps(autoscaling_config))
            command.append(f"--autoscaling-config={path}")
        for _ in range(2):
            done = subprocess.run(
                command, env=self.env, capture_output=True, text=True, timeout=timeout_s
            )
            if not done.returncode:
                return self
            # On a loaded host the head's raylet can miss Ray's fixed 30 s to register
            # ("The current node timed out during startup"): clear up and try once more.
            end_marked(self.marker)
        self.stop()
        raise RuntimeError(f"ray start failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def processes(self) -> list[int]:
        return marked_processes(self.marker)

    def stop(self, grace_s: float = 10) -> list[int]:
        """End this cluster's processes; returns the pids still alive (expected empty)."""
        left = end_marked(self.marker, grace_s)
        if not left:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return left

    def log_tail(self, name: str, num_chars: int = 3000) -> str:
        logs = sorted(self.temp_dir.glob(f"session_*/logs/{name}"))
        return logs[-1].read_text(errors="replace")[-num_chars:] if logs else ""


def marked_processes(marker: str) -> list[int]:
    """Pids of every process whose environment carries `marker` (this process excluded)."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_marked(marker: str, grace_s: float = 10) -> list[int]:
    """SIGTERM the marked processes, SIGKILL what is left after `grace_s`; returns the pids
    still alive after that."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        for pid in marked_processes(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
    return marked_processes(marker)
