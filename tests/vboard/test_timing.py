"""Micro-benchmarks: cycle counts of instruction sequences follow the published timing tables.

Each sequence runs from SRAM (zero wait states) between two DWT_CYCCNT reads; the cost of the
measurement itself is subtracted.  Expected values and their sources are in
docs/virtual-board.md ("Micro-benchmarks").
"""

from __future__ import annotations

import pytest

from calibration.vboard.emulator import Machine
from tests.vboard.bench import TEMPLATE, measure
from tests.vboard.conftest import needs_toolchain

#: every test runs under both cycle engines (tests/vboard/conftest.py ``engine``)
pytestmark = [needs_toolchain, pytest.mark.usefixtures("engine")]

# (name, sequence, cycles on the Cortex-M4 per the TRM table and load/store rules)
M4_CASES = [
    ("alu chain", "\n".join(["  adds r2, r2, #1"] * 8), 8),                  # 8 x 1
    ("back-to-back loads", "  ldr r2, [r9]\n  ldr r3, [r9, #4]\n  ldr r4, [r9, #8]", 4),  # 2+1+1
    ("load feeding an address", "  ldr r2, [r9]\n  ldr r3, [r2]", 4),        # no pipelining
    ("ALU result as address", "  adds r2, r9, #4\n  ldr r3, [r2]", 4),        # 1 + 2 + 1 AGU
    ("store then load", "  str r2, [r9, #8]\n  ldr r3, [r9, #4]", 3),         # 1 + 2
    ("LDM 4 registers", "  ldm r9, {r2-r5}", 5),                             # 1+N
    ("STM 4 registers", "  stm r9, {r2-r5}", 5),                             # 1+N
    ("LDRD", "  ldrd r2, r3, [r9]", 3),                                      # 1+N, N=2
    ("branch taken", "  cmp r2, r2\n  beq 1f\n  nop\n1: nop", 5),             # 1 + (1+P) + 1
    ("branch not taken", "  cmp r2, #1\n  beq 1f\n  nop\n1: nop", 4),         # 1 + 1 + 1 + 1
    ("SMLAD loop x16", "  movs r2, #16\n1: ldr r3, [r9]\n  ldr r4, [r9, #4]\n"
     "  smlad r5, r3, r4, r5\n  subs r2, #1\n  bne 1b", 1 + 16 * 6 + 15 * 2),
    ("4 x SMLAD", "\n".join(["  smlad r5, r3, r4, r5"] * 4), 4),
    ("unaligned LDR", "  ldr r2, [r8]", 3),                                  # 2 + 1
    ("VMLA + VADD", "  vmla.f32 s0, s1, s2\n  vadd.f32 s3, s4, s5", 4),      # 3 + 1
    ("VDIV", "  vdiv.f32 s0, s1, s2", 14),
    ("SDIV (flat 7)", "  sdiv r2, r3, r9", 7),
]


@pytest.mark.parametrize("board", ["L4", "F4"])
@pytest.mark.parametrize("name,seq,expected", M4_CASES, ids=[c[0] for c in M4_CASES])
def test_cortex_m4_sequences(asm, board, name, seq, expected):
    assert measure(asm, seq, board) == expected


M7_CASES = [
    ("dependent ALU chain", "\n".join(["  adds r2, r2, #1"] * 8), 8),
    ("independent ALU pairs dual-issue", "\n".join(["  adds r2, r2, #1", "  adds r3, r3, #1"] * 4), 4),
    ("MAC chain on one accumulator", "\n".join(["  smlad r5, r3, r4, r5"] * 4), 4),
    ("two stores do not pair", "  str r2, [r9, #8]\n  str r3, [r9, #12]", 2),
    ("ALU + load pair", "  adds r2, r2, #1\n  ldr r3, [r9, #4]", 1),
    ("LDM 4 registers = ceil(N/2)", "  ldm r9, {r2-r5}", 2),
]


@pytest.mark.parametrize("name,seq,expected", M7_CASES, ids=[c[0] for c in M7_CASES])
def test_cortex_m7_sequences(asm, name, seq, expected):
    assert measure(asm, seq, "F7") == expected


