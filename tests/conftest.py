"""Shared pytest configuration: the --runslow switch, the session's cache directory and paths
to shipped models."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: The user cache directory of a test session (``TINYMODEL_CACHE``, :mod:`tinymodel.cachedir`):
#: git-ignored in the checkout, shared by the xdist workers and kept across runs, so firmware
#: images and host libraries are built once (their build directories are locked, the host
#: libraries fingerprinted), and the tests never write into the user's own cache.
TEST_CACHE = REPO / "build" / "test-cache"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["TINYMODEL_CACHE"] = str(TEST_CACHE)
    # a suite started in the background by a non-interactive shell inherits SIGINT ignored, and
    # so would the commands the tests interrupt with it (an ignored signal stays ignored across
    # exec): handle it, so that they start with the default and turn it into KeyboardInterrupt
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (full sweeps)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the firmware size reports that tests recorded (also under pytest-xdist)."""
    reports = [value for rep in terminalreporter.stats.get("passed", [])
               for key, value in getattr(rep, "user_properties", ()) if key == "size_report"]
    if reports:
        terminalreporter.section("firmware size reports")
        for text in sorted(reports):
            terminalreporter.write_line(text)
