"""Cortex-M33 static block timing: one instruction per cycle, in order, with the M33's limited
16-bit dual issue and a per-register result-latency scoreboard.

Arm publishes no cycle table for the Cortex-M33.  The rules follow the published measurements
and the pipeline description collected in shared/reference/cortex-m33-u575.md (source tags S1..S18
of that file: S1 jnk0le's DWT_CYCCNT measurements on an RP2350 Cortex-M33 r1p0, S2 the 2017
pipeline description, S3 LLVM's cortex-m33 features, S5 a cycle-budget tool, S17 the M4/M7 notes),
section 1.2-1.5 and the approximation of its section 1.9.  docs/virtual-board.md ("Cortex-M33")
lists every rule with its source and marks the unconfirmed ones.

Like the Cortex-M7 model the scoreboard is reset at every block entry (dependencies across blocks
are not modelled).  There is no branch predictor (S3): a taken branch costs its refill through
``StaticTiming.taken_cycles``, the Cortex-M4 mechanism of the engine.  Wait states, the ICACHE and
data-address effects are dynamic and added by the engine.
"""

from __future__ import annotations

import re

from calibration.vboard.decode import (ALU, ALU_SHIFT, BRANCH, CBZ, DIV, FLAGS,
                                       FP_ALU, FP_DIV, FP_MAC, ISB, IT, LDM, LDRD, LOAD, MAC,
                                       MSR, MUL, PC, SIMD, STM, STORE, STRD, TB, VLDM, VLDR,
                                       VMOV_CORE, VMRS, VSTM, VSTR, Insn, _reg_numbers)
from calibration.vboard.timing import StaticTiming

#: Pipeline refill after a taken branch: a taken B<cc> costs 2 cycles in total, 1 to issue and
#: 1 to refill, because branches resolve in stage 2 and there is no predictor (S1 measured, S2).
REFILL_CYCLES = 1
#: A load whose result is the new PC (POP {..., pc}, LDR pc, LDM with pc) waits for the loaded
#: value like any load-to-use (latency 2, S1) before the refill: +1.  [U] (not measured; S1 notes
#: that POP {lr} + BX lr can be 1-2 cycles faster when other work fills the gap)
LOAD_PC_CYCLES = 1
#: SDIV/UDIV: the Cortex-M4 rule (2..12 cycles by operands, flat 7 as ICEmu, S17); the M33's own
#: divider timing is not published (S5 reuses the M4 range).  [U]
DIVIDE_CYCLES = 7
#: VDIV/VSQRT.F32: the M4 value 14 (S17); not measured on the M33.  [U]
FP_DIVIDE_CYCLES = 14
#: Unaligned LDR/STR(H): +1 per access as on the M4 (two bus transfers, S30 of the M4 notes); not
#: measured on the M33.  [U]
UNALIGNED_CYCLES = 1
#: TBB/TBH: the Cortex-M4's 3 cycles (load + add) before the refill (S1.4 suggests M4-like).  [U]
TABLE_BRANCH_CYCLES = 3
#: After a VFMA/VMLA family instruction no floating-point instruction (VLDR/VSTR included) can
#: issue in the next 2 cycles (S1).
FP_MAC_BLOCK_CYCLES = 2

#: Result latencies (cycles from issue until a dependent instruction can issue without a stall).
LATENCY_ALU = 1                 # S1
LATENCY_STAGE3 = 2              # MUL/MAC, DSP SIMD, shifted operand2, *xta*: S1, S2
LATENCY_LOAD = 2                # load-to-use, S1
LATENCY_VLDR32 = 1              # S1
LATENCY_FP = 2                  # VADD/VSUB/VMUL and other FP compute, S1
LATENCY_FP_MAC_TO_MAC = 3       # VFMA result into another VFMA's accumulator, S1 (REF 1.5)
LATENCY_FP_MAC = 4              # VFMA result into any other use, S1 (REF 1.5)

_XTA = frozenset({"SXTAB", "SXTAH", "UXTAB", "UXTAH", "SXTAB16", "UXTAB16"})
_SIMPLE_IMM_FREE = frozenset({"MOVW", "MOVT", "LSL", "LSR", "ASR", "ROR", "RRX"})
_FP_ANY = frozenset({FP_ALU, FP_MAC, FP_DIV, VLDR, VSTR, VLDM, VSTM, VMOV_CORE, VMRS})
_STORE_DATA = frozenset({STORE, STRD, STM, VSTR, VSTM})
_LOADS = frozenset({LOAD, LDRD, LDM, VLDR, VLDM})
_IMM = re.compile(r"#(-?(?:0x[0-9a-fA-F]+|\d+))")
_REG = re.compile(r"\b(r\d+|sb|sl|fp|ip|sp|lr|pc)\b")


