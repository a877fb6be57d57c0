"""Double-precision VFP instructions for the Cortex-M7 model.

The STM32F767's FPv5 FPU executes double precision in hardware, but unicorn 2.1.4's Cortex-M7
model raises UC_ERR_INSN_INVALID on double-precision data processing.  The machine catches that
error, and :func:`emulate` executes the instruction on the host (IEEE 754 binary64 with
round-to-nearest, the FPSCR default) and writes the result back.  Cycles are charged by the
Cortex-M7 timing model like any other instruction.  Floating-point exception flags in FPSCR are
not updated.
"""

from __future__ import annotations

import math
import struct

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
from capstone import arm_const as A

_MD = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
_MD.detail = True


def _f64(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0]


def _b64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def _b32(x: float) -> int:
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:
        return 0x7F800000 if x > 0 else 0xFF800000


def _cond_passed(cc: int, flags: int) -> bool:
    n, z, c, v = (flags >> 31) & 1, (flags >> 30) & 1, (flags >> 29) & 1, (flags >> 28) & 1
    table = {
        A.ARM_CC_EQ: z, A.ARM_CC_NE: not z, A.ARM_CC_HS: c, A.ARM_CC_LO: not c,
        A.ARM_CC_MI: n, A.ARM_CC_PL: not n, A.ARM_CC_VS: v, A.ARM_CC_VC: not v,
        A.ARM_CC_HI: c and not z, A.ARM_CC_LS: not c or z, A.ARM_CC_GE: n == v,
        A.ARM_CC_LT: n != v, A.ARM_CC_GT: not z and n == v, A.ARM_CC_LE: z or n != v,
    }
    return bool(table.get(cc, True))


def _to_int(x: float, signed: bool, round_nearest: bool) -> int:
    if math.isnan(x):
        return 0
    r = round(x) if round_nearest else math.trunc(x) if math.isfinite(x) else x
    lo, hi = (-(1 << 31), (1 << 31) - 1) if signed else (0, (1 << 32) - 1)
    if r == math.inf or (isinstance(r, float) and r > hi):
        r = hi
    elif r == -math.inf or r < lo:
        r = lo
    return int(r) & 0xFFFFFFFF


