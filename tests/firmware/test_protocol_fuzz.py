"""The device-side protocol code, compiled for x86 under AddressSanitizer and UBSan, survives
100,000 malformed, truncated, oversized, corrupted and random frames (firmware/fuzz/tm_fuzz.c)."""

from __future__ import annotations

import subprocess

import pytest

from calibration import hostbuild
from calibration.firmware import FIRMWARE_DIR
from tests.support.hostdevice import SANITIZE, device_sources

try:
    CC: str | None = hostbuild.find_host_compiler()
except hostbuild.HostBuildError:  # pragma: no cover - no compiler on this machine
    CC = None
pytestmark = pytest.mark.skipif(CC is None, reason="no host C compiler")


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    exe = tmp_path_factory.mktemp("fuzz") / "tm_fuzz"
    cmd = [CC, *hostbuild.DEVICE_CFLAGS, "-Wall", "-Wextra", *SANITIZE,
           *hostbuild.DEVICE_DEFINES, "-DTM_FUZZ_MAX_WORK=2000000u",
           f"-I{hostbuild.INCLUDE_DIR}", "-o", str(exe),
           *map(str, device_sources()), str(FIRMWARE_DIR / "fuzz" / "tm_fuzz.c"), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 and "sanitize" in res.stderr:
        pytest.skip("the host compiler has no AddressSanitizer/UBSan runtime")
    assert res.returncode == 0, res.stderr[-3000:]
    return exe


def _run(exe, iterations: int, seed: int) -> str:
    res = subprocess.run([str(exe), str(iterations), str(seed)], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert "ERROR: AddressSanitizer" not in res.stderr and "runtime error" not in res.stderr
    return res.stdout


def test_100k_malformed_frames_under_asan_ubsan(fuzzer):
    out = _run(fuzzer, 100_000, 1)
    print(out)
    assert out.startswith("frames 100000")
    # the structured RUN_LAYER requests really reached the kernels (status 0) and the checks
    stats = dict(kv.split(":") for kv in out.split("status:")[1].split())
    assert int(stats["0"]) > 1000 and int(stats["6"]) > 100


def test_second_seed(fuzzer):
    assert _run(fuzzer, 20_000, 987654321).startswith("frames 20000")
