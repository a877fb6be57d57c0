"""The virtual board as a machine: reset, UART, halting, faults, system peripherals,
interrupts, GPIO marker windows and energy, determinism, library code correctness."""

from __future__ import annotations

import pytest

from calibration.vboard.emulator import Machine
from calibration.vboard.errors import ImageError
from tests.vboard.conftest import needs_toolchain

#: every test runs under both cycle engines (tests/vboard/conftest.py ``engine``)
pytestmark = [needs_toolchain, pytest.mark.usefixtures("engine")]

# L4 LPUART1 (v2 layout) helpers: r0 = base; print the zero-terminated string at r2
UART_L4 = """
  ldr r0, =0x40008000
  ldr r1, =0x2B672
  str r1, [r0, #0x0C]
  movs r1, #0x0D
  str r1, [r0]
"""
PUTS_L4 = """
puts:
  ldrb r3, [r2], #1
  cbz r3, 2f
1: ldr r4, [r0, #0x1C]
  tst r4, #0x80
  beq 1b
  strb r3, [r0, #0x28]
  b puts
2: bx lr
.ltorg
"""


def test_hello_over_uart_and_bkpt(asm):
    elf = asm(UART_L4 + "  adr r2, msg\n  bl puts\n  bkpt #3\n" + PUTS_L4
              + '.align 2\nmsg: .asciz "hello, board\\n"\n')
    r = Machine("L4", elf, configured=True).run(10_000_000)
    assert r.uart == b"hello, board\n"
    assert r.exit == "bkpt" and r.exit_code == 3
    # 13 bytes at 115200 baud (BRR programmed) take 13 x 10 bit times = 1.128 ms at 80 MHz
    assert r.cycles >= 12 * 6944


def test_f4_usart_v1_layout(asm):
    elf = asm("""
  ldr r0, =0x40004800
  ldr r1, =0x187
  str r1, [r0, #0x08]
  ldr r1, =0x200C
  str r1, [r0, #0x0C]
  movs r3, #'K'
1: ldr r4, [r0]
  tst r4, #0x80
  beq 1b
  strb r3, [r0, #4]
  bkpt #0
""", "F4")
    r = Machine("F4", elf).run(1_000_000)
    assert r.uart == b"K"


#: Echo each received byte + 1 until 'q'.  {wait} is how the loop waits for a byte (in r3);
#: ``uart_isr`` is a handler for tests that take the UART's interrupt.
ECHO = UART_L4 + """
{setup}
loop:
{wait}
  cmp r3, #'q'
  beq done
  add r3, r3, #1
  strb r3, [r0, #0x28]
  b loop
done: bkpt #0
.thumb_func
uart_isr:
  ldr r7, [r0, #0x24]
  movs r6, #1
  bx lr
"""

#: a status poll loop
POLL_WAIT = """
1: ldr r4, [r0, #0x1C]
  tst r4, #0x20
  beq 1b
  ldr r3, [r0, #0x24]
"""


def test_uart_receive_blocks_until_input_and_stops_without_it(asm):
    elf = asm(ECHO.format(setup="", wait=POLL_WAIT))
    m = Machine("L4", elf, configured=True)
    m.uart_send(b"abc")
    r = m.run(10_000_000)
    assert r.uart == b"bcd"
    assert r.exit == "uart-rx-eof"
    # the same input gives the same cycle count however the host times it
    m2 = Machine("L4", elf, configured=True)
    m2.uart_send(b"abcq")
    r2 = m2.run(10_000_000)
    assert r2.exit == "bkpt"
    m3 = Machine("L4", elf, configured=True)
    m3.uart_send(b"ab")
    m3.uart_send(b"cq")
    assert m3.run(10_000_000).cycles == r2.cycles


def test_semihosting_output_and_exit(asm):
    elf = asm("""
  movs r0, #4
  adr r1, msg
  bkpt #0xAB
  movs r0, #0x18
  ldr r1, =0x20026
  bkpt #0xAB
.align 2
msg: .asciz "semihosted\\n"
""")
    r = Machine("L4", elf).run(100_000)
    assert r.semihosting == b"semihosted\n"
    assert r.exit == "semihosting-exit" and r.exit_code == 0


