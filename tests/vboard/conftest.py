"""Fixtures for the virtual-board tests: test images are assembled at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vboard.images import build_asm, build_c, toolchain_available

needs_toolchain = pytest.mark.skipif(not toolchain_available(),
                                     reason="arm-none-eabi toolchain not installed")


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("vboard_images")


@pytest.fixture(scope="session")
def asm(image_dir):
    """``asm(body, board="L4", vectors=None)`` -> path of an assembled ELF."""
    if not toolchain_available():
        pytest.skip("arm-none-eabi toolchain not installed")

    def build(body: str, board: str = "L4", vectors=None) -> Path:
        return build_asm(body, image_dir, board, vectors)
    return build


@pytest.fixture(scope="session")
def cc(image_dir):
    """``cc(source, board="L4")`` -> path of a compiled C ELF (newlib nano)."""
    if not toolchain_available():
        pytest.skip("arm-none-eabi toolchain not installed")

    def build(source: str, board: str = "L4", opt: str = "-O2", extra=None) -> Path:
        return build_c(source, image_dir, board, opt=opt, extra=extra)
    return build
