"""One logging path: stdlib logging, a quiet console, everything else in files under the run.

- The library logs to `logging.getLogger(__name__)`; nothing prints. `setup_logging` gives the
  "srft_ray" logger a console handler (INFO, message only; DEBUG with -v) that passes records
  of rank 0 only (`RankZeroFilter`: Ray Train / torchrun workers other than rank 0 stay quiet
  there), and a file handler RUN_DIR/logs/driver.log that keeps everything.
- Engines and workers are Ray actors: on a local cluster each worker process sends its stdout
  and stderr (vLLM's and Ray's INFO/WARNING lines) to RUN_DIR/logs/worker-<pid>.log instead of
  the console (`worker_setup_hook`, run by Ray in every worker process it starts), and they stay
  there after the run. An error in a worker still reaches the console: it comes back to the
  driver as an exception, and `worker_log_hint(exc)` names that worker's log file.
- On a terminal the live progress lines (srft_ray.present.progress) sit below the log lines:
  the console handler erases them, prints its record and draws them again (`CONSOLE_LOCK`
  keeps threads from drawing into each other).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

LOG_DIR_ENV = "SRFT_LOG_DIR"
"""Set by setup_logging: where worker processes write their logs (read by srft_ray.ray_cluster)."""
VERBOSE_ENV = "SRFT_VERBOSE"
_HANDLER_NAME = "srft-console"
CONSOLE_LOCK = threading.RLock()
"""Held while anything writes to the console: a log record, or a redraw of the live lines."""
_LIVE_DISPLAYS: list[Any] = []


def add_live_display(display: Any) -> None:
    """Register lines drawn below the log (`clear()` erases them, `redraw()` draws them again)."""
    with CONSOLE_LOCK:
        _LIVE_DISPLAYS.append(display)


class ConsoleHandler(logging.StreamHandler):
    """A StreamHandler that prints above the live progress lines instead of through them."""

    def emit(self, record: logging.LogRecord) -> None:
        with CONSOLE_LOCK:
            for display in _LIVE_DISPLAYS:
                display.clear()
            try:
                super().emit(record)
            finally:
                for display in _LIVE_DISPLAYS:
                    display.redraw()


class RankZeroFilter(logging.Filter):
    """Pass records only in the process of global rank 0 (or outside distributed training)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return os.environ.get("RANK", "0") in ("", "0")


def setup_logging(run_dir: str | Path | None = None, *, verbose: int = 0) -> Path | None:
    """Console + file logging for an entry point; returns the log folder (None: console only).
    Calling it again replaces the handlers it installed before."""
    logger = logging.getLogger("srft_ray")
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        if handler.get_name() in (_HANDLER_NAME, _HANDLER_NAME + "-file"):
            logger.removeHandler(handler)
            handler.close()
    console = ConsoleHandler(sys.stdout)
    console.set_name(_HANDLER_NAME)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    console.addFilter(RankZeroFilter())
    logger.addHandler(console)
    logger.propagate = False
    if verbose:
        os.environ[VERBOSE_ENV] = str(verbose)
    if run_dir is None:
        return None
    log_dir = Path(run_dir).resolve() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    file = logging.FileHandler(log_dir / "driver.log")
    file.set_name(_HANDLER_NAME + "-file")
    file.setLevel(logging.DEBUG)
    file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(file)
    os.environ[LOG_DIR_ENV] = str(log_dir)
    return log_dir


def ensure_console_logging() -> None:
    """`setup_logging()` unless an entry point already did: the training processes Ray Train and
    torchrun start run no entry point of ours, and their rank 0 still shows its progress."""
    handlers = logging.getLogger("srft_ray").handlers
    if not any(handler.get_name() == _HANDLER_NAME for handler in handlers):
        setup_logging()


def is_verbose() -> bool:
    return bool(os.environ.get(VERBOSE_ENV))


def worker_setup_hook() -> None:
    """Run by Ray in each worker process: its stdout and stderr go to a file under the run."""
    log_dir = os.environ.get(LOG_DIR_ENV, "")
    if not log_dir:
        return
    path = Path(log_dir) / f"worker-{os.getpid()}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def worker_log_path(pid: int) -> Path | None:
    log_dir = os.environ.get(LOG_DIR_ENV, "")
    return Path(log_dir) / f"worker-{pid}.log" if log_dir else None


def worker_log_hint(exc: BaseException) -> str:
    """ " (log: RUN_DIR/logs/worker-PID.log)" for an error raised in a worker, else ""."""
    pid = getattr(exc, "pid", None)
    if not isinstance(pid, int):
        found = re.search(r"pid=(\d+)", str(exc))
        pid = int(found.group(1)) if found else None
    path = worker_log_path(pid) if pid else None
    return f" (log: {path})" if path is not None and path.exists() else ""
