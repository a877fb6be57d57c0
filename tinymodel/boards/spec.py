"""Frozen records that describe a board: core, clock tree, memories, flash, UART, power.

A :class:`Board` is built only by :mod:`tinymodel.boards.schema` from a validated data file, so
every record here can assume its fields are consistent (sizes positive, regions disjoint, the
clock tree adds up).  Derived quantities are properties with their formula in the docstring.

Units are in the names: ``_hz``, ``_bytes``, ``_ms``, ``_mw``, ``_uj``, ``_ma``, ``_v``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinymodel.errors import BoardError

#: Memory kinds a region can have.  ``sram`` and ``dtcm`` count as general data RAM
#: (:attr:`Board.ram_bytes`); ``ccm`` is CPU-only data RAM (no DMA, not executable, F4);
#: ``itcm`` is instruction-tightly-coupled RAM (M7); ``backup`` is the battery-backed SRAM.
MEMORY_KINDS: tuple[str, ...] = ("backup", "ccm", "dtcm", "flash", "itcm", "sram")

#: Kinds counted by :attr:`Board.ram_bytes`.
DATA_RAM_KINDS: tuple[str, ...] = ("sram", "dtcm")

#: Cores the cost model and the virtual board know.
CORES: tuple[str, ...] = ("cortex-m4", "cortex-m7", "cortex-m33")

#: Floating-point units by name (GCC ``-mfpu`` spelling).  ``fpv5-d16`` has double precision.
FPUS: tuple[str, ...] = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")


@dataclass(frozen=True)
class IsaSpec:
    """Instruction-set features of the core as configured on this MCU."""

    dsp: bool            # ARMv7E-M DSP/SIMD instructions (SMLAD, QADD8, ...)
    fpu: str             # one of FPUS
    dual_issue: bool     # the core can issue two instructions per cycle (Cortex-M7; the M33
                         # pairs two 16-bit instructions in some cases)

    @property
    def double_precision_fpu(self) -> bool:
        """True when the FPU executes double-precision arithmetic in hardware."""
        return self.fpu == "fpv5-d16"


@dataclass(frozen=True)
class ClockSpec:
    """The clock tree exactly as the firmware configures it.

    ``sysclk_hz = oscillator_hz / pll_m * pll_n / pll_div`` where ``pll_div`` is the PLL output
    that feeds SYSCLK (``pll_output``: ``"P"`` on STM32F4/F7, ``"R"`` on STM32L4);
    ``hclk_hz = sysclk_hz / ahb_div``; ``apbN_hz = hclk_hz / apbN_div``.  The loader checks all
    of these.
    """

    oscillator: str          # "hse", "hse-bypass", "hsi", "msi"
    oscillator_hz: int
    pll_m: int
    pll_n: int
    pll_div: int
    pll_output: str          # "P" or "R"
    sysclk_hz: int
    ahb_div: int
    apb1_div: int
    apb2_div: int
    hclk_hz: int
    apb1_hz: int
    apb2_hz: int
    voltage_scale: str       # e.g. "range1", "scale1-overdrive"
    core_voltage_v: float | None = None


@dataclass(frozen=True)
class MemoryRegion:
    """One contiguous memory region in the 32-bit address map.

    ``cacheable`` means accesses can hit a cache in front of the memory (the ART accelerator on
    flash, or the Cortex-M7 L1 caches).  ``zero_wait`` means a hit-free access costs no wait
    states.  ``alias_of`` names the region this one is a second address window onto (the same
    bytes); aliases are excluded from :attr:`Board.flash_bytes` and :attr:`Board.ram_bytes`.
    """

    name: str
    kind: str
    address: int
    size_bytes: int
    executable: bool
    cacheable: bool
    zero_wait: bool
    alias_of: str | None = None

    @property
    def end(self) -> int:
        """First address past the region: ``address + size_bytes``."""
        return self.address + self.size_bytes

    def contains(self, address: int) -> bool:
        """True when ``address`` lies in ``[address, end)``."""
        return self.address <= address < self.end


@dataclass(frozen=True)
class FlashSpec:
    """Embedded flash timing: wait states at the configured clock and the table behind them.

    ``ws_max_hz[n]`` is the highest HCLK at which ``n`` wait states are enough (for the supply
    and voltage range in ``ws_condition``); a flash read costs ``wait_states + 1`` CPU cycles
    when nothing in front of the flash hides it.
    """

    wait_states: int
    ws_max_hz: tuple[int, ...]
    ws_condition: str
    read_width_bits: int
    acr_address: int         # FLASH_ACR (LATENCY field and accelerator enable bits)

    @property
    def access_cycles(self) -> int:
        """CPU cycles per uncached flash read: ``wait_states + 1``."""
        return self.wait_states + 1

    def required_wait_states(self, hclk_hz: int) -> int:
        """The fewest wait states the table allows at ``hclk_hz``: min n with hclk <= ws_max_hz[n].

        Raises :class:`BoardError` when ``hclk_hz`` is above the last entry of the table.
        """
        for n, max_hz in enumerate(self.ws_max_hz):
            if hclk_hz <= max_hz:
                return n
        raise BoardError(f"HCLK {hclk_hz} Hz is above the flash wait-state table "
                         f"(max {self.ws_max_hz[-1]} Hz at {len(self.ws_max_hz) - 1} WS)")


@dataclass(frozen=True)
class AcceleratorSpec:
    """The cache in front of the flash: the ST ART accelerator (prefetch and small instruction
    and data line caches) or the STM32U5's ICACHE.

    ``path`` says which bus it serves: ``"icode_dcode"`` (STM32L4/F4: every flash fetch),
    ``"itcm"`` (STM32F7: only flash read through the ITCM alias; the AXI window at 0x0800_0000
    goes through the core's L1 caches instead) or ``"cbus"`` (STM32U5: one cache for the
    instruction fetches *and* the data reads of the code region, on the Cortex-M33's C-AHB).
    A cache with 0 lines is absent.  ``icache_ways`` 0 means fully associative (the ART's line
    buffers).  ``control_address`` is the register holding the cache enable bits when it is not
    FLASH_ACR (the U5's ICACHE_CR: ``en``); ``prefetch`` is FLASH_ACR's PRFTEN either way, and the
    ``prften`` entry of ``enable_bits`` always names that FLASH_ACR bit
    (``calibration.firmware.accelerator_bits`` sorts the bits by register).
    """

    name: str
    path: str
    prefetch: bool
    icache_lines: int
    icache_line_bytes: int
    dcache_lines: int
    dcache_line_bytes: int
    enable_bits: tuple[tuple[str, int], ...]     # bit name -> bit position
    icache_ways: int = 0
    control_address: int | None = None

    @property
    def icache_bytes(self) -> int:
        """Instruction-cache capacity: ``icache_lines * icache_line_bytes``."""
        return self.icache_lines * self.icache_line_bytes

    @property
    def dcache_bytes(self) -> int:
        """Data-cache capacity: ``dcache_lines * dcache_line_bytes``."""
        return self.dcache_lines * self.dcache_line_bytes


@dataclass(frozen=True)
class CpuCacheSpec:
    """Cortex-M7 L1 caches (set-associative, LRU-ish), as the firmware enables them."""

    icache_bytes: int
    icache_ways: int
    dcache_bytes: int
    dcache_ways: int
    line_bytes: int
    enabled: bool

    @property
    def icache_sets(self) -> int:
        """``icache_bytes / (icache_ways * line_bytes)``."""
        return self.icache_bytes // (self.icache_ways * self.line_bytes)

    @property
    def dcache_sets(self) -> int:
        """``dcache_bytes / (dcache_ways * line_bytes)``."""
        return self.dcache_bytes // (self.dcache_ways * self.line_bytes)


@dataclass(frozen=True)
class RccBit:
    """A clock-enable (or control) bit: the register's name and address and the bit number."""

    register: str
    address: int
    bit: int

    @property
    def mask(self) -> int:
        """``1 << bit``."""
        return 1 << self.bit


@dataclass(frozen=True)
class GpioPortSpec:
    """A GPIO port the firmware uses: its base address and RCC clock-enable bit.

    ``vddio2`` marks ports powered from the separate VDDIO2 rail (STM32L4 port G), which the
    firmware must validate (PWR_CR2.IOSV) before the pins work.
    """

    port: str
    base: int
    enable: RccBit
    vddio2: bool = False


@dataclass(frozen=True)
class Pin:
    """A pin such as ``PG7``: port letter and pin number (0..15)."""

    port: str
    number: int

    @property
    def name(self) -> str:
        """``"P" + port + number``, e.g. ``"PG7"``."""
        return f"P{self.port}{self.number}"


@dataclass(frozen=True)
class UartSpec:
    """The UART wired to the ST-LINK virtual COM port (the host's only channel to the firmware).

    ``layout`` is the register map: ``"v1"`` (STM32F4 USART: SR/DR/BRR/CR1 at 0x00/0x04/0x08/0x0C)
    or ``"v2"`` (STM32L4/F7 USART and LPUART: CR1 0x00, BRR 0x0C, ISR 0x1C, RDR 0x24, TDR 0x28).
    """

    peripheral: str
    base: int
    layout: str
    is_lpuart: bool
    tx: Pin
    rx: Pin
    af: int
    kernel_clock: str        # "pclk1", "pclk2", "sysclk", "hsi16"
    kernel_clock_hz: int
    baud: int
    enable: RccBit

    @property
    def brr(self) -> int:
        """Baud-rate register value, oversampling by 16: ``round(f_ck / baud)``;
        LPUART: ``round(256 * f_ck / baud)``."""
        scale = 256 if self.is_lpuart else 1
        return (2 * scale * self.kernel_clock_hz + self.baud) // (2 * self.baud)


@dataclass(frozen=True)
class VddIo2Spec:
    """How the firmware validates the VDDIO2 supply (STM32L4): enable the PWR clock, set IOSV."""

    pwr_enable: RccBit
    iosv: RccBit


@dataclass(frozen=True)
class MarkerSpec:
    """The GPIO pin the firmware toggles around timed regions, for an external energy monitor."""

    pin: Pin
    active_high: bool
    header: str              # where to clip the probe, e.g. "Arduino D7 (CN7)"


@dataclass(frozen=True)
class PowerSpec:
    """Run-mode power model: constant current at the configured clock (paper §4.2: energy is
    linear in latency on one MCU).

    ``run_current_ma`` is the MCU's typical run current from its datasheet; ``confirmed`` is
    False when that value was not read in the datasheet table itself (see ``note``).
    """

    supply_v: float
    run_current_ma: float
    datasheet: str
    table: str
    confirmed: bool
    note: str = ""

    @property
    def run_power_mw(self) -> float:
        """``run_current_ma * supply_v`` (mA x V = mW)."""
        return self.run_current_ma * self.supply_v


@dataclass(frozen=True)
class Board:
    """One board, as validated from its data file; get one with :func:`tinymodel.boards.load_board`.

    ``unconfirmed`` lists the dotted keys whose values were not read in a primary source
    (each data file marks them); ``sources`` maps citation tags to what they cite.
    """

    id: str
    name: str
    mcu: str
    family: str
    core: str
    isa: IsaSpec
    clock: ClockSpec
    memory: tuple[MemoryRegion, ...]
    flash: FlashSpec
    accelerator: AcceleratorSpec
    cpu_cache: CpuCacheSpec | None
    uart: UartSpec
    gpio: tuple[GpioPortSpec, ...]
    vddio2: VddIo2Spec | None
    marker: MarkerSpec
    peripherals: tuple[tuple[str, int], ...]
    power: PowerSpec
    sources: tuple[tuple[str, str], ...]
    unconfirmed: tuple[str, ...]
    path: Path | None = field(default=None, compare=False)
    pyocd_target: str = ""       # pyOCD's target name (the CMSIS-Pack part), "" if none

    # -- clock and memory ------------------------------------------------------------------------

    @property
    def clock_hz(self) -> int:
        """The CPU clock (HCLK) in Hz; DWT cycle counts tick at this rate."""
        return self.clock.hclk_hz

    @property
    def flash_bytes(self) -> int:
        """Total embedded flash: the sum of ``flash`` regions, aliases excluded."""
        return sum(r.size_bytes for r in self.memory if r.kind == "flash" and r.alias_of is None)

    @property
    def ram_bytes(self) -> int:
        """General data RAM: the sum of ``sram`` and ``dtcm`` regions, aliases excluded.

        Not included: CCM (CPU-only, F4), ITCM RAM (instructions, F7), backup SRAM.
        """
        return sum(r.size_bytes for r in self.memory
                   if r.kind in DATA_RAM_KINDS and r.alias_of is None)

    @property
    def image_ram_regions(self) -> tuple[MemoryRegion, ...]:
        """The data RAM a deployed image is linked into, in address order: the largest run of
        address-adjacent ``sram``/``dtcm`` regions (aliases excluded; the lowest run on a tie).
        The firmware's linker script puts ``.data``, ``.bss``, the stack and the tensor arena
        in this one region (:func:`tinymodel.footprint.memory_layout`); data RAM outside it is
        not used (the L4's SRAM2, mapped at 0x1000_0000 apart from SRAM1)."""
        regions = sorted((r for r in self.memory
                          if r.kind in DATA_RAM_KINDS and r.alias_of is None),
                         key=lambda r: r.address)
        best: list[MemoryRegion] = []
        run: list[MemoryRegion] = []
        for r in regions:
            run = run + [r] if run and run[-1].end == r.address else [r]
            if sum(x.size_bytes for x in run) > sum(x.size_bytes for x in best):
                best = run
        return tuple(best)

    @property
    def max_contiguous_ram_bytes(self) -> int:
        """Bytes of :attr:`image_ram_regions` (one arena's limit, and the RAM a deployed image
        may use)."""
        return sum(r.size_bytes for r in self.image_ram_regions)

    @property
    def unused_ram_regions(self) -> tuple[MemoryRegion, ...]:
        """Data RAM (counted in :attr:`ram_bytes`) outside :attr:`image_ram_regions`: memory a
        deployed image does not use."""
        used = self.image_ram_regions
        return tuple(r for r in self.memory
                     if r.kind in DATA_RAM_KINDS and r.alias_of is None and r not in used)

    @property
    def image_ram_text(self) -> str:
        """Which RAM a deployed image uses, and when :attr:`ram_bytes` counts more, what is left
        unused and why, in words: ``"sram1, 256 of the board's 320 KiB of RAM; sram2 (64 KiB at
        0x1000_0000) is not adjacent to it, so the firmware does not use it"``."""
        names = " + ".join(r.name for r in self.image_ram_regions)
        unused = self.unused_ram_regions
        if not unused:
            return f"{names}, all of the board's RAM"
        what = ", ".join(f"{r.name} ({r.size_bytes // 1024:,} KiB at 0x{r.address >> 16:04X}_"
                         f"{r.address & 0xFFFF:04X})" for r in unused)
        return (f"{names}, {self.max_contiguous_ram_bytes // 1024:,} of the board's "
                f"{self.ram_bytes // 1024:,} KiB of RAM; {what} "
                f"{'is' if len(unused) == 1 else 'are'} not adjacent to it, so the firmware does "
                f"not use {'it' if len(unused) == 1 else 'them'}")

    def region(self, name: str) -> MemoryRegion:
        """The memory region called ``name``; :class:`BoardError` listing the names if none is."""
        for r in self.memory:
            if r.name == name:
                return r
        raise BoardError(f"board {self.id}: no memory region {name!r}; "
                         f"regions: {', '.join(r.name for r in self.memory)}")

    def regions(self, kind: str) -> tuple[MemoryRegion, ...]:
        """All regions of one kind (one of MEMORY_KINDS), in file order."""
        if kind not in MEMORY_KINDS:
            raise BoardError(f"unknown memory kind {kind!r}; allowed: {', '.join(MEMORY_KINDS)}")
        return tuple(r for r in self.memory if r.kind == kind)

    def region_at(self, address: int) -> MemoryRegion | None:
        """The region containing ``address``, or None when it is unmapped here."""
        for r in self.memory:
            if r.contains(address):
                return r
        return None

    def gpio_port(self, port: str) -> GpioPortSpec:
        """The GPIO port with letter ``port`` (e.g. ``"G"``)."""
        for g in self.gpio:
            if g.port == port:
                return g
        raise BoardError(f"board {self.id}: GPIO port {port!r} not described; "
                         f"ports: {', '.join(g.port for g in self.gpio)}")

    def peripheral(self, name: str) -> int:
        """Base address of a peripheral named in the file's ``[peripherals]`` table."""
        for key, address in self.peripherals:
            if key == name:
                return address
        raise BoardError(f"board {self.id}: no peripheral {name!r}; "
                         f"peripherals: {', '.join(k for k, _ in self.peripherals)}")

    # -- time and energy ---------------------------------------------------------------------------

    def cycles_to_ms(self, cycles: Any) -> Any:
        """``cycles / clock_hz * 1000``.  Works on numbers and numpy arrays alike."""
        return cycles * 1000.0 / self.clock_hz

    @property
    def run_power_mw(self) -> float:
        """Run-mode power: ``run_current_ma * supply_v`` (see :class:`PowerSpec`)."""
        return self.power.run_power_mw

    def energy_uj(self, cycles: Any) -> Any:
        """``run_power_mw * cycles_to_ms(cycles)`` (mW x ms = uJ).  Numbers or numpy arrays."""
        return self.run_power_mw * self.cycles_to_ms(cycles)

    # -- reporting ---------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: headline figures first, then every section of the file."""
        c, f, a, u, p = self.clock, self.flash, self.accelerator, self.uart, self.power
        return {
            "id": self.id,
            "name": self.name,
            "mcu": self.mcu,
            "family": self.family,
            "core": self.core,
            "clock_hz": self.clock_hz,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "max_contiguous_ram_bytes": self.max_contiguous_ram_bytes,
            "image_ram_regions": [r.name for r in self.image_ram_regions],
            "image_ram_text": self.image_ram_text,
            "flash_wait_states": f.wait_states,
            "run_power_mw": round(self.run_power_mw, 6),
            "run_power_confirmed": p.confirmed,
            "isa": {"dsp": self.isa.dsp, "fpu": self.isa.fpu, "dual_issue": self.isa.dual_issue},
            "clock": {
                "oscillator": c.oscillator, "oscillator_hz": c.oscillator_hz,
                "pll_m": c.pll_m, "pll_n": c.pll_n, "pll_div": c.pll_div,
                "pll_output": c.pll_output, "sysclk_hz": c.sysclk_hz, "hclk_hz": c.hclk_hz,
                "apb1_hz": c.apb1_hz, "apb2_hz": c.apb2_hz, "voltage_scale": c.voltage_scale,
                "core_voltage_v": c.core_voltage_v,
            },
            "memory": [
                {"name": r.name, "kind": r.kind, "address": r.address, "size_bytes": r.size_bytes,
                 "executable": r.executable, "cacheable": r.cacheable, "zero_wait": r.zero_wait,
                 "alias_of": r.alias_of}
                for r in self.memory
            ],
            "flash": {
                "wait_states": f.wait_states, "access_cycles": f.access_cycles,
                "ws_max_hz": list(f.ws_max_hz), "ws_condition": f.ws_condition,
                "read_width_bits": f.read_width_bits, "acr_address": f.acr_address,
            },
            "accelerator": {
                "name": a.name, "path": a.path, "prefetch": a.prefetch,
                "icache_lines": a.icache_lines, "icache_line_bytes": a.icache_line_bytes,
                "dcache_lines": a.dcache_lines, "dcache_line_bytes": a.dcache_line_bytes,
                "enable_bits": dict(a.enable_bits),
            },
            "cpu_cache": None if self.cpu_cache is None else {
                "icache_bytes": self.cpu_cache.icache_bytes,
                "icache_ways": self.cpu_cache.icache_ways,
                "dcache_bytes": self.cpu_cache.dcache_bytes,
                "dcache_ways": self.cpu_cache.dcache_ways,
                "line_bytes": self.cpu_cache.line_bytes, "enabled": self.cpu_cache.enabled,
            },
            "uart": {
                "peripheral": u.peripheral, "base": u.base, "layout": u.layout,
                "is_lpuart": u.is_lpuart, "tx": u.tx.name, "rx": u.rx.name, "af": u.af,
                "kernel_clock": u.kernel_clock, "kernel_clock_hz": u.kernel_clock_hz,
                "baud": u.baud, "brr": u.brr,
                "enable": {"register": u.enable.register, "address": u.enable.address,
                           "bit": u.enable.bit},
            },
            "gpio": {g.port: {"base": g.base, "enable_register": g.enable.register,
                              "enable_address": g.enable.address, "enable_bit": g.enable.bit,
                              "vddio2": g.vddio2} for g in self.gpio},
            "vddio2": None if self.vddio2 is None else {
                "pwr_enable": {"register": self.vddio2.pwr_enable.register,
                               "address": self.vddio2.pwr_enable.address,
                               "bit": self.vddio2.pwr_enable.bit},
                "iosv": {"register": self.vddio2.iosv.register,
                         "address": self.vddio2.iosv.address, "bit": self.vddio2.iosv.bit},
            },
            "marker": {"pin": self.marker.pin.name, "active_high": self.marker.active_high,
                       "header": self.marker.header},
            "peripherals": dict(self.peripherals),
            "power": {
                "supply_v": p.supply_v, "run_current_ma": p.run_current_ma,
                "run_power_mw": round(p.run_power_mw, 6), "datasheet": p.datasheet,
                "table": p.table, "confirmed": p.confirmed, "note": p.note,
            },
            "unconfirmed": list(self.unconfirmed),
            "sources": dict(self.sources),
            "path": None if self.path is None else str(self.path),
        }
