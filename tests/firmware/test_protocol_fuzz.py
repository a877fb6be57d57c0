"""The device-side protocol code, compiled for x86 under AddressSanitizer and UBSan, survives
malformed, truncated, oversized, corrupted and random frames (firmware/fuzz/tm_fuzz.c).

The default run feeds :data:`SEEDS` (30 seeds) x :data:`QUICK_FRAMES` frames; the slow run
(``--runslow``) the same seeds x :data:`FULL_FRAMES` frames.  docs/reliability.md records the
counts of the full run.
"""

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

#: The fuzz seeds: 1..29 and the long-standing second seed.
SEEDS: tuple[int, ...] = (*range(1, 30), 987654321)
QUICK_FRAMES = 3_000
FULL_FRAMES = 100_000


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


def _run(exe, iterations: int, seed: int) -> dict[str, int]:
    """Run the fuzzer; its RUN_LAYER reply counts by status (``"0"``: the kernels ran)."""
    res = subprocess.run([str(exe), str(iterations), str(seed)], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert "ERROR: AddressSanitizer" not in res.stderr and "runtime error" not in res.stderr
    assert res.stdout.startswith(f"frames {iterations} ")
    print(f"seed {seed}: {res.stdout.strip()}")
    return {k: int(v) for k, v in (kv.split(":") for kv in res.stdout.split("status:")[1].split())}


@pytest.mark.parametrize("seed", SEEDS)
def test_malformed_frames_under_asan_ubsan(fuzzer, seed):
    stats = _run(fuzzer, QUICK_FRAMES, seed)
    # the structured RUN_LAYER requests reached the kernels (status 0) and the checks (PARAM)
    assert stats.get("0", 0) > 20 and stats.get("6", 0) > 20


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_100k_malformed_frames_under_asan_ubsan(fuzzer, seed):
    stats = _run(fuzzer, FULL_FRAMES, seed)
    assert stats["0"] > 1000 and stats["6"] > 1000


@pytest.mark.slow
@pytest.mark.parametrize("target", ["tm_libfuzzer", "tm_libfuzzer_run_layer"])
def test_libfuzzer_targets_build_and_run(tmp_path, target):
    """The libFuzzer harness (firmware/fuzz/tm_libfuzzer.c) builds with clang and survives a
    short run (skipped without clang / libFuzzer)."""
    import shutil

    if shutil.which("clang") is None:
        pytest.skip("no clang (libFuzzer) on this machine")
    res = subprocess.run(["make", "-C", str(FIRMWARE_DIR / "fuzz"), "libfuzzer",
                          f"OUT={tmp_path}"], capture_output=True, text=True)
    if res.returncode != 0 and "fuzzer" in res.stderr:
        pytest.skip("clang has no libFuzzer runtime")
    assert res.returncode == 0, res.stderr[-3000:]
    run = subprocess.run([str(tmp_path / target), "-runs=20000", "-seed=1"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Done 20000 runs" in run.stderr
