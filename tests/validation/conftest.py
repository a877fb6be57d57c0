"""Fixtures for the validation tests: a tiny random network (converted once per session) and a
suite file that runs it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from calibration.firmware import toolchain_available

#: A generator space for networks that take well under a second on the virtual L4.
TINY = """
[random.generator]
input_sizes = [12]
input_channels = [3]
min_blocks = 2
max_blocks = 3
max_channels = 12
max_macs = 150000
"""

needs_board = [
    pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed"),
    pytest.mark.skipif(importlib.util.find_spec("unicorn") is None, reason="unicorn not installed"),
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                       reason="TensorFlow not installed"),
]


def tiny_suite_text(count: int = 1, seed: int = 3) -> str:
    """A suite of ``count`` tiny random networks on the L4 in s8-opt."""
    return (f'name = "tiny"\nboards = ["L4"]\nvariants = ["s8-opt"]\nverify_inputs = 2\n'
            f"[random]\ncount = {count}\nseed = {seed}\n" + TINY)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache (random networks, images) for the whole session."""
    return tmp_path_factory.mktemp("validation_cache")


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suites") / "tiny.toml"
    path.write_text(tiny_suite_text())
    return path