# (name, sequence, cycles on the Cortex-M33 per the published measurements, S1 of
# shared/reference/cortex-m33-u575.md unless marked; docs/virtual-board.md "Micro-benchmarks")
M33_CASES = [
    ("alu chain", "\n".join(["  adds r2, r2, #1"] * 8), 8),                  # 8 x 1
    ("back-to-back loads", "  ldr r2, [r9]\n  ldr r3, [r9, #4]\n  ldr r4, [r9, #8]", 3),  # 1 each
    ("load feeding an address", "  ldr r2, [r9]\n  ldr r3, [r2]", 3),        # load-to-use 2
    ("load feeding an ALU op", "  ldr r2, [r9]\n  adds r3, r2, #1", 3),      # load-to-use 2
    ("load, independent op, use", "  ldr r2, [r9]\n  adds r4, #1\n  adds r3, r2, #1", 3),
    ("load feeding a store", "  ldr r2, [r9]\n  str r2, [r9, #8]", 2),      # LDR->STR 1
    ("load feeding a MAC accumulator", "  ldr r5, [r9]\n  smlad r5, r3, r4, r5", 2),
    ("load feeding a MAC operand", "  ldr r3, [r9]\n  smlad r5, r3, r4, r5", 3),
    ("ALU result as address", "  adds r2, r9, #4\n  ldr r3, [r2]", 2),        # no AGU stall
    ("LDM 4 registers", "  ldm r9, {r2-r5}", 4),                             # N
    ("STM 4 registers", "  stm r9, {r2-r5}", 4),                             # N
    ("PUSH/POP 3 registers", "  push {r2-r4}\n  pop {r2-r4}", 6),            # N + N
    ("LDRD", "  ldrd r2, r3, [r9]", 2),
    ("STRD", "  strd r2, r3, [r9, #8]", 2),
    ("taken branch after a flag-setting op", "  cmp r2, r2\n  beq 1f\n  nop\n1: nop", 4),  # 1+2+1
    ("not-taken branch after a flag-setting op", "  cmp r2, #1\n  beq 1f\n  nop\n1: nop",
     3),                                                                       # 1+0+1+1
    ("taken branch paired with a 16-bit op", "  cmp r2, r2\n  mov r3, r4\n  beq 1f\n  nop\n"
     "1: nop", 4),                                                             # 1+1+1+1
    ("taken branch after a 32-bit op", "  cmp r2, r2\n  add.w r3, r3, #1\n  beq 1f\n  nop\n"
     "1: nop", 5),                                                             # 1+1+2+1
    ("loop: subs; bne", "  movs r2, #8\n1: subs r2, #1\n  bne 1b", 1 + 8 + 7 * 2),
    ("loop: subs; ldm; bne", "  movs r2, #4\n  mov r6, r9\n1: subs r2, #1\n"
     "  ldmia r6!, {r3-r5, r7}\n  bne 1b", 2 + 4 * 5 + 3 * 1),                 # LDM 4 + bne 1
    ("IT is free", "  cmp r2, #0\n  it eq\n  moveq r3, #1", 2),
    ("MUL result used next", "  mul r2, r3, r4\n  adds r5, r2, #1", 3),      # latency 2
    ("MULS.N", "  muls r2, r3, r2", 2),
    ("4 x SMLAD on one accumulator", "\n".join(["  smlad r5, r3, r4, r5"] * 4), 4),
    ("4 x MLA on one accumulator", "\n".join(["  mla r5, r3, r4, r5"] * 4), 4),
    ("SIMD result used next", "  uadd8 r2, r3, r4\n  uadd8 r5, r2, r4", 3),  # latency 2
    ("shifted operand used next", "  add.w r2, r3, r4, ror #24\n  adds r5, r2, #1", 3),
    ("flag-setting shifted constant", "  eors r2, r3, #0x1fc0", 2),
    ("SXTAB accumulate chain", "  sxtab r2, r2, r3\n  sxtab r2, r2, r4", 2),
    ("VADD result used next", "  vadd.f32 s0, s1, s2\n  vadd.f32 s3, s0, s2", 3),
    ("independent VADDs", "  vadd.f32 s0, s1, s2\n  vadd.f32 s3, s4, s5", 2),
    ("VFMA chain x4", "\n".join(["  vfma.f32 s0, s1, s2"] * 4), 10),          # 1 per 3 cycles
    ("VFMA blocks a VLDR", "  vfma.f32 s0, s1, s2\n  vldr s3, [r9]", 4),    # 2 FP-free cycles
    ("VFMA then integer ops", "  vfma.f32 s0, s1, s2\n  adds r2, #1\n  adds r3, #1", 3),
    ("VLDR.32 used next", "  vldr s0, [r9]\n  vadd.f32 s1, s0, s0", 2),     # latency 1
    ("VDIV (M4 value)", "  vdiv.f32 s0, s1, s2", 14),                        # [U]
    ("SDIV (M4 rule, flat 7)", "  sdiv r2, r3, r9", 7),                       # [U]
    ("unaligned LDR (M4 rule)", "  ldr r2, [r8]", 2),                         # 1 + 1 [U]
]


