"""The one logging path: a quiet rank-0 console, a driver log, worker log paths in errors."""

from __future__ import annotations

import logging

import pytest

from srft_ray import logs


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logger = logging.getLogger("srft_ray")
    for handler in list(logger.handlers):
        if (handler.get_name() or "").startswith("srft-console"):
            logger.removeHandler(handler)
            handler.close()
    logger.propagate = True


def test_console_is_rank_zero_and_the_driver_log_keeps_everything(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(logs.LOG_DIR_ENV, raising=False)
    log_dir = logs.setup_logging(tmp_path / "run")
    logger = logging.getLogger("srft_ray.test")
    logger.info("shown")
    logger.debug("only in the file")
    monkeypatch.setenv("RANK", "1")
    logger.info("rank 1 stays off the console")
    monkeypatch.delenv("RANK")
    assert capsys.readouterr().out.splitlines() == ["shown"]
    text = (log_dir / "driver.log").read_text()
    assert "only in the file" in text and "rank 1 stays off the console" in text
    assert log_dir == (tmp_path / "run" / "logs").resolve()


def test_a_worker_error_names_the_workers_log(tmp_path, monkeypatch):
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(tmp_path))
    (tmp_path / "worker-4242.log").write_text("Traceback ...\n")
    hint = logs.worker_log_hint(RuntimeError("ray::RolloutWorker.run_episode() (pid=4242, ip=x)"))
    assert hint == f" (log: {tmp_path / 'worker-4242.log'})"
    assert logs.worker_log_hint(RuntimeError("pid=1 has no log")) == ""