def test_bad_address_is_a_clear_fault_with_pc(asm):
    elf = asm("  nop\n  ldr r0, =0x60000000\n  nop\n  ldr r1, [r0]\n  bkpt #0\n")
    m = Machine("L4", elf)
    r = m.run(100_000)
    assert r.exit == "fault"
    assert "0x60000000" in r.detail and "unmapped" in r.detail
    # nop (2) + mov.w (4, what gas makes of ldr r0, =0x60000000) + nop (2): ldr r1, [r0]
    assert m.fault is not None and m.fault.pc == 0x08000008 + 8


def test_invalid_instruction_fault(asm):
    elf = asm("  nop\n  udf #7\n")
    r = Machine("L4", elf).run(100_000)
    assert r.exit == "fault" and "invalid instruction" in r.detail
    assert "0x0800000A" in r.detail


def test_write_to_flash_faults(asm):
    elf = asm("  ldr r0, =0x08000400\n  str r0, [r0]\n  bkpt #0\n")
    r = Machine("L4", elf).run(100_000)
    assert r.exit == "fault" and "flash" in r.detail


def test_fpu_needs_cpacr(asm):
    elf = asm("  vadd.f32 s0, s1, s2\n  bkpt #0\n")
    r = Machine("L4", elf).run(100_000)
    assert r.exit == "fault" and "CPACR" in r.detail
    assert Machine("L4", elf, configured=True).run(100_000).exit == "bkpt"


def test_not_an_image(tmp_path):
    p = tmp_path / "x.elf"
    p.write_bytes(b"not an elf")
    with pytest.raises(ImageError, match="not an ELF"):
        Machine("L4", p)


DWT = """
  ldr r10, =0xE0001000
  ldr r1, =0xE000EDFC
  mov r2, #(1 << 24)
  str r2, [r1]
  movs r2, #1
  str r2, [r10]
"""


def test_cyccnt_counts_only_when_enabled(asm):
    elf = asm("""
  ldr r10, =0xE0001000
  ldr r5, [r10, #4]        @ DWT not enabled: 0
  movs r2, #1
  str r2, [r10]            @ CYCCNTENA but no TRCENA: still frozen
  ldr r6, [r10, #4]
  ldr r1, =0xE000EDFC
  mov r2, #(1 << 24)
  str r2, [r1]
  nop
  nop
  ldr r7, [r10, #4]
  bkpt #0
""")
    m = Machine("L4", elf)
    m.run(100_000)
    from unicorn.arm_const import UC_ARM_REG_R5, UC_ARM_REG_R6, UC_ARM_REG_R7
    assert m.uc.reg_read(UC_ARM_REG_R5) == 0 and m.uc.reg_read(UC_ARM_REG_R6) == 0
    assert 0 < m.uc.reg_read(UC_ARM_REG_R7) < 10


def test_m7_dwt_is_locked_until_lar_written(asm):
    body = DWT + "  nop\n  nop\n  ldr r5, [r10, #4]\n  bkpt #0\n"
    from unicorn.arm_const import UC_ARM_REG_R5
    m = Machine("F7", asm(body, "F7"))
    r = m.run(100_000)
    assert m.uc.reg_read(UC_ARM_REG_R5) == 0 and any("DWT" in w for w in r.warnings)
    m = Machine("F7", asm("  ldr r0, =0xE0001FB0\n  ldr r1, =0xC5ACCE55\n  str r1, [r0]\n"
                          + body, "F7"))
    m.run(100_000)
    assert m.uc.reg_read(UC_ARM_REG_R5) > 0


