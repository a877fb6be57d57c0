"""Helpers to measure instruction sequences with DWT_CYCCNT on the virtual board."""

from __future__ import annotations

from calibration.vboard.emulator import Machine

#: Prologue: FPU on (CPACR), DWT unlocked (M7) and counting, r10 = DWT base, r9 = SRAM buffer
#: at 0x20001000 filled with a pointer to itself at +0 (for dependent loads), r8 = 0x20001001.
PROLOGUE = """
  ldr r1, =0xE000ED88
  ldr r2, [r1]
  orr r2, r2, #(0xF << 20)
  str r2, [r1]
  ldr r1, =0xE000EDFC
  mov r2, #(1 << 24)
  str r2, [r1]
  ldr r10, =0xE0001000
  ldr r2, =0xC5ACCE55
  str r2, [r10, #0xFB0]
  movs r2, #1
  str r2, [r10]
  ldr r9, =0x20001000
  str r9, [r9]
  add r8, r9, #1
  movs r2, #0
  movs r3, #0
  movs r4, #0
  movs r5, #0
  dsb
  isb
  ldr r1, =measured
  bx r1
.ltorg
.section .ramtext, "ax"
.thumb_func
measured:
"""

TEMPLATE = PROLOGUE + """
  ldr r0, [r10, #4]
  nop
{seq}
  nop
  ldr r1, [r10, #4]
  subs r0, r1, r0
  bkpt #0
"""


def measure(asm, seq: str, board: str = "L4", configured: bool = False, in_flash: bool = False,
            data: str = "") -> int:
    """Cycles of ``seq`` as the firmware would measure them with DWT_CYCCNT (the cost of the
    measurement code itself, from the empty sequence, is subtracted)."""
    def run(s: str) -> int:
        src = TEMPLATE.format(seq=s)
        if in_flash:
            src = src.replace('.section .ramtext, "ax"', ".text")
        m = Machine(board, asm(src + data, board), configured=configured)
        r = m.run(10_000_000)
        assert r.exit == "bkpt", (r.exit, r.detail)
        from unicorn.arm_const import UC_ARM_REG_R0
        return m.uc.reg_read(UC_ARM_REG_R0)
    return run(seq) - run("")
