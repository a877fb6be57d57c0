"""Fixtures of the calibration tests: the host device (firmware compiled for x86, in-process) and
virtual-board firmware images, plus small plan files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: A small plan: 6 dense points and 3 1x1 convolutions, every third point held out.
SMALL_PLAN = """
name = "small"
variants = ["f32", "s8-ref", "s8-opt"]
warmups = 1
reps = 3
[virtual]
warmups = 1
reps = 2
[[sweep]]
name = "dense"
base = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }
key = "input.1"
range = [1, 6]
holdout_every = 3
[[sweep]]
name = "conv1x1"
base = { op = "CONV_2D", input = [1, 4, 4, 1], filters = 4, kernel = [1, 1], padding = "valid" }
key = "input.3"
values = [1, 2, 4]
holdout_every = 3
"""


def dense_plan(name: str, points: int, variant: str = "s8-ref") -> str:
    """A plan of ``points`` dense layers (inputs 1 to ``points``) for one variant: enough work to
    keep virtual boards busy while a test kills or interrupts a run."""
    return f"""
name = "{name}"
variants = ["{variant}"]
[virtual]
warmups = 1
reps = 2
[[sweep]]
name = "dense"
base = {{ op = "FULLY_CONNECTED", input = [1, 1], units = 4 }}
key = "input.1"
range = [1, {points}]
"""


class HostConnector:
    """Opens a fresh host device (its state reset, like a board whose port was reopened) and
    counts the openings."""

    def __init__(self, lib):
        self.lib = lib
        self.opened = 0

    def __call__(self):
        from tests.support.hostdevice import HostDeviceTransport

        self.opened += 1
        return HostDeviceTransport(self.lib)


def have_host_cc() -> bool:
    return any(shutil.which(c) for c in ("cc", "gcc", "clang"))


def have_arm_toolchain() -> bool:
    return shutil.which("arm-none-eabi-gcc") is not None


needs_arm = pytest.mark.skipif(not have_arm_toolchain(), reason="arm-none-eabi toolchain not installed")


@pytest.fixture(scope="session")
def host_lib() -> Path:
    """The host device library (built once)."""
    if not have_host_cc():
        pytest.skip("no host C compiler")
    from tests.support.hostdevice import build_host_device

    return build_host_device()


@pytest.fixture
def small_plan(tmp_path):
    """The :data:`SMALL_PLAN`, loaded."""
    from calibration.plans import load_plan

    path = tmp_path / "small.toml"
    path.write_text(SMALL_PLAN)
    return load_plan(path)


@pytest.fixture(scope="session")
def l4_image():
    """``l4_image(variant)`` -> ELF path of the L4 firmware image (built on first use)."""
    if not have_arm_toolchain():
        pytest.skip("arm-none-eabi toolchain not installed")
    from calibration.firmware import build_image

    def get(variant: str) -> Path:
        return build_image("L4", variant, "-O2").elf
    return get


@pytest.fixture(scope="session")
def board_image():
    """``board_image(board, variant)`` -> ELF path of that board's firmware image (built on
    first use)."""
    if not have_arm_toolchain():
        pytest.skip("arm-none-eabi toolchain not installed")
    from calibration.firmware import build_image

    def get(board: str, variant: str) -> Path:
        return build_image(board, variant, "-O2").elf
    return get
