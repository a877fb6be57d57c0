"""Cortex-M7 static block timing: in-order dual issue with pairing rules and a register
scoreboard, approximating the published measurements and compiler models.

Sources (tags of shared/reference/cortex-m-timing-and-boards.md): pairing rules from jnk0le's
measurements (S7) and LLVM's ARMScheduleM7.td (S5); latencies from S5/S7.  The scoreboard is
reset at every block entry (dependencies across blocks are not modelled).  Branch prediction,
caches and memory effects are dynamic and live in the engine.  docs/virtual-board.md lists
every rule with its source and its known deviation.
"""

from __future__ import annotations

from calibration.vboard.decode import (ALU, ALU_SHIFT, BARRIER, BITFIELD, BKPT, BRANCH, CBZ, CPS,
                                       DIV, FLAGS, FP_ALU, FP_DIV, FP_MAC, ISB, IT, LDM, LDRD, LOAD,
                                       MAC, MRS, MSR, MUL, NOP, SIMD, STM, STORE, STRD, SVC, TB,
                                       UDF, UNKNOWN, VLDM, VLDR, VMOV_CORE, VMRS, VSTM, VSTR, WFI,
                                       Insn)
from calibration.vboard.timing import BranchInfo, StaticTiming

#: Branch mispredict: about 8 cycles, about 6 when the flags were set at least 3 cycles before
#: the branch (S7); LLVM uses 6 (S5).
MISPREDICT_CYCLES = 6
MISPREDICT_LATE_FLAGS_CYCLES = 8
#: Unaligned LDR: +3 cycles (older slot) / +4 (younger) (S7); the engine charges 3.
UNALIGNED_CYCLES = 3
#: SDIV/UDIV: LLVM latency 7, single issue (S5); the real range is not published [U].
DIVIDE_LATENCY = 7

_SINGLE = frozenset({LDRD, STRD, LDM, STM, VLDM, VSTM, TB, MSR, MRS, BARRIER, ISB, CPS, SVC, DIV,
                     WFI, BKPT, UDF, UNKNOWN, VMRS})
_SHIFTER = frozenset({ALU_SHIFT, BITFIELD, SIMD})
_EARLY_ALL = frozenset({BITFIELD, SIMD})
_MACS = frozenset({MUL, MAC})
_FP = frozenset({FP_ALU, FP_MAC, FP_DIV})
_STORES = frozenset({STORE, VSTR})
_LOADS = frozenset({LOAD, VLDR})


def _single_issue(ins: Insn) -> bool:
    return (ins.cls in _SINGLE or (ins.cls in (VLDR, VSTR) and ins.double)
            or ins.name.startswith(("LDREX", "STREX")))


def can_pair(older: Insn, younger: Insn) -> bool:
    """Can ``younger`` issue in the same cycle as ``older`` (structural rules only; data
    dependencies are handled by the scoreboard)?  Rules from S7 (measured) and S5."""
    a, b = older.cls, younger.cls
    if _single_issue(older) or _single_issue(younger):
        return False
    if older.writes_pc:
        return False
    if a in _STORES and b in _STORES:
        return False                       # one store port
    if a in _MACS and b in _MACS:
        return False                       # one MAC pipe
    if (a in _MACS and b in _STORES) or (a in _STORES and b in _MACS):
        return False
    if a in _FP and b in _FP:
        return False                       # one FP data-processing op per cycle
    if (a == FP_MAC and b in (VLDR, VSTR, VMOV_CORE)) or (
            b == FP_MAC and a in (VLDR, VSTR, VMOV_CORE)):
        return False
    if b in (BITFIELD, SIMD):
        return False                       # DSP/bit-field ops must take the older slot
    if a in _SHIFTER and b in _SHIFTER:
        return False                       # one shifter
    return True


