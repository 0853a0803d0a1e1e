"""router._lazylog: a module logger that loads ``logging`` with its first message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from router._lazylog import get_logger

ROOT = Path(__file__).resolve().parent.parent


def test_logging_loads_only_with_the_first_message() -> None:
    code = (
        "import sys\n"
        "from router._lazylog import get_logger\n"
        "log = get_logger('router.probe')\n"
        "assert 'logging' not in sys.modules\n"
        "log.warning('first')\n"
        "assert 'logging' in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "first" in out.stderr  # logging's last-resort handler printed it


def test_records_name_the_logger_and_the_callers_line(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("router.probe")

    def caller() -> None:
        log.warning("spend of %s not recorded", "r1")

    with caplog.at_level("WARNING", logger="router.probe"):
        caller()
    (rec,) = caplog.records
    assert rec.name == "router.probe" and rec.getMessage() == "spend of r1 not recorded"
    assert rec.funcName == "caller" and rec.filename == "test_lazylog.py"


def test_it_is_the_same_logger_logging_returns() -> None:
    import logging

    log = get_logger("router.probe.same")
    log.setLevel(logging.ERROR)
    assert logging.getLogger("router.probe.same").level == logging.ERROR
    assert not log.isEnabledFor(logging.WARNING)
