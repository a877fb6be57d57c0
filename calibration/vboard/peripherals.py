"""Memory-mapped peripherals of the virtual board, reached through ``Uc.mmio_map`` callbacks.

No unicorn memory hooks are used anywhere (UC_HOOK_MEM_READ/WRITE made newlib's ``memcpy``
silently wrong, or raised spurious invalid-instruction errors, in unicorn 2.1.4; see
docs/virtual-board.md).  The :class:`Bus` maps 1 KiB pages to :class:`Device` objects and
splits sub-word accesses into (aligned word, byte-lane mask) pairs.

Devices talk to the machine through a small interface (:class:`Host`): the current cycle of the
accessing instruction, a stall, interrupt and timing-configuration notifications, host UART I/O.
Register layouts and reset values come from the board file (UART base/layout, GPIO ports, ACR
address and enable bits, peripheral bases) and the STM32 reference manuals (named per device).
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol

log = logging.getLogger(__name__)


class Host(Protocol):
    """What a device may ask of the machine."""

    def now(self) -> int: ...                       # cycle of the accessing instruction
    def stall(self, cycles: int) -> None: ...       # the accessing instruction waits
    def irq_changed(self) -> None: ...              # re-evaluate pending interrupts
    def timing_changed(self) -> None: ...           # flash/cache configuration changed
    def invalidate_flash_cache(self) -> None: ...   # the flash-side cache was invalidated
    def set_clock(self, hz: int) -> None: ...       # SYSCLK/HCLK changed
    def warn(self, message: str) -> None: ...
    def request_stop(self, reason: str, detail: str = "") -> None: ...


class Device:
    """A register block.  ``read``/``write`` see word-aligned addresses; ``mask`` selects the
    byte lanes of a narrow write (value already shifted into place)."""

    name = "device"

    def read(self, addr: int) -> int:
        return 0

    def write(self, addr: int, value: int, mask: int) -> None:
        pass


class RegisterFile(Device):
    """Plain read/write registers (reads return what was written, or the reset value)."""

    def __init__(self, name: str, resets: dict[int, int] | None = None) -> None:
        self.name = name
        self.regs: dict[int, int] = dict(resets or {})

    def read(self, addr: int) -> int:
        return self.regs.get(addr, 0)

    def write(self, addr: int, value: int, mask: int) -> None:
        self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)


class Bus:
    """Dispatch of MMIO accesses to devices by 1 KiB page; unknown pages go to a catch-all
    register file (logged once per page at INFO level)."""

    def __init__(self) -> None:
        self.pages: dict[int, Device] = {}
        self.fallback = RegisterFile("unmodelled")
        self._seen: set[int] = set()

    def attach(self, base: int, size: int, dev: Device) -> None:
        for page in range(base >> 10, (base + size + 1023) >> 10):
            self.pages[page] = dev

    def _dev(self, addr: int) -> Device:
        dev = self.pages.get(addr >> 10)
        if dev is None:
            if addr >> 10 not in self._seen:
                self._seen.add(addr >> 10)
                log.info("access to unmodelled peripheral address 0x%08X", addr)
            return self.fallback
        return dev

    def read(self, addr: int, size: int) -> int:
        word = self._dev(addr).read(addr & ~3)
        if size == 4 and not addr & 3:
            return word & 0xFFFFFFFF
        return (word >> (8 * (addr & 3))) & ((1 << (8 * size)) - 1)

    def write(self, addr: int, size: int, value: int) -> None:
        lane = 8 * (addr & 3)
        mask = (((1 << (8 * size)) - 1) << lane) & 0xFFFFFFFF
        self._dev(addr).write(addr & ~3, (value << lane) & mask, mask)


# -- clocks: RCC, PWR, FLASH -------------------------------------------------------------------

_HPRE = {8: 2, 9: 4, 10: 8, 11: 16, 12: 64, 13: 128, 14: 256, 15: 512}
_MSI_HZ = [100_000, 200_000, 400_000, 800_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000,
           16_000_000, 24_000_000, 32_000_000, 48_000_000]


class Rcc(Device):
    """Reset and clock control: oscillator/PLL ready flags follow their enable bits at once, the
    system-clock switch status follows the switch, and HCLK is recomputed from the PLL
    configuration (RM0351 for STM32L4, RM0386/RM0410 for STM32F4/F7)."""

    name = "RCC"

    def __init__(self, base: int, family: str, host: Host, hse_hz: int) -> None:
        self.base = base
        self.l4 = family == "l4"
        self.host = host
        self.hse_hz = hse_hz
        if self.l4:
            self.regs = {0x00: 0x63, 0x08: 0x0, 0x0C: 0x1000, 0x94: 0x0C000600}
        else:
            self.regs = {0x00: 0x83, 0x04: 0x24003010, 0x08: 0x0, 0x74: 0x0E000000}

    def read(self, addr: int) -> int:
        off = addr - self.base
        v = self.regs.get(off, 0)
        if off == 0x00:
            if self.l4:
                v |= ((v & 1) << 1) | ((v >> 8 & 1) << 10)
            else:
                v |= (v & 1) << 1
            for on in (16, 24, 26, 28):
                v |= ((v >> on) & 1) << (on + 1)
        elif off == 0x08:
            v = (v & ~0xC) | ((v & 3) << 2)
        elif off in ((0x90, 0x94, 0x98) if self.l4 else (0x70, 0x74)):
            v |= (v & 1) << 1                       # LSE/LSI/HSI48 ready
        return v

    def write(self, addr: int, value: int, mask: int) -> None:
        off = addr - self.base
        self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)
        if off in (0x00, 0x04, 0x08, 0x0C):
            self.host.set_clock(self.hclk_hz())

    def sysclk_hz(self) -> int:
        r = self.regs
        sw = r.get(0x08, 0) & 3
        if self.l4:
            cr = r.get(0x00, 0)
            msi = _MSI_HZ[min((cr >> 4) & 0xF, 11)] if cr & 8 else 4_000_000
            if sw == 0:
                return msi
            if sw == 1:
                return 16_000_000
            if sw == 2:
                return self.hse_hz
            p = r.get(0x0C, 0)
            src = {1: msi, 2: 16_000_000, 3: self.hse_hz}.get(p & 3, 0)
            m = ((p >> 4) & 7) + 1
            n = (p >> 8) & 0x7F
            div = 2 * (((p >> 25) & 3) + 1)
            return src * n // m // div
        if sw == 0:
            return 16_000_000
        if sw == 1:
            return self.hse_hz
        p = r.get(0x04, 0)
        src = self.hse_hz if p & (1 << 22) else 16_000_000
        m = max(p & 0x3F, 1)
        n = (p >> 6) & 0x1FF
        div = 2 * (((p >> 16) & 3) + 1) if sw == 2 else max((p >> 28) & 7, 2)
        return src * n // m // div

    def hclk_hz(self) -> int:
        hpre = (self.regs.get(0x08, 0) >> 4) & 0xF
        return self.sysclk_hz() // _HPRE.get(hpre, 1)


class Pwr(Device):
    """Power control: voltage-scaling and over-drive ready flags are always ready (STM32F4/F7
    PWR_CSR(1) VOSRDY/ODRDY/ODSWRDY follow ODEN/ODSWEN); STM32L4 PWR_SR2.VOSF reads 0."""

    name = "PWR"

    def __init__(self, base: int, family: str) -> None:
        self.base = base
        self.l4 = family == "l4"
        self.regs = {0x00: 0x200} if self.l4 else {0x00: 0xC000}

    def read(self, addr: int) -> int:
        off = addr - self.base
        v = self.regs.get(off, 0)
        if not self.l4 and off == 0x04:
            cr = self.regs.get(0x00, 0)
            v |= (1 << 14) | (cr & (3 << 16))
        return v

    def write(self, addr: int, value: int, mask: int) -> None:
        off = addr - self.base
        self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)

    @property
    def iosv(self) -> bool:
        return bool(self.regs.get(0x04, 0) & (1 << 9))


#: STM32U5 MSIS frequencies by MSISRANGE index 0..15 (REF 2.5, S6 ``system_stm32u5xx.c``).
_MSIS_HZ_U5 = [48_000_000, 24_000_000, 16_000_000, 12_000_000, 4_000_000, 2_000_000, 1_330_000,
               1_000_000, 3_072_000, 1_536_000, 1_024_000, 768_000, 400_000, 200_000, 133_000,
               100_000]
#: RCC_CR (STM32U5): (ON bit, RDY bit) pairs whose ready flag follows the enable at once:
#: MSIS, HSI16, HSE, PLL1 (REF 3.4, S6).
_U5_READY = ((0, 2), (8, 10), (16, 17), (24, 25))


class RccU5(Device):
    """STM32U5 reset and clock control (RM0456; register and bit positions from the CMSIS
    device header, S6 of shared/reference/cortex-m33-u575.md, REF 2.5 and 3.4).

    CR (0x00) ready flags follow their ON bits at once (MSISRDY b2, HSIRDY b10, HSERDY b17,
    PLL1RDY b25); CFGR1 (0x1C) SWS[3:2] follows SW[1:0]; HCLK = SYSCLK / HPRE (CFGR2 0x20
    HPRE[3:0]) with SYSCLK from SW: 00 MSIS, 01 HSI16, 10 HSE, 11 PLL1 R output =
    source / (PLL1M + 1) * (PLL1N + 1) / (PLL1R + 1), source from PLL1CFGR (0x28) PLL1SRC[1:0]
    (01 MSIS, 10 HSI16, 11 HSE) and M[11:8], N and R from PLL1DIVR (0x34) [8:0] and [30:24].
    MSIS runs at 4 MHz after reset; ICSCR1 (0x08) MSISRANGE[31:28] selects another range when
    MSIRGSEL (b23) is set (those two positions are not in the reference notes: [U]).  The
    fractional PLL1 divider (PLL1FRACR) is ignored."""

    name = "RCC"

    def __init__(self, base: int, host: Host, hse_hz: int) -> None:
        self.base = base
        self.host = host
        self.hse_hz = hse_hz
        self.regs = {0x00: 0x35}                    # MSISON | MSISRDY | MSIKON | MSIKRDY

    def read(self, addr: int) -> int:
        off = addr - self.base
        v = self.regs.get(off, 0)
        if off == 0x00:
            for on, rdy in _U5_READY:
                v = (v & ~(1 << rdy)) | ((v >> on & 1) << rdy)
        elif off == 0x1C:
            v = (v & ~0xC) | ((v & 3) << 2)
        return v

    def write(self, addr: int, value: int, mask: int) -> None:
        off = addr - self.base
        self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)
        if off in (0x00, 0x08, 0x1C, 0x20, 0x28, 0x34):
            self.host.set_clock(self.hclk_hz())

    def msis_hz(self) -> int:
        icscr1 = self.regs.get(0x08, 0)
        if icscr1 >> 23 & 1:
            return _MSIS_HZ_U5[icscr1 >> 28 & 0xF]
        return 4_000_000

    def sysclk_hz(self) -> int:
        r = self.regs
        sw = r.get(0x1C, 0) & 3
        if sw == 0:
            return self.msis_hz()
        if sw == 1:
            return 16_000_000
        if sw == 2:
            return self.hse_hz
        cfg = r.get(0x28, 0)
        src = {1: self.msis_hz(), 2: 16_000_000, 3: self.hse_hz}.get(cfg & 3, 0)
        m = (cfg >> 8 & 0xF) + 1
        div = r.get(0x34, 0)
        n = (div & 0x1FF) + 1
        rdiv = (div >> 24 & 0x7F) + 1
        return src * n // m // rdiv

    def hclk_hz(self) -> int:
        hpre = self.regs.get(0x20, 0) & 0xF
        return self.sysclk_hz() // _HPRE.get(hpre, 1)


class PwrU5(Device):
    """STM32U5 power control (REF 2.3 and 3.4, S6/S7): VOSR (0x0C) VOSRDY b15 is always set and
    BOOSTRDY b14 follows BOOSTEN b18; SVMSR (0x3C) reports ACTVOS[17:16] = VOSR.VOS, ACTVOSRDY
    b15 and REGS b1 = CR3 (0x08) REGSEL b1.  Everything else is a plain register."""

    name = "PWR"

    def __init__(self, base: int) -> None:
        self.base = base
        self.regs: dict[int, int] = {}

    def read(self, addr: int) -> int:
        off = addr - self.base
        v = self.regs.get(off, 0)
        if off == 0x0C:
            v = (v & ~(3 << 14)) | (1 << 15) | ((v >> 18 & 1) << 14)
        elif off == 0x3C:
            vos = self.regs.get(0x0C, 0) >> 16 & 3
            regs = self.regs.get(0x08, 0) >> 1 & 1
            v = (v & ~((3 << 16) | (1 << 15) | 2)) | (vos << 16) | (1 << 15) | (regs << 1)
        return v

    def write(self, addr: int, value: int, mask: int) -> None:
        off = addr - self.base
        self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)


class ICache(Device):
    """STM32U5 ICACHE registers (REF 2.4, S6/S7): CR (+0x00) EN b0, CACHEINV b1 (invalidate,
    reads back 0), WAYSEL b2 (1 = 2-way, the reset value; 0 = direct mapped, taken only while
    disabled); SR (+0x04) reads BUSYF b0 = 0 and BSYENDF b1 = 1 (invalidation is instantaneous);
    the hit/miss monitors HMONR/MMONR read 0 (not modelled).  Enabling, disabling or changing
    WAYSEL reconfigures the timing model (``host.timing_changed()``); disabling or CACHEINV
    empties the cache model (``host.invalidate_flash_cache()``)."""

    name = "ICACHE"

    def __init__(self, base: int, host: Host, reset_cr: int) -> None:
        self.base = base
        self.host = host
        self.regs: dict[int, int] = {0x00: reset_cr}

    @property
    def enabled(self) -> bool:
        return bool(self.regs[0x00] & 1)

    @property
    def ways_2(self) -> bool:
        return bool(self.regs[0x00] >> 2 & 1)

    def read(self, addr: int) -> int:
        off = addr - self.base
        if off == 0x04:
            return 0x2                                # BSYENDF, never busy
        if off in (0x10, 0x14):
            return 0
        return self.regs.get(off, 0)

    def write(self, addr: int, value: int, mask: int) -> None:
        off = addr - self.base
        if off != 0x00:
            self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)
            return
        old = self.regs[0x00]
        new = (old & ~mask) | (value & mask)
        if old & 1:
            new = (new & ~4) | (old & 4)              # WAYSEL is read-only while enabled
        invalidate = bool(new & 2) or (old & 1 and not new & 1)
        self.regs[0x00] = new & ~2
        if (old ^ new) & 5:
            self.host.timing_changed()
        if invalidate:
            self.host.invalidate_flash_cache()


class FlashInterface(Device):
    """FLASH_ACR (LATENCY and the ART enable bits named in the board file) drives the timing
    model; the other flash registers are plain (status reads 0: never busy)."""

    name = "FLASH"

    def __init__(self, acr_address: int, reset_acr: int, host: Host) -> None:
        self.acr_address = acr_address
        self.host = host
        self.regs = {acr_address: reset_acr}

    @property
    def acr(self) -> int:
        return self.regs[self.acr_address]

    def read(self, addr: int) -> int:
        return self.regs.get(addr, 0)

    def write(self, addr: int, value: int, mask: int) -> None:
        old = self.regs.get(addr, 0)
        self.regs[addr] = (old & ~mask) | (value & mask)
        if addr == self.acr_address and self.regs[addr] != old:
            self.host.timing_changed()


# -- GPIO ------------------------------------------------------------------------------------------

class Gpio(Device):
    """All GPIO ports of the family (MODER 0x00, IDR 0x10, ODR 0x14, BSRR 0x18, BRR 0x28).

    Output changes of the marker pin are reported to ``on_marker(level)`` when the pin is in
    output mode (MODER = 01), as an external monitor would see them.
    """

    name = "GPIO"

    def __init__(self, port_a_base: int, marker_port: str, marker_pin: int, on_marker,
                 host: Host) -> None:
        self.port_a = port_a_base
        self.regs: dict[int, int] = {}
        self.marker_index = ord(marker_port) - ord("A")
        self.marker_pin = marker_pin
        self.on_marker = on_marker
        self.host = host
        self._warned = False

    def _port(self, addr: int) -> tuple[int, int]:
        rel = addr - self.port_a
        return rel >> 10, rel & 0x3FF

    def read(self, addr: int) -> int:
        port, off = self._port(addr)
        if off == 0x10:                               # IDR: outputs read back
            return self.regs.get(self.port_a + (port << 10) + 0x14, 0)
        return self.regs.get(addr, 0)

    def write(self, addr: int, value: int, mask: int) -> None:
        port, off = self._port(addr)
        base = self.port_a + (port << 10)
        odr_addr = base + 0x14
        old = self.regs.get(odr_addr, 0)
        if off == 0x18:                               # BSRR: set wins over reset
            v = value & mask
            new = (old & ~(v >> 16) | (v & 0xFFFF)) & 0xFFFF
            self.regs[odr_addr] = new
        elif off == 0x28:                             # BRR (L4/F7)
            new = old & ~(value & mask & 0xFFFF)
            self.regs[odr_addr] = new
        else:
            self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)
            if off != 0x14:
                return
            new = self.regs[odr_addr] & 0xFFFF
        if port == self.marker_index and (old ^ new) >> self.marker_pin & 1:
            moder = self.regs.get(base, 0) >> (2 * self.marker_pin) & 3
            if moder != 1:
                if not self._warned:
                    self._warned = True
                    self.host.warn(f"marker pin P{chr(65 + port)}{self.marker_pin} toggled while "
                                   f"not in output mode (MODER={moder}); no edge recorded")
                return
            self.on_marker(bool(new >> self.marker_pin & 1))


# -- UART ------------------------------------------------------------------------------------------

class Uart(Device):
    """The console UART, register layout ``v1`` (STM32F4 USART) or ``v2`` (STM32L4/F7 USART,
    LPUART), per the board file.

    Transmit: a data-register write with UE and TE set sends the byte to the host; the
    transmitter stays busy for 10 bit times at the baud rate programmed in BRR, and a status
    read while it is busy stalls the reading instruction until it is free (so a TXE/TC poll
    loop costs the cycles it would on hardware without spinning the host).  Receive: host bytes
    wait in a queue; the firmware sees one in RDR when it polls the status register for the
    third time in a row without touching a data register (a receive-poll loop), and the read
    blocks until the host has sent a byte.  This makes the cycle count independent of when the
    host writes.  See docs/virtual-board.md ("UART").  Under the native engine
    :class:`~calibration.vboard.native.NativeUart` serves the status and data reads in C
    (``native/tmv_uart.c``) with this rule: a change here must be made there too.
    """

    name = "UART"
    POLLS_BEFORE_BLOCK = 3

    def __init__(self, base: int, layout: str, is_lpuart: bool, clock_ratio: float,
                 host: Host, rx_source, tx_sink) -> None:
        self.base = base
        self.v2 = layout == "v2"
        self.lpuart = is_lpuart
        self.clock_ratio = clock_ratio        # UART kernel clock / HCLK
        self.host = host
        self.rx_source = rx_source            # callable(block: bool) -> int | None
        self.tx_sink = tx_sink                # callable(int)
        self.regs: dict[int, int] = {}
        self.rdr: int | None = None
        self.tx_free_at = 0
        self.polls = 0
        self._warned_disabled = False
        if self.v2:
            self.o_cr1, self.o_brr, self.o_status, self.o_rdr, self.o_tdr = 0x00, 0x0C, 0x1C, 0x24, 0x28
            self.ue_bit = 0
        else:
            self.o_cr1, self.o_brr, self.o_status, self.o_rdr, self.o_tdr = 0x0C, 0x08, 0x00, 0x04, 0x04
            self.ue_bit = 13

    # configuration
    @property
    def cr1(self) -> int:
        return self.regs.get(self.o_cr1, 0)

    def _enabled(self, bit: int) -> bool:
        cr1 = self.cr1
        return bool(cr1 >> self.ue_bit & 1 and cr1 >> bit & 1)

    @property
    def tx_enabled(self) -> bool:
        return self._enabled(3)

    @property
    def rx_enabled(self) -> bool:
        return self._enabled(2)

    @property
    def byte_cycles(self) -> int:
        """CPU cycles per 10-bit frame: ``10 * BRR / (ratio * (256 if LPUART else 1))``."""
        brr = self.regs.get(self.o_brr, 0)
        if not brr:
            return 0
        return round(10 * brr / (self.clock_ratio * (256 if self.lpuart else 1)))

    def irq_level(self) -> bool:
        """The UART interrupt line: RXNE&RXNEIE | TXE&TXEIE | TC&TCIE (TX is never busy long
        enough to matter for the interrupt model)."""
        cr1 = self.cr1
        if not cr1 >> self.ue_bit & 1:
            return False
        return bool((self.rdr is not None and cr1 & 0x20) or cr1 & 0xC0)

    def wants_rx_interrupt(self) -> bool:
        cr1 = self.cr1
        return bool(cr1 >> self.ue_bit & 1 and cr1 & 0x20 and cr1 & 0x04)

    def deliver(self, block: bool) -> bool:
        """Move one host byte into RDR (waiting for one if ``block``); True if RDR is full."""
        if self.rdr is None and self.rx_enabled:
            b = self.rx_source(block)
            if b is not None:
                self.rdr = b
                self.host.irq_changed()
        return self.rdr is not None

    # registers
    def _status(self) -> int:
        if self.tx_free_at:
            now = self.host.now()
            if now < self.tx_free_at:
                self.host.stall(self.tx_free_at - now)
            self.tx_free_at = 0
        v = 0xC0                                      # TXE | TC
        if self.rdr is None and self.rx_enabled:
            self.polls += 1
            if self.polls >= self.POLLS_BEFORE_BLOCK:
                self.deliver(True)
        if self.rdr is not None:
            v |= 0x20                                 # RXNE
        if self.v2:
            cr1 = self.cr1
            v |= (cr1 >> 3 & 1) << 21 | (cr1 >> 2 & 1) << 22   # TEACK, REACK
        return v

    def read(self, addr: int) -> int:
        off = addr - self.base
        if off == self.o_status:
            return self._status()
        if off == self.o_rdr:
            self.polls = 0
            b = self.rdr
            if b is None:
                return 0
            self.rdr = None
            self.host.irq_changed()
            return b
        return self.regs.get(off, 0)

    def write(self, addr: int, value: int, mask: int) -> None:
        off = addr - self.base
        if off == self.o_tdr:
            self.polls = 0
            self._transmit(value & 0xFF)
            return
        if not self.v2 and off == self.o_status:
            return                                    # rc_w0 flags: nothing to clear here
        self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)
        if off == self.o_cr1:
            self.host.irq_changed()

    def _transmit(self, byte: int) -> None:
        if not self.tx_enabled:
            if not self._warned_disabled:
                self._warned_disabled = True
                self.host.warn("UART data register written while UE/TE are off: byte dropped "
                               "(as on hardware)")
            return
        cycles = self.byte_cycles
        if cycles:
            now = self.host.now()
            self.tx_free_at = max(now, self.tx_free_at) + cycles
        self.tx_sink(byte)


# -- Cortex-M system control space -----------------------------------------------------------------

SYSTICK_EXCEPTION = 15
PENDSV_EXCEPTION = 14
SVCALL_EXCEPTION = 11


class SysTick:
    """SysTick (ARMv7-M B3.3): a 24-bit down-counter on the core clock (CLKSOURCE=1) or on
    HCLK/8 (CLKSOURCE=0, the STM32 external reference).  The value is computed from the cycle
    count, so it costs nothing while running; expiries are scheduled as machine events."""

    def __init__(self, host) -> None:
        self.host = host
        self.ctrl = 0
        self.load = 0
        self.t_enable = 0          # cycle at which counting (re)started
        self.v0 = 0                # value at t_enable
        self.flag = False
        self.handled_until = 0     # expiries before this cycle were processed

    @property
    def enabled(self) -> bool:
        return bool(self.ctrl & 1)

    @property
    def div(self) -> int:
        return 1 if self.ctrl & 4 else 8

    def value(self, now: int) -> int:
        if not self.enabled:
            return self.v0
        k = (now - self.t_enable) // self.div
        if k <= self.v0:
            return self.v0 - k
        return self.load - ((k - self.v0 - 1) % (self.load + 1))

    def next_expiry(self, after: int) -> int | None:
        """First cycle >= ``after`` at which the counter reaches 0 from 1 (COUNTFLAG set)."""
        if not self.enabled or self.load == 0:
            return None
        period = self.load + 1
        k_after = max(0, -(-(after - self.t_enable) // self.div))
        first = self.v0 if self.v0 > 0 else period
        if k_after <= first:
            k = first
        else:
            k = first + -(-(k_after - first) // period) * period
        return self.t_enable + k * self.div

    def expire(self, now: int) -> bool:
        """Process expiries up to ``now``; True when at least one happened."""
        t = self.next_expiry(self.handled_until)
        if t is None or t > now:
            return False
        self.flag = True
        self.handled_until = t + 1
        while True:
            t2 = self.next_expiry(self.handled_until)
            if t2 is None or t2 > now:
                break
            self.handled_until = t2 + 1
        return True

    def restart(self, now: int, value: int) -> None:
        self.t_enable = now
        self.v0 = value
        self.handled_until = now + 1


class WatchedSet(set):
    """A set of exception or interrupt numbers that calls ``on_change()`` after every change
    (the native engine keeps flags of the NVIC's sets in C; see :meth:`SystemControl.watch`)."""

    __slots__ = ("on_change",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.on_change: Callable[[], None] = _nothing


def _changing(name: str):
    method = getattr(set, name)

    def changed(self, *args):
        out = method(self, *args)
        self.on_change()
        return out
    changed.__name__ = name
    return changed


for _name in ("add", "discard", "remove", "pop", "clear", "update", "difference_update",
              "intersection_update", "symmetric_difference_update", "__ior__", "__iand__",
              "__isub__", "__ixor__"):
    setattr(WatchedSet, _name, _changing(_name))


def _nothing() -> None:
    pass


class SystemControl(Device):
    """The system control space 0xE000_E000-0xE000_EFFF: SysTick, NVIC, SCB (CPUID, ICSR, VTOR,
    AIRCR, CCR, SHPR, CPACR, cache identification), CoreDebug DEMCR, FPU and the Cortex-M7
    cache-maintenance registers (ARMv7-M ARM B3.2-B3.4, Cortex-M7 TRM).  Under the native
    engine a write to ICPR while no interrupt is pending by software is served in C
    (``native/tmv_uart.c``)."""

    name = "SCS"

    def __init__(self, machine, cpuid: int, m7: bool, vtor: int) -> None:
        self.m = machine
        self.cpuid = cpuid
        self.m7 = m7
        self.systick = SysTick(machine)
        self.enabled_irqs: set[int] = WatchedSet()
        self.pending_irqs: set[int] = WatchedSet()
        self.pending_exc: set[int] = WatchedSet()
        self.priorities: dict[int, int] = {}
        self.vtor = vtor
        self.ccr = 0x200
        self.cpacr = 0
        self.demcr = 0
        self.csselr = 0
        self.regs: dict[int, int] = {0xE000EF34: 0xC0000000}

    def watch(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change()`` after every change of the enabled, pending-interrupt and
        pending-exception sets (and once now)."""
        for s in (self.enabled_irqs, self.pending_irqs, self.pending_exc):
            s.on_change = on_change
        on_change()

    @property
    def fpu_enabled(self) -> bool:
        return (self.cpacr >> 20) & 0xF == 0xF

    @property
    def trcena(self) -> bool:
        return bool(self.demcr >> 24 & 1)

    def read(self, addr: int) -> int:
        st = self.systick
        if addr == 0xE000E010:
            now = self.m.now()
            if st.expire(now):
                self.m.reschedule()
            v = st.ctrl | (0x10000 if st.flag else 0)
            st.flag = False
            return v
        if addr == 0xE000E014:
            return st.load
        if addr == 0xE000E018:
            return st.value(self.m.now())
        if addr == 0xE000E01C:
            return 0x40000000                       # CALIB: NOREF clear, SKEW set, TENMS 0
        if 0xE000E100 <= addr < 0xE000E120:
            return self._bits(self.enabled_irqs, addr - 0xE000E100)
        if 0xE000E180 <= addr < 0xE000E1A0:
            return self._bits(self.enabled_irqs, addr - 0xE000E180)
        if 0xE000E200 <= addr < 0xE000E220:
            # a firmware looking at the pending bits between the calls of a run (the ABORT
            # poll) sees a host byte that is already queued, without blocking for one
            self.m.uart.deliver(False)
            return self._bits(self.m.pending_irq_set(), addr - 0xE000E200)
        if 0xE000E280 <= addr < 0xE000E2A0:
            return self._bits(self.m.pending_irq_set(), addr - 0xE000E280)
        if 0xE000E300 <= addr < 0xE000E320:
            return self._bits({n - 16 for n in self.m.active_exceptions() if n >= 16},
                              addr - 0xE000E300)
        if 0xE000E400 <= addr < 0xE000E4F0:
            n = addr - 0xE000E400
            return sum(self.priorities.get(n + i, 0) << (8 * i) for i in range(4))
        if addr == 0xE000ED00:
            return self.cpuid
        if addr == 0xE000ED04:
            act = self.m.active_exceptions()
            v = act[-1] if act else 0
            if SYSTICK_EXCEPTION in self.pending_exc:
                v |= 1 << 26
            if PENDSV_EXCEPTION in self.pending_exc:
                v |= 1 << 28
            return v
        if addr == 0xE000ED08:
            return self.vtor
        if addr == 0xE000ED0C:
            return 0xFA050000 | self.regs.get(addr, 0) & 0x700
        if addr == 0xE000ED14:
            return self.ccr
        if addr == 0xE000ED78 and self.m7:
            return 0x09000003                       # CLIDR: L1 I+D
        if addr == 0xE000ED7C and self.m7:
            return 0x8303C003                       # CTR: 32-byte lines
        if addr == 0xE000ED80 and self.m7:
            return self.m.ccsidr(self.csselr & 1)
        if addr == 0xE000ED84:
            return self.csselr
        if addr == 0xE000ED88:
            return self.cpacr
        if addr == 0xE000EDFC:
            return self.demcr
        return self.regs.get(addr, 0)

    @staticmethod
    def _bits(numbers: set[int], off: int) -> int:
        lo = 32 * (off >> 2)
        return sum(1 << (n - lo) for n in numbers if lo <= n < lo + 32)

    def write(self, addr: int, value: int, mask: int) -> None:
        value &= mask
        st = self.systick
        if addr == 0xE000E010:
            now = self.m.now()
            was = st.enabled
            cur = st.value(now)
            st.ctrl = value & 7
            if st.enabled and not was:
                st.restart(now, cur)
            elif not st.enabled and was:
                st.v0 = cur
            self.m.reschedule()
            return
        if addr == 0xE000E014:
            st.load = value & 0xFFFFFF
            self.m.reschedule()
            return
        if addr == 0xE000E018:
            st.flag = False
            st.restart(self.m.now(), 0)
            self.m.reschedule()
            return
        if 0xE000E100 <= addr < 0xE000E120:
            self._set(self.enabled_irqs, addr - 0xE000E100, value, True)
            self.m.irq_changed()
            return
        if 0xE000E180 <= addr < 0xE000E1A0:
            self._set(self.enabled_irqs, addr - 0xE000E180, value, False)
            return
        if 0xE000E200 <= addr < 0xE000E220:
            self._set(self.pending_irqs, addr - 0xE000E200, value, True)
            self.m.irq_changed()
            return
        if 0xE000E280 <= addr < 0xE000E2A0:
            self._set(self.pending_irqs, addr - 0xE000E280, value, False)
            return
        if 0xE000E400 <= addr < 0xE000E4F0:
            n = addr - 0xE000E400
            for i in range(4):
                if mask >> (8 * i) & 0xFF:
                    self.priorities[n + i] = value >> (8 * i) & 0xFF
            return
        if addr == 0xE000EF00:                       # STIR
            self.pending_irqs.add(value & 0x1FF)
            self.m.irq_changed()
            return
        if addr == 0xE000ED04:
            if value & (1 << 26):
                self.pending_exc.add(SYSTICK_EXCEPTION)
            if value & (1 << 25):
                self.pending_exc.discard(SYSTICK_EXCEPTION)
            if value & (1 << 28):
                self.pending_exc.add(PENDSV_EXCEPTION)
            if value & (1 << 27):
                self.pending_exc.discard(PENDSV_EXCEPTION)
            self.m.irq_changed()
            return
        if addr == 0xE000ED08:
            self.vtor = value & 0xFFFFFF80
            return
        if addr == 0xE000ED0C:
            if value >> 16 == 0x05FA:
                self.regs[addr] = value & 0x700
                if value & 4:
                    self.m.request_stop("reset-request", "AIRCR.SYSRESETREQ written")
            return
        if addr == 0xE000ED14:
            self.ccr = value | (self.ccr & ~mask)
            self.m.timing_changed()
            return
        if addr == 0xE000ED84:
            self.csselr = value
            return
        if addr == 0xE000ED88:
            self.cpacr = value | (self.cpacr & ~mask)
            return
        if addr == 0xE000EDFC:
            self.demcr = value | (self.demcr & ~mask)
            self.m.dwt_state_changed()
            return
        if addr == 0xE000EF50 and self.m7:          # ICIALLU
            self.m.invalidate_icache()
            return
        self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | value

    @staticmethod
    def _set(target: set[int], off: int, value: int, add: bool) -> None:
        lo = 32 * (off >> 2)
        for i in range(32):
            if value >> i & 1:
                (target.add if add else target.discard)(lo + i)


class Dwt(Device):
    """DWT (0xE000_1000): CTRL (CYCCNTENA), CYCCNT (the model's cycle count, 32-bit, counting
    while CYCCNTENA and DEMCR.TRCENA are set), and on the Cortex-M7 the software lock
    (LAR = 0xC5ACCE55 unlocks; writes while locked are ignored, LSR reports the lock)."""

    name = "DWT"

    def __init__(self, machine, lockable: bool) -> None:
        self.m = machine
        self.ctrl = 0x40000000                      # NUMCOMP = 4
        self.locked = lockable
        self.lockable = lockable
        self.frozen = 0
        self.base = 0
        self.running = False
        self.regs: dict[int, int] = {}

    def cyccnt(self) -> int:
        if self.running:
            return (self.m.now() - self.base) & 0xFFFFFFFF
        return self.frozen

    def update(self, now: int, scs: SystemControl) -> None:
        run = bool(self.ctrl & 1) and scs.trcena
        if run and not self.running:
            self.base = now - self.frozen
        elif self.running and not run:
            self.frozen = (now - self.base) & 0xFFFFFFFF
        self.running = run

    def read(self, addr: int) -> int:
        off = addr - 0xE0001000
        if off == 0x000:
            return self.ctrl
        if off == 0x004:
            return self.cyccnt()
        if off == 0xFB4:
            return (3 if self.locked else 1) if self.lockable else 0
        return self.regs.get(off, 0)

    def write(self, addr: int, value: int, mask: int) -> None:
        off = addr - 0xE0001000
        value &= mask
        if off == 0xFB0:
            self.locked = self.lockable and value != 0xC5ACCE55
            return
        if self.locked:
            self.m.warn_once("dwt-locked", "DWT write ignored: the Cortex-M7 DWT is locked "
                             "(write 0xC5ACCE55 to DWT_LAR first)")
            return
        if off == 0x000:
            self.ctrl = (self.ctrl & 0xFFFF0000 & ~mask) | (value & 0x0000FFFF) | 0x40000000
            self.m.dwt_state_changed()
        elif off == 0x004:
            now = self.m.now()
            if self.running:
                self.base = now - value
            else:
                self.frozen = value
        else:
            self.regs[off] = value