@pytest.mark.parametrize("name,seq,expected", M33_CASES, ids=[c[0] for c in M33_CASES])
def test_cortex_m33_sequences(asm, name, seq, expected):
    assert measure(asm, seq, "U5") == expected


BODY = "\n".join(["  add.w r3, r3, #1"] * 16)          # 64 bytes: two ART lines or more
LOOP = "  movs r2, #{n}\n1:\n" + BODY + "\n  subs r2, #1\n  bne 1b"


def _loop(n: int) -> str:
    return LOOP.format(n=n)


def test_code_in_flash_costs_wait_states_until_cached(asm):
    """L4 at 80 MHz, 4 wait states, ART I-cache on, prefetch off (board file): the first pass
    through the loop misses, later passes hit and cost what they cost from SRAM."""
    sram1 = measure(asm, _loop(1), "L4", configured=True)
    sram9 = measure(asm, _loop(9), "L4", configured=True)
    flash1 = measure(asm, _loop(1), "L4", configured=True, in_flash=True)
    flash9 = measure(asm, _loop(9), "L4", configured=True, in_flash=True)
    assert sram1 == 1 + 16 + 1 + 1 and sram9 == 1 + 9 * 18 + 8 * 2
    assert flash1 > sram1                    # cold misses: 4 WS per 64-bit flash read
    assert flash9 - flash1 == sram9 - sram1  # warm passes run at zero wait states


def test_flash_without_art_costs_every_iteration(asm):
    """With the ART caches off (FLASH_ACR ICEN=DCEN=0, LATENCY=4) every pass re-reads flash."""
    setup = "  ldr r6, =0x40022000\n  movs r7, #4\n  str r7, [r6]\n  isb\n"
    extra1 = measure(asm, setup + _loop(1), "L4", in_flash=True) - measure(asm, setup + _loop(1), "L4")
    extra9 = measure(asm, setup + _loop(9), "L4", in_flash=True) - measure(asm, setup + _loop(9), "L4")
    assert extra9 - extra1 >= 8 * 8 * 4      # >= 8 reads of 64 bits x 4 WS per extra pass


FLASH_TABLE = "\n.text\n.align 5\ntable:\n" + "\n".join(f".word {i}" for i in range(64)) + "\n"
READ_TABLE = ("  ldr r6, =table\n  movs r2, #64\n1: ldr r3, [r6]\n  adds r6, #4\n  add r5, r5, r3\n"
              "  subs r2, #1\n  bne 1b\n")


def test_flash_data_reads_go_through_the_art_data_cache(asm):
    """L4: 64 words = 8 lines of 32 bytes; the first pass misses once per line (4 WS each),
    the second pass hits everywhere (the D-cache holds 8 lines)."""
    one = measure(asm, READ_TABLE, "L4", configured=True, data=FLASH_TABLE)
    two = measure(asm, READ_TABLE + READ_TABLE, "L4", configured=True, data=FLASH_TABLE)
    base = 2 + 1 + 64 * 6 + 63 * 2    # ldr=, movs, 64 x (2+1+1+1+1), taken branches
    assert one == base + 8 * 4
    assert two - one == base                          # second pass: all hits


def test_flash_data_reads_without_data_cache(asm):
    setup = "  ldr r6, =0x40022000\n  movs r7, #4\n  str r7, [r6]\n  isb\n"
    cold = measure(asm, setup + READ_TABLE, "L4", data=FLASH_TABLE)
    fast = measure(asm, READ_TABLE, "L4", data=FLASH_TABLE)   # reset state: 0 WS
    assert cold - fast >= 64 * 4


# -- STM32U5: the ICACHE on the Cortex-M33's C-AHB serves fetches and flash data reads ---------

ICACHE_CR = "  ldr r6, =0x40030400\n  movs r7, #{cr}\n  str r7, [r6]\n  isb\n"
FLASH_ACR_U5 = "  ldr r6, =0x40022000\n  movs r7, #{acr}\n  str r7, [r6]\n  isb\n"