def test_systick_interrupt_wakes_wfi(asm):
    elf = asm("""
  ldr r0, =0xE000E010
  ldr r1, =999
  str r1, [r0, #4]          @ LOAD: 1000 cycles
  movs r1, #0
  str r1, [r0, #8]          @ VAL
  movs r1, #7               @ ENABLE | TICKINT | CLKSOURCE
  str r1, [r0]
  movs r5, #0
1: wfi
  cmp r5, #3
  blt 1b
  bkpt #0
.thumb_func
systick:
  adds r5, r5, #1
  bx lr
""", vectors={15: "systick"})
    r = Machine("L4", elf).run(1_000_000)
    assert r.exit == "bkpt"
    assert 3000 <= r.cycles <= 3200            # three 1000-cycle periods, spent in WFI


def test_wfi_without_wakeup_source_stops(asm):
    r = Machine("L4", asm("  wfi\n  bkpt #0\n")).run(100_000)
    assert r.exit == "wfi-deadlock"


#: A UART's receive interrupt echoes two host bytes: {base} of the UART, {brr}, the NVIC's
#: ISER word {iser} and {bit} of the UART's IRQ in it (the handler is the vector of that IRQ).
UART_IRQ_ECHO = """
  ldr r0, ={base}
  ldr r1, ={brr}
  str r1, [r0, #0x0C]       @ BRR
  movs r1, #0x2D            @ UE | RE | TE | RXNEIE
  str r1, [r0]
  ldr r1, ={iser}
  mov r2, #(1 << {bit})
  str r2, [r1]
  movs r5, #0
1: wfi
  cmp r5, #2
  blt 1b
  bkpt #0
.thumb_func
uart_isr:
  ldr r3, [r0, #0x24]
  strb r3, [r0, #0x28]
  adds r5, r5, #1
  bx lr
"""