def _shifted_constant(ins: Insn) -> bool:
    """A 32-bit data-processing instruction whose immediate is an 8-bit value rotated into place
    (S1's "shifted constant"), as opposed to a plain 8-bit, a 12-bit (ADDW/SUBW, MOVW) or a
    replicated-pattern constant (0x00XY00XY, 0xXY00XY00, 0xXYXYXYXY)."""
    if ins.cls != ALU or ins.size != 4 or ins.name in _SIMPLE_IMM_FREE:
        return False
    mn = ins.text.split(" ", 1)[0].lower()
    if mn.startswith(("addw", "subw", "movw", "movt")):
        return False
    m = _IMM.search(ins.text)
    if m is None:
        return False
    v = int(m.group(1), 0) & 0xFFFFFFFF
    if v < 256:
        return False
    b = v & 0xFF
    return v not in (b * 0x00010001, (b << 8) * 0x00010001, b * 0x01010101)


def _operand_regs(ins: Insn) -> list[int]:
    """Core registers named in the operand text, in order (capstone's register-access lists are
    unordered and miss some operands, e.g. SXTAB's Rm)."""
    text = ins.text.split(" ", 1)[1] if " " in ins.text else ""
    return [r for name in _REG.findall(text) for r in _reg_numbers(name)]


def _accumulators(ins: Insn) -> frozenset[int]:
    """The accumulate operands, read a stage late (S1): Ra of MLA/MLS/SMLAxy/SMLAD/SMMLA/
    USADA8, RdLo/RdHi of SMLAL-type 64-bit MACs, Rn of the ``*xta*`` extend-and-add forms."""
    ops = _operand_regs(ins)
    if ins.name in _XTA:
        return frozenset(ops[1:2])
    if ins.cls == MAC:
        if ins.name.startswith(("SMLAL", "UMLAL", "UMAAL", "SMLSL")):
            return frozenset(ops[:2])
        return frozenset(ops[3:4])
    return frozenset()


def _issue_cycles(ins: Insn) -> int:
    """Cycles the instruction occupies the issue stage (before any dependency stall)."""
    c = ins.cls
    if c in (LDRD, STRD):
        return 2                                      # S1
    if c in (LDM, STM, VLDM, VSTM):
        return max(ins.nregs, 1)                      # N (S1; VLDM/VPUSH words counted singly)
    if c in (VLDR, VSTR):
        return 2 if ins.double else 1                 # VLDR.64/VSTR.64 like LDRD (S1)
    if c == MUL and ins.size == 2 and ins.sets_flags:
        return 2                                      # MULS.N (S1, Arm KA001260)
    if c == ALU and ins.sets_flags and ins.name != "MOV" and _shifted_constant(ins):
        return 2                                      # flag-setting shifted constant (S1;
                                                      # MOVS.W excepted)
    if c == VMOV_CORE:
        # two S (or one D) -> two core registers: 2 cycles; the other forms 1 (S1)
        return 2 if sum(1 for r in ins.writes if r < 16) == 2 else 1
    if c == DIV:
        return DIVIDE_CYCLES
    if c == FP_DIV:
        return FP_DIVIDE_CYCLES
    if c == TB:
        return TABLE_BRANCH_CYCLES
    if c == MSR:
        return 2                                      # the M4's "1 or 2" (S17) [U]
    if c == ISB:
        return 1 + REFILL_CYCLES                      # flush and refill [U]
    if c == IT:
        return 0                                      # dual-issued with its predecessor (S1)
    return 1


def _latency(ins: Insn) -> int:
    """Result latency of the registers ``ins`` writes (other than a load's written-back base)."""
    c = ins.cls
    if c in (LOAD, LDRD, LDM):
        return LATENCY_LOAD
    if c in (VLDR, VLDM):
        return LATENCY_VLDR32 if not ins.double else LATENCY_LOAD   # VLDR.64 [U]
    if c in (MUL, MAC, SIMD, ALU_SHIFT) or ins.name in _XTA or _shifted_constant(ins):
        return LATENCY_STAGE3
    if c == FP_ALU:
        return LATENCY_FP
    if c == FP_MAC:
        return LATENCY_FP_MAC
    if c == VMOV_CORE:
        core_writes = sum(1 for r in ins.writes if r < 16)
        if core_writes == 2:
            return 1                                  # two S -> two GPR: latency 1 (S1)
        if core_writes == 1:
            return 2                                  # S -> GPR: latency 2 (S1)
        core_reads = sum(1 for r in ins.reads if r < 16)
        return 2 if core_reads == 2 else 1            # 2 GPR -> 2 S: 2; GPR -> S: 1 (S1)
    if c == DIV:
        return DIVIDE_CYCLES
    if c == FP_DIV:
        return FP_DIVIDE_CYCLES
    return LATENCY_ALU


def _flag_latency(ins: Insn) -> int:
    """When the flags ``ins`` sets are ready: a cycle later than usual after a shifted-register
    operand (S1); MULS.N and flag-setting shifted constants take 2 cycles to issue (S1)."""
    if ins.cls == ALU_SHIFT:
        return 2
    return 1


