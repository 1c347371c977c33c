"""Connect to a Ray cluster, or start a local one with settings that suit a laptop or CI box."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass

# Set before Ray starts so every raylet and worker inherits them.
QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # Without this, ray.init writes an auth token under ~ and later clusters turn auth on.
    "RAY_AUTH_MODE": "disabled",
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
    # vLLM on CPU: keep the engine core in-process (fast start, no extra processes to orphan).
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(kw_only=True)
class RayConfig:
    address: str = ""
    """Cluster to join ("auto" inside `ray job submit`); empty starts a local cluster."""
    num_cpus: int = 0
    """Logical CPUs of a local cluster; 0 means the machine's cores (at least 4, oversubscribed)."""
    object_store_memory_mb: int = 500
    include_dashboard: bool = True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def init_ray(config: RayConfig | None = None) -> dict[str, str]:
    """Join `config.address`, or the cluster a `ray job submit` runs in, or start a local one.

    Returns {"address", "dashboard_url"}; a no-op if Ray is already initialized.
    """
    import ray

    config = config or RayConfig()
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        return {"address": ctx.gcs_address, "dashboard_url": ""}
    address = config.address or os.environ.get("RAY_ADDRESS", "")
    if address:
        info = ray.init(address=address, log_to_driver=True)
    else:
        # A short temp dir: Ray's socket paths must stay under the 107-byte UNIX limit.
        temp_dir = tempfile.mkdtemp(prefix="srft-ray-", dir="/tmp")
        info = ray.init(
            **_worker_logging(),
            address="local",  # never attach to a stale cluster recorded in /tmp
            num_cpus=config.num_cpus or max(4, os.cpu_count() or 1),
            object_store_memory=config.object_store_memory_mb * 1024 * 1024,
            include_dashboard=config.include_dashboard,
            dashboard_host="127.0.0.1",
            dashboard_port=free_port(),
            _temp_dir=temp_dir,
        )
    url = info.dashboard_url or ""
    return {
        "address": info.address_info.get("gcs_address", ""),
        "dashboard_url": f"http://{url}" if url and not url.startswith("http") else url,
    }


def _worker_logging() -> dict:
    """With a run's log folder (srft_ray.logs.setup_logging) and no -v: every worker process
    writes its stdout/stderr (vLLM, Ray INFO/WARNING) to a file there, not to the console."""
    from srft_ray.logs import LOG_DIR_ENV, is_verbose

    log_dir = os.environ.get(LOG_DIR_ENV, "")
    if not log_dir or is_verbose():
        return {}
    return {
        "log_to_driver": False,
        "logging_level": "WARNING",  # the driver's own "Started a local Ray instance" line
        "runtime_env": {
            "worker_process_setup_hook": "srft_ray.logs.worker_setup_hook",
            "env_vars": {LOG_DIR_ENV: log_dir},
        },
    }


def shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
