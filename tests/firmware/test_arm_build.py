"""Every kernel compiles for Cortex-M4 (hard and soft float) and Cortex-M7 without a warning, uses
no double precision, and the two int8 families have the instruction mix their structure claims."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import hostkernels as hk

pytestmark = pytest.mark.skipif(shutil.which(hk.ARM_CC) is None,
                                reason="arm-none-eabi-gcc not installed")


@pytest.fixture(scope="module")
def arm_objects(tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("arm")
    return {cfg: hk.compile_for_arm(cfg, root / cfg) for cfg in hk.ARM_CONFIGS}


def _disassemble(obj: Path) -> str:
    objdump = shutil.which("arm-none-eabi-objdump")
    if objdump is None:
        pytest.skip("arm-none-eabi-objdump not installed")
    return subprocess.run([objdump, "-d", str(obj)], capture_output=True, text=True,
                          check=True).stdout


def _undefined(obj: Path) -> set[str]:
    nm = shutil.which("arm-none-eabi-nm")
    if nm is None:
        pytest.skip("arm-none-eabi-nm not installed")
    out = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def test_every_kernel_compiles_without_warnings(arm_objects) -> None:
    sources = sorted(p.stem for p in (hk.FIRMWARE_DIR / "kernels").glob("*.c"))
    for cfg, objs in arm_objects.items():
        assert sorted(o.stem for o in objs) == sources, cfg


def test_no_double_precision(arm_objects) -> None:
    """No ``double`` anywhere: no f64 VFP instructions (the emulator's M7 rejects them) and no
    soft-float double helpers."""
    for cfg, objs in arm_objects.items():
        for obj in objs:
            asm = _disassemble(obj)
            assert not re.search(r"\.f64|vcvt\.f32\.f64|vcvt\.f64", asm), f"{cfg}/{obj.name}"
            assert not {s for s in _undefined(obj) if s.startswith("__aeabi_d")}, \
                f"{cfg}/{obj.name}"


KERNEL_HEADERS = ("tm_kernels.h", "tm_requant.h", "tm_dsp.h", "tm_internal.h")


def test_no_double_in_sources() -> None:
    for path in sorted((hk.FIRMWARE_DIR / "kernels").glob("*.c")) + \
            [hk.FIRMWARE_DIR / "include" / h for h in KERNEL_HEADERS]:
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.DOTALL)
        assert not re.search(r"\bdouble\b", code), path.name


def test_f32_soft_build_uses_no_fpu(arm_objects) -> None:
    for obj in arm_objects["m4-soft"]:
        if obj.stem.endswith("_f32"):
            assert not re.search(r"\bv(add|mul|fma|mla|div|sub)\.f32", _disassemble(obj)), obj.name


def test_int8_instruction_mix(arm_objects) -> None:
    """s8_opt kernels use the DSP SIMD MACs; s8_ref kernels use none (one scalar MAC per step)."""
    simd = re.compile(r"\b(smlad|smlabb|smlatt|sxtb16|sxtab16)\b")
    objs = {o.stem: o for o in arm_objects["m4-hard"]}
    for name in ("tm_fully_connected_s8_opt", "tm_conv2d_1x1_s8_opt", "tm_conv2d_im2col_s8_opt",
                 "tm_depthwise_conv2d_3x3_s8_opt", "tm_depthwise_conv2d_generic_s8_opt"):
        assert simd.search(_disassemble(objs[name])), name
    for name in ("tm_fully_connected_s8_ref", "tm_conv2d_s8_ref", "tm_depthwise_conv2d_s8_ref"):
        assert not re.search(r"\bsmlad\b", _disassemble(objs[name])), name
