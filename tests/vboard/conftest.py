"""Fixtures for the virtual-board tests: test images are assembled at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vboard.images import build_asm, build_c, toolchain_available

needs_toolchain = pytest.mark.skipif(not toolchain_available(),
                                     reason="arm-none-eabi toolchain not installed")

#: The cycle engines every engine-parametrized test runs under (the first is the reference).
ENGINES = ("python", "native")


def require_native() -> None:
    """Skip without a host C compiler; otherwise the native engine must load."""
    from calibration.hostbuild import HostBuildError, find_host_compiler
    from calibration.vboard.native import native_available
    try:
        find_host_compiler()
    except HostBuildError:
        pytest.skip("no host C compiler for the native engine")
    why = native_available()
    assert why is None, why


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch) -> str:
    """Run the test under each cycle engine: machines created without an ``engine`` argument
    (also behind ``vboard://``) use it through ``$TINYMODEL_VBOARD_ENGINE``."""
    from calibration.vboard.emulator import ENGINE_ENV
    if request.param == "native":
        require_native()
    monkeypatch.setenv(ENGINE_ENV, request.param)
    return request.param


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
