"""The Cortex-M4 build (real ACLE DSP intrinsics) gives the same bytes as the host build.

The host library replaces the DSP intrinsics of ``tm_dsp.h`` with portable C, so the host tests
alone cannot catch a wrong intrinsic mapping (operand order, lane choice).  Here the kernels are
compiled for Cortex-M4 (``-mfloat-abi=hard``), linked into one image with newlib, and the s8_opt
kernels are executed in the unicorn emulator (Cortex-M4 model) on random layers; every output must
equal the host build's s8_ref output.  No memory hooks are installed (see the unicorn ``memcpy``
pitfall in int8-kernel-structure.md).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tflite_oracle import random_int8

from tests.support import hostkernels as hk
from tests.support.hostkernels import QuantS8
from tinymodel.dispatch import KernelPath
from tinymodel import requantization as rq

unicorn = pytest.importorskip("unicorn")
elftools_elf = pytest.importorskip("elftools.elf.elffile")
pytestmark = pytest.mark.skipif(shutil.which(hk.ARM_CC) is None,
                                reason="arm-none-eabi-gcc not installed")

from unicorn import arm_const  # noqa: E402

RAM_BASE = 0x2000_0000
RAM_SIZE = 0x0020_0000
RETURN_ADDR = 0x0F00_0000  # an unmapped-code stop address (emu_start's `until`)


class ArmImage:
    """A linked Cortex-M4 image of every kernel, callable through unicorn (AAPCS calls)."""

    def __init__(self, elf: Path) -> None:
        self.uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(arm_const.UC_CPU_ARM_CORTEX_M4)
        self.symbols: dict[str, int] = {}
        with elf.open("rb") as fh:
            f = elftools_elf.ELFFile(fh)
            for seg in f.iter_segments():
                if seg["p_type"] != "PT_LOAD":
                    continue
                start = seg["p_vaddr"] & ~0xFFF
                end = (seg["p_vaddr"] + seg["p_memsz"] + 0xFFF) & ~0xFFF
                self.uc.mem_map(start, end - start)
                self.uc.mem_write(seg["p_vaddr"], seg.data())
            for sym in f.get_section_by_name(".symtab").iter_symbols():
                if sym.name.startswith("tm_") and sym["st_info"]["type"] == "STT_FUNC":
                    self.symbols[sym.name] = sym["st_value"]
        self.uc.mem_map(RAM_BASE, RAM_SIZE)
        self.uc.mem_map(RETURN_ADDR & ~0xFFF, 0x1000)
        self._heap = RAM_BASE

    def reset_heap(self) -> None:
        self._heap = RAM_BASE

    def put(self, data: bytes | np.ndarray | None) -> int:
        """Copy data into emulator RAM (8-byte aligned); return its address (0 for None)."""
        if data is None:
            return 0
        raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
        addr = self._heap
        self.uc.mem_write(addr, raw)
        self._heap = (addr + max(len(raw), 1) + 7) & ~7
        return addr

    def zeros(self, nbytes: int) -> int:
        return self.put(bytes(nbytes))

    def read(self, addr: int, nbytes: int) -> bytes:
        return bytes(self.uc.mem_read(addr, nbytes))

    def call(self, name: str, *args: int) -> int:
        """Call a kernel with integer/pointer arguments; return r0 (the status)."""
        sp = (RAM_BASE + RAM_SIZE - 0x100) & ~7
        stack_args = args[4:]
        sp -= 4 * len(stack_args)
        sp &= ~7
        for i, v in enumerate(stack_args):
            self.uc.mem_write(sp + 4 * i, struct.pack("<I", v & 0xFFFFFFFF))
        regs = (arm_const.UC_ARM_REG_R0, arm_const.UC_ARM_REG_R1, arm_const.UC_ARM_REG_R2,
                arm_const.UC_ARM_REG_R3)
        for reg, v in zip(regs, args[:4], strict=False):
            self.uc.reg_write(reg, v & 0xFFFFFFFF)
        self.uc.reg_write(arm_const.UC_ARM_REG_SP, sp)
        self.uc.reg_write(arm_const.UC_ARM_REG_LR, RETURN_ADDR | 1)
        self.uc.emu_start(self.symbols[name] | 1, RETURN_ADDR, timeout=60_000_000)
        r0 = self.uc.reg_read(arm_const.UC_ARM_REG_R0)
        return r0 - (1 << 32) if r0 & 0x8000_0000 else r0


def _i32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> ArmImage:
    root = tmp_path_factory.mktemp("armexec")
    objs = hk.compile_for_arm("m4-hard", root / "obj")
    elf = root / "kernels.elf"
    cmd = [hk.ARM_CC, *hk.ARM_CONFIGS["m4-hard"], "-nostartfiles", "-Wl,--entry=tm_reshape",
           "-Wl,-Ttext=0x08000000", *map(str, objs), "-o", str(elf), "-lc", "-lm", "-lgcc"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot link the Arm image: {proc.stderr.strip()}")
    return ArmImage(elf)


def _quant_struct(img: ArmImage, q: QuantS8) -> int:
    mult = np.ascontiguousarray(q.multiplier, np.int32)
    shift = np.ascontiguousarray(q.shift, np.int32)
    m_addr, s_addr = img.put(mult), img.put(shift)
    return img.put(_i32(q.input_offset, q.output_offset, q.act_min, q.act_max) +
                   struct.pack("<IIi", m_addr, s_addr, int(mult.size > 1)))


def _random_quant(rng, channels: int, k_total: int) -> QuantS8:
    n = channels if rng.random() < 0.7 else 1
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=n).astype(np.int32)
    base = -int(np.ceil(np.log2(max(1.0, np.sqrt(k_total) * 128 * 64) / 100.0)))
    shift = (base + rng.integers(-1, 2, size=n)).astype(np.int32)
    return QuantS8(int(rng.integers(-127, 129)), int(rng.integers(-128, 128)), -128, 127, mult,
                   shift)


def _conv_call(img: ArmImage, fn: str, x, w, b, quant, geo, out_shape, ch_mult, scratch_bytes):
    img.reset_heap()
    s_h, s_w = geo["strides"]
    pad_h, pad_w = geo["pads"]
    conv = img.put(_i32(s_h, s_w, pad_h, pad_w, 1, 1, ch_mult))
    q = _quant_struct(img, quant)
    in_d, w_d, out_d = (img.put(_i32(*s)) for s in (x.shape, w.shape, out_shape))
    x_a, w_a = img.put(x), img.put(w)
    b_a = img.put(b)
    out_n = int(np.prod(out_shape))
    out_a = img.zeros(out_n)
    buf = img.zeros(max(scratch_bytes, 4))
    scratch = img.put(struct.pack("<Ii", buf, scratch_bytes))
    status = img.call(fn, conv, q, in_d, x_a, w_d, w_a, b_a, out_d, out_a, scratch)
    assert status == 0, f"{fn} returned {status}"
    return np.frombuffer(img.read(out_a, out_n), np.int8).reshape(out_shape)


def _pads(x_shape, k, s, padding):
    from tinymodel.formulas import conv_output_size, same_padding
    same = padding == "same"
    oh = conv_output_size(x_shape[1], k[0], s, 1, same)
    ow = conv_output_size(x_shape[2], k[1], s, 1, same)
    ph = same_padding(x_shape[1], k[0], s, 1)[0] if same else 0
    pw = same_padding(x_shape[2], k[1], s, 1)[0] if same else 0
    return (ph, pw), oh, ow


def test_conv2d_opt_on_cortex_m4(image: ArmImage) -> None:
    rng = np.random.default_rng(21)
    seen = set()
    for _ in range(24):
        ic = int(rng.choice([1, 3, 4, 6, 7, 8, 16, 17]))
        oc = int(rng.integers(1, 6))
        k = int(rng.choice([1, 3]))
        s = int(rng.integers(1, 3))
        pad = str(rng.choice(["same", "valid"]))
        x = random_int8(rng, (1, int(rng.integers(3, 7)), int(rng.integers(3, 7)), ic))
        w = random_int8(rng, (oc, k, k, ic))
        b = rng.integers(-4000, 4000, size=oc).astype(np.int32)
        quant = _random_quant(rng, oc, k * k * ic)
        pads, oh, ow = _pads(x.shape, (k, k), s, pad)
        want = hk.conv2d(x, w, b, family="ref", quant=quant, strides=s, padding=pad)
        path = hk.conv2d_s8_opt_path(x.shape, w.shape, strides=s, padding=pad)
        seen.add(path)
        nbytes = hk.scratch_bytes("conv2d", "opt", x.shape, w.shape, strides=s, padding=pad)
        got = _conv_call(image, "tm_conv2d_s8_opt", x, w, b, quant,
                         {"strides": (s, s), "pads": pads}, (1, oh, ow, oc), 1, nbytes)
        np.testing.assert_array_equal(got, want, err_msg=f"{path.name} x{x.shape} w{w.shape}")
    assert seen == {KernelPath.CONV_1X1, KernelPath.CONV_IM2COL}


def test_depthwise_opt_on_cortex_m4(image: ArmImage) -> None:
    rng = np.random.default_rng(22)
    seen = set()
    for _ in range(24):
        ch = int(rng.choice([1, 3, 4, 5, 8, 9]))
        k = int(rng.choice([3, 3, 2, 5]))
        s = int(rng.integers(1, 3))
        pad = str(rng.choice(["same", "valid"]))
        x = random_int8(rng, (1, int(rng.integers(5, 8)), int(rng.integers(5, 8)), ch))
        w = random_int8(rng, (1, k, k, ch))
        b = rng.integers(-4000, 4000, size=ch).astype(np.int32)
        quant = _random_quant(rng, ch, k * k)
        pads, oh, ow = _pads(x.shape, (k, k), s, pad)
        want = hk.depthwise_conv2d(x, w, b, family="ref", quant=quant, strides=s, padding=pad)
        path = hk.depthwise_conv2d_s8_opt_path(x.shape, w.shape, strides=s, padding=pad)
        seen.add(path)
        nbytes = hk.scratch_bytes("depthwise_conv2d", "opt", x.shape, w.shape, strides=s,
                                  padding=pad)
        got = _conv_call(image, "tm_depthwise_conv2d_s8_opt", x, w, b, quant,
                         {"strides": (s, s), "pads": pads}, (1, oh, ow, ch), 1, nbytes)
        np.testing.assert_array_equal(got, want, err_msg=f"{path.name} x{x.shape} w{w.shape}")
    assert seen == {KernelPath.DW_3X3, KernelPath.DW_GENERIC}


def test_fully_connected_opt_on_cortex_m4(image: ArmImage) -> None:
    rng = np.random.default_rng(23)
    for k in (1, 3, 4, 15, 16, 17, 18, 31, 33, 50):
        n = int(rng.integers(1, 6))
        x = random_int8(rng, (1, k))
        w = random_int8(rng, (n, k))
        b = rng.integers(-4000, 4000, size=n).astype(np.int32)
        quant = _random_quant(rng, n, k)
        want = hk.fully_connected(x, w, b, family="ref", quant=quant)
        image.reset_heap()
        q = _quant_struct(image, quant)
        dims = image.put(_i32(1, k, n))
        out = image.zeros(n)
        status = image.call("tm_fully_connected_s8_opt", q, dims, image.put(x), image.put(w),
                            image.put(b), out, 0)
        assert status == 0
        got = np.frombuffer(image.read(out, n), np.int8).reshape(1, n)
        np.testing.assert_array_equal(got, want, err_msg=f"k={k} n={n}")


def test_pool_and_add_opt_on_cortex_m4(image: ArmImage) -> None:
    rng = np.random.default_rng(24)
    for _ in range(8):
        c = int(rng.choice([3, 4, 7, 8]))
        x = random_int8(rng, (1, 6, 5, c))
        pads, oh, ow = _pads(x.shape, (3, 3), 2, "same")
        for kind in ("avg", "max"):
            fn = hk.avg_pool2d if kind == "avg" else hk.max_pool2d
            want = fn(x, 3, strides=2, padding="same", family="ref", act_range=(-100, 120))
            image.reset_heap()
            pool = image.put(_i32(2, 2, pads[0], pads[1], 3, 3))
            out = image.zeros(oh * ow * c)
            status = image.call(f"tm_{kind}_pool2d_s8_opt", pool, -100, 120,
                                image.put(_i32(*x.shape)), image.put(x),
                                image.put(_i32(1, oh, ow, c)), out)
            assert status == 0
            got = np.frombuffer(image.read(out, oh * ow * c), np.int8).reshape(want.shape)
            np.testing.assert_array_equal(got, want, err_msg=kind)
        x2 = random_int8(rng, x.shape)
        p = rq.add_params(0.05, 3, 0.11, -7, 0.09, 5)
        want = hk.add(x, x2, family="ref", params=p, act_range=(-128, 127))
        image.reset_heap()
        params = image.put(_i32(p.input1_offset, p.input2_offset, p.output_offset, p.left_shift,
                                p.input1_multiplier, p.input1_shift, p.input2_multiplier,
                                p.input2_shift, p.output_multiplier, p.output_shift, -128, 127))
        out = image.zeros(x.size)
        assert image.call("tm_add_s8_opt", params, x.size, image.put(x), image.put(x2), out) == 0
        got = np.frombuffer(image.read(out, x.size), np.int8).reshape(x.shape)
        np.testing.assert_array_equal(got, want)