def emulate(uc, pc: int) -> bool:
    """Execute the double-precision VFP instruction at ``pc`` on ``uc`` and advance PC.
    Returns False when the instruction is not one this module handles."""
    from unicorn.arm_const import UC_ARM_REG_D0, UC_ARM_REG_FPSCR, UC_ARM_REG_S0, UC_ARM_REG_XPSR

    code = bytes(uc.mem_read(pc, 4))
    ins = next(_MD.disasm(code, pc, 1), None)
    if ins is None or not ins.mnemonic.startswith("v"):
        return False
    mn = ins.mnemonic.split(".")[0]
    base = mn[:-2] if ins.cc not in (A.ARM_CC_AL, getattr(A, "ARM_CC_INVALID", -1)) and len(mn) > 3 \
        else mn
    regs = [ins.reg_name(o.reg) for o in ins.operands if o.type == A.ARM_OP_REG]
    imms = [o for o in ins.operands if o.type in (A.ARM_OP_IMM, A.ARM_OP_FP)]

    def rd(name: str) -> float | int:
        if name.startswith("d"):
            return _f64(uc.reg_read(UC_ARM_REG_D0 + int(name[1:])))
        return uc.reg_read(UC_ARM_REG_S0 + int(name[1:]))

    def wr_d(name: str, x: float) -> None:
        uc.reg_write(UC_ARM_REG_D0 + int(name[1:]), _b64(x))

    xpsr = uc.reg_read(UC_ARM_REG_XPSR)
    if ins.cc not in (A.ARM_CC_AL, getattr(A, "ARM_CC_INVALID", -1)) and not _cond_passed(
            ins.cc, xpsr):
        _advance(uc, pc, ins.size, xpsr)
        return True
    types = ins.mnemonic.split(".")[1:]
    try:
        if base in ("vadd", "vsub", "vmul", "vdiv", "vnmul") and len(regs) == 3:
            a, b = rd(regs[1]), rd(regs[2])
            r = {"vadd": a + b, "vsub": a - b, "vmul": a * b, "vnmul": -(a * b),
                 "vdiv": (a / b if b != 0 else (math.copysign(math.inf, a) * math.copysign(1, b)
                                                if a != 0 else math.nan))}[base]
            wr_d(regs[0], r)
        elif base in ("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"):
            d, a, b = rd(regs[0]), rd(regs[1]), rd(regs[2])
            p = a * b
            r = {"vmla": d + p, "vmls": d - p, "vnmla": -d - p, "vnmls": -d + p,
                 "vfma": d + p, "vfms": d - p, "vfnma": -d - p, "vfnms": -d + p}[base]
            wr_d(regs[0], r)
        elif base in ("vneg", "vabs", "vsqrt") and len(regs) == 2:
            a = rd(regs[1])
            r = -a if base == "vneg" else abs(a) if base == "vabs" else (
                math.sqrt(a) if a >= 0 else math.nan)
            wr_d(regs[0], r)
        elif base == "vmov" and len(regs) == 2 and regs[0][0] == "d" and regs[1][0] == "d":
            uc.reg_write(UC_ARM_REG_D0 + int(regs[0][1:]),
                         uc.reg_read(UC_ARM_REG_D0 + int(regs[1][1:])))
        elif base == "vmov" and len(regs) == 1 and regs[0][0] == "d" and imms:
            o = imms[0]
            wr_d(regs[0], o.fp if o.type == A.ARM_OP_FP else float(o.imm))
        elif base in ("vcmp", "vcmpe"):
            a = rd(regs[0])
            b = rd(regs[1]) if len(regs) > 1 else 0.0
            if math.isnan(a) or math.isnan(b):
                nzcv = 0b0011
            elif a == b:
                nzcv = 0b0110
            elif a < b:
                nzcv = 0b1000
            else:
                nzcv = 0b0010
            fpscr = uc.reg_read(UC_ARM_REG_FPSCR)
            uc.reg_write(UC_ARM_REG_FPSCR, (fpscr & 0x0FFFFFFF) | (nzcv << 28))
        elif base in ("vcvt", "vcvtr") and len(types) == 2 and len(regs) == 2:
            dst, src = types
            if src == "f64" and dst == "f32":
                uc.reg_write(UC_ARM_REG_S0 + int(regs[0][1:]), _b32(rd(regs[1])))
            elif src == "f32" and dst == "f64":
                wr_d(regs[0], _f32(rd(regs[1])))
            elif src in ("s32", "u32") and dst == "f64":
                v = rd(regs[1])
                if src == "s32" and v >= 1 << 31:
                    v -= 1 << 32
                wr_d(regs[0], float(v))
            elif src == "f64" and dst in ("s32", "u32"):
                uc.reg_write(UC_ARM_REG_S0 + int(regs[0][1:]),
                             _to_int(rd(regs[1]), dst == "s32", base == "vcvtr"))
            else:
                return False
        else:
            return False
    except (ValueError, KeyError, IndexError):
        return False
    _advance(uc, pc, ins.size, xpsr)
    return True


def _advance(uc, pc: int, size: int, xpsr: int) -> None:
    """PC += size and advance the IT state (ARMv7-M ITAdvance) if inside an IT block."""
    from unicorn.arm_const import UC_ARM_REG_PC, UC_ARM_REG_XPSR

    it = ((xpsr >> 25) & 3) | (((xpsr >> 10) & 0x3F) << 2)
    if it:
        it = 0 if it & 7 == 0 else (it & 0xE0) | ((it << 1) & 0x1F)
        xpsr = (xpsr & ~((3 << 25) | (0x3F << 10))) | ((it & 3) << 25) | ((it >> 2) << 10)
        uc.reg_write(UC_ARM_REG_XPSR, xpsr)
    uc.reg_write(UC_ARM_REG_PC, (pc + size) | 1)