def _late_forward(producer_cls: str, producer_name: str, producer_shifted: bool,
                  consumer: Insn) -> bool:
    """Can the accumulate operand of ``consumer`` take this producer's result one cycle early?
    S1: a MAC accumulator chains from a preceding MAC, ``*xta*``, shifted-operand op or load;
    an ``*xta*`` accumulator chains like a MAC's, but not from a load."""
    stage3 = (producer_cls in (MUL, MAC, ALU_SHIFT) or producer_name in _XTA or producer_shifted)
    if consumer.cls == MAC:
        return stage3 or producer_cls in (LOAD, LDRD, LDM)
    return stage3                                     # *xta* consumer


def block_timing(insns: list[Insn]) -> StaticTiming:
    """Static schedule of one block; ``prefix[i]`` is instruction i's issue cycle."""
    ready: dict[int, int] = {}            # register -> cycle its value can be used
    producer: dict[int, tuple[str, str, bool, int]] = {}   # register -> (cls, name, shifted, lat)
    t = 0                                 # next free issue cycle
    fp_free = 0                           # first cycle an FP instruction may issue
    prefix: list[int] = []
    prev: Insn | None = None
    prev_slot1 = False                    # prev issued as the second of a pair
    taken = 0
    for ins in insns:
        is_branch16 = ins.cls == BRANCH and ins.name == "B" and ins.size == 2
        pairable = (prev is not None and prev.size == 2 and not prev_slot1
                    and prev.cls not in (IT, BRANCH, CBZ, TB))
        if is_branch16 and pairable:
            # a 16-bit B/B<cc> in slot 1 after a 16-bit instruction: free when not taken, even
            # after a flag-setting instruction; taken it costs 1 after a non-flag-setting one
            # and 2 after a flag-setting one (S1).  The pair ignores the flag dependency.
            issue = prefix[-1]
            prefix.append(issue)
            taken = REFILL_CYCLES if not prev.sets_flags else 1 + REFILL_CYCLES
            prev, prev_slot1 = ins, True
            continue
        acc = _accumulators(ins) if (ins.cls == MAC or ins.name in _XTA) else frozenset()
        store_data = (ins.reads - ins.addr_reads) if ins.cls in _STORE_DATA else frozenset()
        earliest = t
        for r in ins.reads:
            rt = ready.get(r)
            if rt is None:
                continue
            p = producer[r]
            if r in acc and _late_forward(p[0], p[1], p[2], ins):
                rt -= 1                                # accumulator read a stage late (S1)
            elif r in store_data and r not in acc:
                rt -= 1                                # store data read late (S1)
            elif ins.cls == FP_MAC and p[0] == FP_MAC and r in ins.writes:
                rt -= LATENCY_FP_MAC - LATENCY_FP_MAC_TO_MAC   # FMA -> FMA accumulator (S1)
            if rt > earliest:
                earliest = rt
        if ins.cls in _FP_ANY and fp_free > earliest:
            earliest = fp_free
        issue = earliest
        prefix.append(issue)
        t = issue + _issue_cycles(ins)
        if ins.cls == IT and prev is None:
            t = issue + 1                              # nothing to pair with at block entry [U]
        lat = _latency(ins)
        shifted = _shifted_constant(ins)
        wb = ins.mem.base if (ins.mem is not None and ins.mem.writeback) else None
        end = t - 1 if ins.cls in (LDM, LDRD, VLDM) else issue   # last transfer's cycle
        for w in ins.writes:
            if w == PC:
                continue
            if w == FLAGS:
                ready[w] = issue + _flag_latency(ins)
                producer[w] = (ins.cls, ins.name, shifted, 1)
            elif w == wb and ins.cls in _LOADS:
                ready[w] = issue + LATENCY_ALU         # written-back base: an ALU result
                producer[w] = (ALU, "ADD", False, 1)
            else:
                ready[w] = end + lat
                producer[w] = (ins.cls, ins.name, shifted, lat)
        if ins.cls == FP_MAC:
            fp_free = issue + 1 + FP_MAC_BLOCK_CYCLES
        prev, prev_slot1 = ins, (ins.cls == IT and issue == t)
        if ins.writes_pc:
            if ins.cls in _LOADS:
                taken = LOAD_PC_CYCLES + REFILL_CYCLES
            else:
                taken = REFILL_CYCLES
    total = t
    if prefix and prefix[-1] > total:
        total = prefix[-1]
    prefix.append(total)
    last = insns[-1] if insns else None
    if last is None or not last.writes_pc:
        taken = 0
    return StaticTiming(total, tuple(prefix), taken, 0)


__all__ = ["block_timing", "REFILL_CYCLES", "UNALIGNED_CYCLES", "DIVIDE_CYCLES"]