def _latency(ins: Insn) -> int:
    c = ins.cls
    if c == LOAD:
        return 2 if ins.name in ("LDRB", "LDRH", "LDRSB", "LDRSH", "LDRBT", "LDRHT", "LDRSBT",
                                 "LDRSHT", "LDREXB", "LDREXH") else 1
    if c == VLDR:
        return 2 if ins.double else 1
    if c in _MACS:
        return 2
    if c == DIV:
        return DIVIDE_LATENCY
    if c == FP_ALU:
        if ins.double:
            return 5 if ins.name in ("VMUL", "VNMUL") else 4
        return 3
    if c == FP_MAC:
        return 7 if ins.double else (6 if ins.name.startswith(("VMLA", "VMLS", "VNML")) else 5)
    if c == FP_DIV:
        if ins.double:
            return 30
        return 16 if ins.name == "VDIV" else 14
    if c == VMOV_CORE:
        # GPR -> S: 3; S -> GPR: 1 (S7)
        return 3 if any(r >= 16 for r in ins.writes) else 1
    if c in (LDM, LDRD):
        return 2
    return 1


def _occupancy(ins: Insn) -> int:
    """Cycles the instruction blocks the issue stage."""
    c = ins.cls
    if c in (LDM, STM, VLDM, VSTM):
        return max(1, (ins.nregs + 1) // 2)        # ceil(N/2) (S7)
    if c == FP_DIV:
        return _latency(ins)                       # VDIV/VSQRT lock the pipeline (S7)
    if c == FP_MAC and ins.double:
        return 6
    if c == FP_ALU and ins.double:
        return 2
    if c == ISB:
        return 3
    return 1


def block_timing(insns: list[Insn]) -> StaticTiming:
    """Static dual-issue schedule of one block; ``prefix[i]`` is instruction i's issue cycle."""
    ready: dict[int, int] = {}
    producer: dict[int, str] = {}
    t = 0
    used = 0                    # instructions issued in cycle t: 0, 1, or 2 (= full)
    older: Insn | None = None
    prefix: list[int] = []
    flag_time = -100
    for ins in insns:
        earliest = 0
        store_data = ins.reads - ins.addr_reads if ins.cls in _STORES or ins.cls in (STM, STRD) \
            else frozenset()
        for r in ins.reads:
            rt = ready.get(r)
            if rt is None:
                continue
            if r in ins.addr_reads or ins.cls in _EARLY_ALL:
                rt += 1                             # needed at EX1, one cycle early (S5, S7)
            elif r in store_data:
                rt -= 1                             # store data is read late (S5, S7)
            elif ins.cls == MAC and r in ins.writes and producer.get(r) in (MAC, MUL):
                rt -= 1                             # accumulator forwarding (S7)
            elif r == FLAGS and ins.cls in (BRANCH, CBZ):
                rt -= 1                             # branch resolves late; cmp+bne pair (S7)
            if rt > earliest:
                earliest = rt
        if used == 1 and older is not None and earliest <= t and can_pair(older, ins):
            used = 2
        else:
            t = max(t + (1 if used else 0), earliest)
            used = 1
            older = ins
        issue = t
        prefix.append(issue)
        occ = _occupancy(ins)
        if _single_issue(ins) or occ > 1:
            t += occ - 1
            used = 2
        lat = _latency(ins)
        for w in ins.writes:
            ready[w] = issue + lat
            producer[w] = ins.cls
        if ins.sets_flags:
            flag_time = issue
    total = (t + 1) if insns else 0
    prefix.append(total)
    branch = None
    last = insns[-1] if insns else None
    if last is not None and last.writes_pc:
        if last.conditional or last.cls == CBZ:
            kind = "cond"
        elif last.cls == BRANCH and last.target is not None:
            kind = "direct"
        else:
            kind = "indirect"
        late = kind == "cond" and last.cls != CBZ and prefix[-2] - flag_time < 3
        branch = BranchInfo(last.address, kind,
                            last.target is not None and last.target <= last.address,
                            MISPREDICT_LATE_FLAGS_CYCLES if late else MISPREDICT_CYCLES)
    return StaticTiming(total, tuple(prefix), 0, 0, branch)


__all__ = ["block_timing", "can_pair", "MISPREDICT_CYCLES", "UNALIGNED_CYCLES", "ALU", "IT",
           "NOP"]