def test_u5_code_in_flash_costs_wait_states_until_cached(asm):
    """U5 at 160 MHz, 4 wait states, ICACHE on (board file), prefetch off: the first pass
    through the loop misses, later passes cost what they cost from SRAM.  With prefetch on
    (the board file's setting) only the first line after a taken branch can stall, and the
    loop's target line is already cached: even the first pass costs what SRAM does."""
    no_prefetch = FLASH_ACR_U5.format(acr=4)
    sram1 = measure(asm, no_prefetch + _loop(1), "U5", configured=True)
    sram9 = measure(asm, no_prefetch + _loop(9), "U5", configured=True)
    flash1 = measure(asm, no_prefetch + _loop(1), "U5", configured=True, in_flash=True)
    flash9 = measure(asm, no_prefetch + _loop(9), "U5", configured=True, in_flash=True)
    # movs; per pass 16 x add.w + subs (bne 0 cycles not taken, 2 taken after the flag-setting
    # subs); the FLASH_ACR write: ldr=, movs, str, isb (2)
    assert sram1 == 5 + 1 + 17 and sram9 == 5 + 1 + 9 * 17 + 8 * 2
    assert flash1 > sram1                    # cold misses: 4 WS per 16-byte line
    assert flash9 - flash1 == sram9 - sram1  # warm passes run at zero wait states
    assert (measure(asm, _loop(9), "U5", configured=True, in_flash=True)
            == measure(asm, _loop(9), "U5", configured=True))


def test_u5_icache_off_costs_every_iteration(asm):
    """ICACHE_CR.EN = 0 and FLASH_ACR = LATENCY 4 without PRFTEN: every 128-bit flash read of
    every pass waits 4 cycles; with the ICACHE on again warm passes are free."""
    off = ICACHE_CR.format(cr=4) + FLASH_ACR_U5.format(acr=4)
    extra1 = (measure(asm, off + _loop(1), "U5", configured=True, in_flash=True)
              - measure(asm, off + _loop(1), "U5", configured=True))
    extra9 = (measure(asm, off + _loop(9), "U5", configured=True, in_flash=True)
              - measure(asm, off + _loop(9), "U5", configured=True))
    assert extra9 - extra1 >= 8 * 4 * 4      # >= 4 lines of 16 bytes x 4 WS per extra pass
    on = ICACHE_CR.format(cr=5) + FLASH_ACR_U5.format(acr=4)
    warm1 = measure(asm, on + _loop(1), "U5", configured=True, in_flash=True)
    warm9 = measure(asm, on + _loop(9), "U5", configured=True, in_flash=True)
    assert warm9 - warm1 == 8 * 17 + 8 * 2   # ICACHE back on: passes after the first hit


U5_READ_BASE = 2 + 64 * 4 + 63 * 2   # ldr=, movs; 64 x (ldr, adds, add, subs); bne 2 taken, 0


def test_u5_flash_data_reads_hit_the_icache(asm):
    """64 words = 16 lines of 16 bytes: the first pass misses once per line (4 WS each) in the
    ICACHE, the second pass hits everywhere (8 KiB hold them)."""
    one = measure(asm, READ_TABLE, "U5", configured=True, data=FLASH_TABLE)
    two = measure(asm, READ_TABLE + READ_TABLE, "U5", configured=True, data=FLASH_TABLE)
    assert one == U5_READ_BASE + 16 * 4
    assert two - one == U5_READ_BASE


def test_u5_flash_data_reads_without_the_icache(asm):
    """ICACHE off: each load waits LATENCY = 4 cycles.  The first one shares its block with the
    ``ldr r6, =table`` that sets its base register: untracked, charged as zero-wait
    (docs/virtual-board.md, "data addresses are known for ...")."""
    off = ICACHE_CR.format(cr=4)
    assert measure(asm, off + READ_TABLE, "U5", configured=True, data=FLASH_TABLE) \
        == 5 + U5_READ_BASE + 63 * 4         # + the ICACHE_CR write (ldr=, movs, str, isb 2)


def test_u5_code_and_data_share_the_icache(asm):
    """One cache for both: the table read by code in flash misses once per data line and once
    per code line; its statistics count both."""
    m = Machine("U5", asm(TEMPLATE.format(seq=READ_TABLE).replace(
        '.section .ramtext, "ax"', ".text") + FLASH_TABLE, "U5"), configured=True)
    r = m.run(1_000_000)
    assert r.exit == "bkpt"
    st = r.stats
    assert "icache_misses" in st and st["icache_misses"] >= 16 + 2
    assert "art_i_misses" not in st and "art_d_misses" not in st
