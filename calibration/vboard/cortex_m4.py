"""Cortex-M4 (and M4F) static block timing, from the Cortex-M4 TRM instruction table.

Every rule below is listed with its source in docs/virtual-board.md ("Cortex-M4 rules").  Costs
assume zero-wait memory; wait states, the ART accelerator and data-address effects are dynamic
and added by the engine.  Source tags (S1..S30) are those of
shared/reference/cortex-m-timing-and-boards.md.
"""

from __future__ import annotations

from calibration.vboard.decode import (ALU, ALU_SHIFT, BARRIER, BITFIELD, BKPT, BRANCH, CBZ, CPS,
                                       DIV, FP_ALU, FP_DIV, FP_MAC, ISB, IT, LDM, LDRD, LOAD, MAC,
                                       MRS, MSR, MUL, NOP, PC, SIMD, STM, STORE, STRD, SVC, TB,
                                       UDF, UNKNOWN, VLDM, VLDR, VMOV_CORE, VMRS, VSTM, VSTR, WFI,
                                       Insn)
from calibration.vboard.timing import StaticTiming

#: Pipeline refill after a taken branch: "P" of the TRM is 1..3; 2 is the typical value
#: (taken branch = 3 cycles total, S1/S3; LLVM MispredictPenalty 2, S4).
REFILL_CYCLES = 2
#: SDIV/UDIV take 2..12 cycles depending on the operands (S2); no formula is published.  The
#: flat value 7 is ICEmu's (S9) and the middle of the range.  [U]
DIVIDE_CYCLES = 7
#: Unaligned LDR/STR(H) split into two bus transfers: +1 cycle each (S30 measurements; the
#: int8 kernel notes charge the same).
UNALIGNED_CYCLES = 1

_ONE = frozenset({ALU, ALU_SHIFT, BITFIELD, SIMD, MUL, MAC, FP_ALU, VMRS, CPS, NOP, WFI, BKPT,
                  SVC, UDF, UNKNOWN, MRS, BARRIER})
_DATA_PROCESSING = frozenset({ALU, ALU_SHIFT, BITFIELD, SIMD, MUL, MAC})


def instruction_cycles(ins: Insn, prev: Insn | None) -> int:
    """Issue cycles of ``ins`` after ``prev`` (None at block entry), zero-wait memory, excluding
    the refill of a taken branch (the engine adds :data:`REFILL_CYCLES` when it is taken)."""
    c = ins.cls
    if c in _ONE:
        cyc = 1
    elif c == LOAD or c == VLDR:
        cyc = 3 if ins.double else 2
        # neighbouring load/store singles pipeline: the second costs 1 (S3), unless its address
        # uses the previous load's result (S3) or both post/pre-index the same base (S7)
        if (not ins.double and prev is not None and prev.cls in (LOAD, VLDR) and not prev.double
                and ins.mem is not None and ins.mem.base != PC
                and not (prev.writes & ins.addr_reads)
                and not (prev.mem is not None and prev.mem.writeback
                         and ins.mem.base == prev.mem.base)):
            cyc = 1
    elif c == STORE:
        # STR Rx,[Ry,#imm] is one cycle (address phase, data via the write buffer); register
        # offset two (S3, S6); a store right after a load pipelines (S3)
        cyc = 1 if (ins.mem is None or ins.mem.index is None) else 2
        if prev is not None and prev.cls == LOAD:
            cyc = 1
    elif c == VSTR:
        cyc = 3 if ins.double else 2
    elif c in (LDRD, STRD):
        cyc = 3                                   # 1+N, N = 2, never pipelined (S3, S6)
    elif c in (LDM, STM):
        cyc = 1 + max(ins.nregs, 1)               # 1+N (S1); +P when PC is loaded (engine)
    elif c in (VLDM, VSTM):
        cyc = 1 + max(ins.nregs, 1)               # 1+N singles, 1+2N doubles (S2)
    elif c == VMOV_CORE:
        cyc = 1 if "[" in ins.text else 2         # half of D <-> core 1, S/2xS/D <-> core 2 (S2)
    elif c == FP_MAC:
        cyc = 3                                   # VMLA/VFMA family (S2)
    elif c == FP_DIV:
        cyc = 14                                  # VDIV/VSQRT (S2, S4)
    elif c == DIV:
        cyc = DIVIDE_CYCLES
    elif c in (BRANCH, CBZ):
        cyc = 1                                   # + P when taken (engine)
    elif c == TB:
        cyc = 3                                   # 2 for the load, 1 for the add; + P (S3)
    elif c == IT:
        # folded onto a preceding 16-bit instruction, else 1 (S1 note, [U]; LLVM S4)
        cyc = 0 if (prev is not None and prev.size == 2) else 1
    elif c == ISB:
        cyc = 1 + REFILL_CYCLES                   # 1+P (S1)
    elif c == MSR:
        cyc = 2                                   # "1 or 2" (S1); OTAWA uses 2 (S9)
    else:
        cyc = 1
    # a load/store whose address depends on the result of the immediately preceding
    # data-processing instruction waits one cycle (no forwarding to the AGU: S3, S6, S7)
    if (ins.mem is not None and prev is not None and prev.cls in _DATA_PROCESSING
            and prev.writes & ins.addr_reads):
        cyc += 1
    return cyc


def block_timing(insns: list[Insn]) -> StaticTiming:
    """Static timing of one block (see :class:`StaticTiming`)."""
    prefix = [0]
    prev = None
    t = 0
    for ins in insns:
        t += instruction_cycles(ins, prev)
        prefix.append(t)
        prev = ins
    last = insns[-1] if insns else None
    taken = REFILL_CYCLES if (last is not None and last.writes_pc) else 0
    first = insns[0] if insns else None
    # a branch target that is a 32-bit instruction on a halfword boundary costs +1 (S30)
    entry = 1 if (first is not None and first.size == 4 and first.address & 2) else 0
    return StaticTiming(t, tuple(prefix), taken, entry)
