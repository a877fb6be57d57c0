"""Micro-benchmarks: cycle counts of instruction sequences follow the published timing tables.

Each sequence runs from SRAM (zero wait states) between two DWT_CYCCNT reads; the cost of the
measurement itself is subtracted.  Expected values and their sources are in
docs/virtual-board.md ("Micro-benchmarks").
"""

from __future__ import annotations

import pytest

from tests.vboard.bench import measure
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