def _uart_irq_echo(asm, board: str, base: int, brr: int, irq: int):
    elf = asm(UART_IRQ_ECHO.format(base=hex(base), brr=hex(brr),
                                   iser=hex(0xE000E100 + 4 * (irq // 32)), bit=irq % 32),
              board, vectors={16 + irq: "uart_isr"})
    m = Machine(board, elf, configured=True)
    m.uart_send(b"xy")
    return m.run(10_000_000)


def test_uart_rx_interrupt(asm):
    """LPUART1 of the L4 (IRQ 70)."""
    r = _uart_irq_echo(asm, "L4", 0x40008000, 0x2B672, 70)
    assert r.exit == "bkpt" and r.uart == b"xy"


MARKER_L4 = """
  ldr r0, =0x48001400       @ GPIOF
  ldr r1, [r0]
  bic r1, r1, #(3 << 26)
  orr r1, r1, #(1 << 26)    @ PF13 output
  str r1, [r0]
  mov r2, #(1 << 13)
  mov r3, #(1 << 29)
  str r2, [r0, #0x18]       @ BSRR set
  movs r4, #100
1: subs r4, #1
  bne 1b
  str r3, [r0, #0x18]       @ BSRR reset
  bkpt #0
"""


def test_gpio_marker_window_and_energy(asm):
    m = Machine("L4", asm(MARKER_L4))        # reset state: MSI 4 MHz, 0 wait states
    r = m.run(100_000)
    assert len(r.gpio_windows) == 1
    w = r.gpio_windows[0]
    assert w.cycles == 1 + 1 + 100 * 2 + 99 * 2        # str (set), movs, loop, taken branches
    assert w.clock_hz == 4_000_000
    # E = V * I(f) * t with I scaled by f / 80 MHz: 3.3 V * 9 mA * cycles / 80 MHz
    assert w.energy_uj == pytest.approx(3.3 * 9.0 * w.cycles / 80e6 * 1e3)
    d = r.as_dict()
    assert d["gpio_windows"][0]["energy_uj"] == pytest.approx(w.energy_uj)


MEMCPY_C = r"""
#include <string.h>
#include <stdint.h>
void reset(void);
__attribute__((section(".vectors"))) const void *vt[2] = {(void *)0x20010000, (void *)reset};
static uint8_t src[600], dst[600], ref[600];
const uint8_t flash_src[600] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
void reset(void) {
  int bad = 0;
  for (int i = 0; i < 600; i++) src[i] = (uint8_t)(i * 7 + 3);
  for (int from_flash = 0; from_flash < 2; from_flash++)
  for (int so = 0; so < 4; so++) for (int dof = 0; dof < 4; dof++) for (int n = 0; n < 70; n++) {
    const uint8_t *s = from_flash ? flash_src : src;
    memset(dst, 0xAA, sizeof dst);
    for (int i = 0; i < 600; i++) ref[i] = 0xAA;
    memcpy(dst + dof, s + so, n);
    memset(dst + dof + n, n & 0xFF, 5);
    for (int i = 0; i < n; i++) ref[dof + i] = s[so + i];
    for (int i = 0; i < 5; i++) ref[dof + n + i] = n & 0xFF;
    for (int i = 0; i < 600; i++) if (dst[i] != ref[i]) { bad++; break; }
  }
  __asm volatile("mov r0, %0\n bkpt #0" :: "r"(bad));
  for (;;) {}
}
"""


@pytest.mark.parametrize("board", ["L4", "F7"])
def test_memcpy_memset_correct_with_the_cycle_model(cc, board):
    """newlib's memcpy (IT blocks, conditional ldrb/strb) gave wrong results in unicorn 2.1.4
    once memory hooks were installed; the machine installs none, so all 2240 copies match."""
    from unicorn.arm_const import UC_ARM_REG_R0
    elf = cc(MEMCPY_C, board)
    runs = []
    for _ in range(2):
        m = Machine(board, elf, configured=True)
        r = m.run(200_000_000)
        assert r.exit == "bkpt", r.detail
        assert m.uc.reg_read(UC_ARM_REG_R0) == 0
        runs.append((r.cycles, r.instructions, r.stats["unaligned_accesses"]))
    assert runs[0] == runs[1]                    # deterministic
    assert runs[0][2] > 0                        # unaligned copies were charged


def test_no_memory_hooks_are_installed(asm):
    """Guard: peripherals are mmio_map regions; only block, interrupt and invalid-access hooks
    exist (the latter fire only on faults)."""
    from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
    m = Machine("L4", asm("  bkpt #0\n"))
    kinds = [k for k, *_ in getattr(m.uc, "_ctypes_cbs", {}).values()] if hasattr(
        m.uc, "_ctypes_cbs") else []
    for h in getattr(m.uc, "_callbacks", {}).values():
        kinds.append(getattr(h, "htype", None))
    assert all(k not in (UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE) for k in kinds)
    import inspect
    import calibration.vboard.emulator as emu
    import calibration.vboard.engine as engine
    for module in (emu, engine):
        src = inspect.getsource(module)
        assert "UC_HOOK_MEM_READ" not in src and "UC_HOOK_MEM_WRITE" not in src


DOUBLE_C = r"""
#include <stdint.h>
void reset(void);
__attribute__((section(".vectors"))) const void *vt[2] = {(void *)0x20010000, (void *)reset};
volatile double out[6];
void reset(void) {
  volatile double a = 1.5, b = -2.25;   /* locals: no .data initialisation without startup */
  *(volatile uint32_t *)0xE000ED88 |= 0xF << 20;
  __asm volatile("dsb\n isb");
  out[0] = a + b; out[1] = a * b; out[2] = a / b; out[3] = (double)(float)a - b;
  out[4] = a < b ? 1.0 : 2.0; out[5] = (double)(int)(b * 10.0);
  __asm volatile("bkpt #0");
  for (;;) {}
}
"""


def test_m7_double_precision_is_emulated(cc):
    elf = cc(DOUBLE_C, "F7", opt="-O1")
    m = Machine("F7", elf)
    r = m.run(1_000_000)
    assert r.exit == "bkpt", r.detail
    import struct
    sym = m.image.symbols["out"]
    out = struct.unpack("<6d", bytes(m.uc.mem_read(sym, 48)))
    assert out == (1.5 - 2.25, 1.5 * -2.25, 1.5 / -2.25, 1.5 + 2.25, 2.0, -22.0)


# -- STM32U5 / Cortex-M33 ------------------------------------------------------------------------

# ST's path to 160 MHz (shared/reference/cortex-m33-u575.md 2.5): PWR clock, range 1 + booster,
# PLL1 = MSIS 4 MHz / 1 * 80 / 2, FLASH_ACR 4 WS + PRFTEN, BOOSTRDY, SW = PLL1; r0 = RCC
CLOCK_U5 = """
  ldr r0, =0x46020C00
  ldr r1, [r0, #0x94]
  orr r1, r1, #4             @ AHB3ENR.PWREN
  str r1, [r0, #0x94]
  ldr r2, =0x46020800
  ldr r1, =0x00070000        @ VOS = 11, BOOSTEN
  str r1, [r2, #0x0C]
1: ldr r1, [r2, #0x0C]
  tst r1, #(1 << 15)         @ VOSRDY
  beq 1b
1: ldr r1, [r2, #0x3C]
  tst r1, #(1 << 15)         @ SVMSR.ACTVOSRDY
  beq 1b
  ldr r1, =0x00040001        @ PLL1CFGR: PLL1SRC = MSIS, M = 1, PLL1REN
  str r1, [r0, #0x28]
  ldr r1, =0x0101024F        @ PLL1DIVR: N = 80, P = Q = R = 2
  str r1, [r0, #0x34]
  ldr r1, [r0]
  orr r1, r1, #(1 << 24)     @ PLL1ON
  str r1, [r0]
1: ldr r1, [r0]
  tst r1, #(1 << 25)         @ PLL1RDY
  beq 1b
  ldr r3, =0x40022000
  ldr r1, =0x104             @ LATENCY = 4, PRFTEN
  str r1, [r3]
1: ldr r1, [r3]
  and r1, r1, #0xF
  cmp r1, #4
  bne 1b
1: ldr r1, [r2, #0x0C]
  tst r1, #(1 << 14)         @ BOOSTRDY
  beq 1b
  ldr r1, [r0, #0x1C]
  orr r1, r1, #3             @ SW = PLL1
  str r1, [r0, #0x1C]
1: ldr r1, [r0, #0x1C]
  and r1, r1, #0xC
  cmp r1, #0xC
  bne 1b
  ldr r3, =0x40030400
  movs r1, #5                @ ICACHE_CR: WAYSEL (2-way), EN
  str r1, [r3]
1: ldr r1, [r3, #4]
  tst r1, #2                 @ ICACHE_SR.BSYENDF
  beq 1b
"""


def test_u5_clock_switch_to_160_mhz(asm):
    """From the reset state (MSIS 4 MHz, 0 WS, ICACHE off) the firmware's register sequence
    gives HCLK = 160 MHz computed from PLL1CFGR/PLL1DIVR, without a wait-state warning, and the
    ICACHE on."""
    m = Machine("U5", asm(CLOCK_U5 + "  bkpt #0\n", "U5"))
    assert m.hclk_hz == 4_000_000 and m.ws == 0 and m._data_cache is None
    r = m.run(1_000_000)
    assert r.exit == "bkpt", r.detail
    assert m.hclk_hz == r.clock_hz == 160_000_000
    assert m.ws == 4 and m.fetch_prefetch and m._data_cache is m._caches["icache"]
    assert not r.warnings, r.warnings
    assert [hz for _, hz in m.clock_changes] == [4_000_000, 160_000_000]


def test_u5_switch_before_the_wait_states_warns(asm):
    """SW = PLL1 at 160 MHz while FLASH_ACR still says 0 WS: warned (hardware would misread)."""
    body = CLOCK_U5.replace("ldr r1, =0x104", "ldr r1, =0x100").replace("cmp r1, #4", "cmp r1, #0")
    r = Machine("U5", asm(body + "  bkpt #0\n", "U5")).run(1_000_000)
    assert r.exit == "bkpt" and any("LATENCY=0" in w for w in r.warnings)


def test_u5_one_way_icache(asm):
    """WAYSEL = 0 (written while disabled, as ST's Nucleo examples do) makes the ICACHE direct
    mapped: 512 sets of one 16-byte line."""
    m = Machine("U5", asm(CLOCK_U5.replace("movs r1, #5 ", "movs r1, #1 ") + "  bkpt #0\n",
                          "U5"))
    r = m.run(1_000_000)
    assert r.exit == "bkpt"
    cache = m._caches["icache"]
    assert (cache.ways, cache.sets) == (1, 512) and m._data_cache is cache


SYSTICK_U5 = """
  ldr r0, =0xE000E010
  ldr r1, =999
  str r1, [r0, #4]
  movs r1, #0
  str r1, [r0, #8]
  movs r1, #7
  str r1, [r0]
  movs r5, #0
1: wfi
  cmp r5, #3
  blt 1b
  movs r1, #0
  str r1, [r0]
  svc #1
  cmp r6, #1
  bne 2f
  bkpt #0
2: bkpt #1
.thumb_func
systick:
  adds r5, r5, #1
  bx lr
.thumb_func
svc_handler:
  push {r4, lr}
  movs r6, #1
  pop {r4, pc}
"""


def test_m33_exception_return(asm):
    """unicorn's Cortex-M33 raises an interrupt (intno 8) on every branch to EXC_RETURN
    (reference 5.2); the machine unstacks the frame for BX LR (SysTick) and POP {pc} (SVC)."""
    r = Machine("U5", asm(SYSTICK_U5, "U5", vectors={11: "svc_handler", 15: "systick"})).run(
        1_000_000)
    assert r.exit == "bkpt" and r.exit_code == 0, r.detail
    assert 3000 <= r.cycles <= 3200


@pytest.mark.parametrize("branch", ["  bx r0\n", "  push {r0}\n  pop {pc}\n"])
def test_m33_exc_return_in_thread_mode_is_a_fault(asm, branch):
    """The same branch in Thread mode (no exception active) stops with a fault at once: the
    run cannot loop on unicorn's repeated prefetch abort."""
    r = Machine("U5", asm("  ldr r0, =0xFFFFFFF9\n" + branch, "U5")).run(1_000_000)
    assert r.exit == "fault" and "exception return outside a handler" in r.detail
    assert r.cycles < 20


def test_u5_usart1_and_its_interrupt(asm):
    """USART1 ("v2" layout at 0x4001_3800): receive interrupt IRQ 61 echoes host bytes."""
    r = _uart_irq_echo(asm, "U5", 0x40013800, 1389, 61)       # BRR: 160 MHz / 115200
    assert r.exit == "bkpt" and r.uart == b"xy"


def test_m33_dwt_has_no_lock_and_cpuid(asm):
    """Armv8-M's DWT has no LAR: CYCCNT counts without an unlock write; CPUID names a
    Cortex-M33 (part number 0xD21)."""
    body = DWT + "  nop\n  nop\n  ldr r5, [r10, #4]\n  ldr r1, =0xE000ED00\n  ldr r6, [r1]\n" \
        "  bkpt #0\n"
    from unicorn.arm_const import UC_ARM_REG_R5, UC_ARM_REG_R6
    m = Machine("U5", asm(body, "U5"))
    r = m.run(100_000)
    assert m.uc.reg_read(UC_ARM_REG_R5) > 0 and not r.warnings
    assert m.uc.reg_read(UC_ARM_REG_R6) >> 4 & 0xFFF == 0xD21


def test_m33_double_precision_is_a_fault(asm):
    """The U575's FPU is single precision: VADD.F64 stops the run (as on silicon)."""
    r = Machine("U5", asm("""
  ldr r1, =0xE000ED88
  ldr r2, [r1]
  orr r2, r2, #(0xF << 20)
  str r2, [r1]
  b 1f                       @ a new block: translated after the CPACR write
1: .fpu fpv5-d16
  vadd.f64 d0, d1, d2
  bkpt #0
""", "U5")).run(100_000)
    assert r.exit == "fault" and "Cortex-M33" in r.detail
