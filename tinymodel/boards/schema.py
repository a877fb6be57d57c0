"""The board file format (schema 1) and its validation.

A board file is TOML.  Every table may carry two provenance keys besides its data:

* ``sources = ["S17", ...]`` - citation tags, each defined in the file's ``[sources]`` table;
* ``unconfirmed = ["key", ...]`` - keys of this table whose values were not read in a primary
  source.  They are collected into :attr:`Board.unconfirmed` as dotted keys.

Tables and keys (``?`` = optional)::

    schema = 1
    [board]       id, name, mcu, family, core, pyocd_target?
    [isa]         dsp, fpu, dual_issue
    [clock]       oscillator, oscillator_hz, pll_m, pll_n, pll_div, pll_output, sysclk_hz,
                  ahb_div, apb1_div, apb2_div, hclk_hz, apb1_hz, apb2_hz, voltage_scale,
                  core_voltage_v?
    [[memory]]    name, kind, address, size_bytes, executable, cacheable, zero_wait, alias_of?
    [flash]       wait_states, ws_max_hz, ws_condition, read_width_bits, acr_address
    [accelerator] name, path, prefetch, icache_lines, icache_line_bytes, dcache_lines,
                  dcache_line_bytes, enable_bits (table: bit name -> bit number),
                  icache_ways?, control_address?
    [cpu_cache]?  icache_bytes, icache_ways, dcache_bytes, dcache_ways, line_bytes, enabled
    [uart]        peripheral, base, layout, is_lpuart, tx, rx, af, kernel_clock,
                  kernel_clock_hz, baud, enable_register, enable_address, enable_bit
    [gpio.X]      base, enable_register, enable_address, enable_bit, vddio2?   (X = port letter)
    [vddio2]?     pwr_enable_register, pwr_enable_address, pwr_enable_bit,
                  iosv_register, iosv_address, iosv_bit
    [marker]      pin, active_high, header
    [peripherals] rcc, pwr, flash_r, and any other name = base address
    [power]       supply_v, run_current_ma, datasheet, table, note?
    [sources]     tag = "citation"

Every problem raises :class:`BoardError` with one line: the file, the dotted key, the value and
what is allowed.  Unknown keys are errors too (they are usually typos).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from tinymodel.boards.spec import (
    CORES,
    DATA_RAM_KINDS,
    FPUS,
    MEMORY_KINDS,
    AcceleratorSpec,
    Board,
    ClockSpec,
    CpuCacheSpec,
    FlashSpec,
    GpioPortSpec,
    IsaSpec,
    MarkerSpec,
    MemoryRegion,
    Pin,
    PowerSpec,
    RccBit,
    UartSpec,
    VddIo2Spec,
)
from tinymodel.errors import BoardError

SCHEMA_VERSIONS: tuple[int, ...] = (1,)
OSCILLATORS: tuple[str, ...] = ("hse", "hse-bypass", "hsi", "msi")
PLL_OUTPUTS: tuple[str, ...] = ("P", "R")
ACCELERATOR_PATHS: tuple[str, ...] = ("icode_dcode", "itcm", "cbus")
UART_LAYOUTS: tuple[str, ...] = ("v1", "v2")
KERNEL_CLOCKS: tuple[str, ...] = ("pclk1", "pclk2", "sysclk", "hsi16")
ADDRESS_LIMIT = 1 << 32
_PROVENANCE = ("sources", "unconfirmed")
_PIN_RE = re.compile(r"^P([A-K])(\d{1,2})$")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _show(value: Any, *, hex_int: bool = False) -> str:
    """A short, TOML-like rendering of a value for an error message."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif hex_int and isinstance(value, int):
        text = f"0x{value:08X}" if value >= 0 else f"-0x{-value:X}"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Table:
    """One TOML table being read: typed getters that raise one-line :class:`BoardError`s."""

    def __init__(self, origin: str, path: str, data: Any, unconfirmed: list[str],
                 tags: Mapping[str, str], *, root: bool = False) -> None:
        self.origin = origin
        self.path = path
        self.unconfirmed = unconfirmed
        self.tags = tags
        self.root = root
        if not isinstance(data, Mapping):
            where = path or "the file"
            raise BoardError(f"{origin}: {where} = {_show(data)}: wrong type "
                             f"{type(data).__name__}; allowed: a table")
        self.data = data
        self.context = ""      # e.g. 'region "sram1"', shown after the value in messages
        # the root table has a [sources] citation table and no provenance keys of its own
        self.used: set[str] = set() if root else set(_PROVENANCE)

    # -- plumbing ----------------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The dotted path of ``name`` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, value: Any, allowed: str, problem: str = "", *,
             hex_int: bool = False) -> BoardError:
        """The error for a bad value: ``file: key = value: problem; allowed: ...``."""
        what = f": {problem}" if problem else ""
        where = f" ({self.context})" if self.context else ""
        return BoardError(f"{self.origin}: {self.key(name)} = {_show(value, hex_int=hex_int)}"
                          f"{where}{what}; allowed: {allowed}")

    def _raw(self, name: str, allowed: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                raise BoardError(f"{self.origin}: {self.key(name)} is missing; required: {allowed}")
            return None
        return self.data[name]

    # -- typed getters -----------------------------------------------------------------------------

    def int(self, name: str, *, lo: int | None = None, hi: int | None = None,
            required: bool = True, hex_int: bool = False, what: str = "") -> int | None:
        """An integer (never a bool) in ``[lo, hi]``."""
        bounds = []
        if lo is not None and lo == hi:
            bounds.append(f"= {_show(lo, hex_int=hex_int)}")
        else:
            if lo is not None:
                bounds.append(f">= {_show(lo, hex_int=hex_int)}")
            if hi is not None:
                bounds.append(f"<= {_show(hi, hex_int=hex_int)}")
        allowed = "an integer" + (" " + " and ".join(bounds) if bounds else "") + (
            f" ({what})" if what else "")
        value = self._raw(name, allowed, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, value, allowed, f"wrong type {type(value).__name__}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(name, value, allowed, "out of range", hex_int=hex_int)
        return value

    def address(self, name: str, *, required: bool = True) -> int | None:
        """A 32-bit address."""
        return self.int(name, lo=0, hi=ADDRESS_LIMIT - 1, required=required, hex_int=True,
                        what="a 32-bit address")

    def bit(self, name: str) -> int:
        """A bit number 0..31."""
        return self.int(name, lo=0, hi=31, what="a bit number")

    def float(self, name: str, *, lo_excl: float | None = None, hi: float | None = None,
              required: bool = True, what: str = "") -> float | None:
        """A number (int or float, never a bool) in ``(lo_excl, hi]``."""
        bounds = []
        if lo_excl is not None:
            bounds.append(f"> {lo_excl:g}")
        if hi is not None:
            bounds.append(f"<= {hi:g}")
        allowed = "a number" + (" " + " and ".join(bounds) if bounds else "") + (
            f" ({what})" if what else "")
        value = self._raw(name, allowed, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, value, allowed, f"wrong type {type(value).__name__}")
        if value != value or (lo_excl is not None and value <= lo_excl) or (
                hi is not None and value > hi):
            raise self.fail(name, value, allowed, "out of range")
        return float(value)

    def bool(self, name: str, *, required: bool = True, default: bool = False) -> bool:
        """``true`` or ``false``."""
        value = self._raw(name, "true or false", required)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(name, value, "true or false", f"wrong type {type(value).__name__}")
        return value

    def str(self, name: str, *, choices: Sequence[str] | None = None, required: bool = True,
            pattern: re.Pattern[str] | None = None, what: str = "a non-empty string") -> str | None:
        """A non-empty string, optionally one of ``choices`` or matching ``pattern``."""
        allowed = ", ".join(choices) if choices else what
        value = self._raw(name, allowed, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(name, value, allowed, f"wrong type {type(value).__name__}")
        if not value.strip():
            raise self.fail(name, value, allowed, "empty")
        if choices is not None and value not in choices:
            raise self.fail(name, value, allowed, "not one of the allowed values")
        if pattern is not None and not pattern.match(value):
            raise self.fail(name, value, allowed, "malformed")
        return value

    def pin(self, name: str) -> Pin:
        """A pin name such as ``PG7`` (port A..K, pin 0..15)."""
        allowed = "a pin name P<port A-K><0-15>, e.g. PG7"
        text = self.str(name, what=allowed)
        m = _PIN_RE.match(text)
        if m is None or int(m.group(2)) > 15:
            raise self.fail(name, text, allowed, "malformed pin name")
        return Pin(m.group(1), int(m.group(2)))

    def int_list(self, name: str, *, lo: int, what: str) -> tuple[int, ...]:
        """A non-empty list of integers, each >= ``lo``."""
        allowed = f"a non-empty list of integers >= {lo} ({what})"
        value = self._raw(name, allowed, True)
        if not isinstance(value, list) or not value:
            raise self.fail(name, value, allowed, f"wrong type {type(value).__name__}"
                            if not isinstance(value, list) else "empty")
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int) or item < lo:
                raise self.fail(f"{name}[{i}]", item, allowed, "not an allowed list item")
        return tuple(value)

    def table(self, name: str, *, required: bool = True) -> _Table | None:
        """A sub-table."""
        value = self._raw(name, f"a [{self.key(name)}] table", required)
        if value is None:
            return None
        return _Table(self.origin, self.key(name), value, self.unconfirmed, self.tags)

    def tables(self, name: str) -> list[_Table]:
        """A non-empty array of tables (``[[name]]``)."""
        allowed = f"one or more [[{self.key(name)}]] tables"
        value = self._raw(name, allowed, True)
        if not isinstance(value, list) or not value:
            raise self.fail(name, value, allowed, "wrong type or empty")
        return [_Table(self.origin, f"{self.key(name)}[{i}]", item, self.unconfirmed, self.tags)
                for i, item in enumerate(value)]

    # -- provenance and completeness ---------------------------------------------------------------

    def finish(self, *, label: str | None = None) -> None:
        """Check provenance keys and reject keys nobody read.  ``label`` renames this table in
        :attr:`Board.unconfirmed` (``memory.sram2`` instead of ``memory[2]``)."""
        for prov in () if self.root else _PROVENANCE:
            if prov not in self.data:
                continue
            value = self.data[prov]
            allowed = ("a list of tags defined in [sources]" if prov == "sources"
                       else "a list of keys of this table")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(prov, value, allowed, "wrong type")
            for i, item in enumerate(value):
                if prov == "sources" and item not in self.tags:
                    raise self.fail(f"{prov}[{i}]", item,
                                    "a tag defined in [sources]: "
                                    + (", ".join(self.tags) or "none"),
                                    "undefined source tag")
                if prov == "unconfirmed":
                    if item in _PROVENANCE or item not in self.data:
                        raise self.fail(f"{prov}[{i}]", item,
                                        "a key of this table: " + ", ".join(
                                            k for k in self.data if k not in _PROVENANCE),
                                        "no such key here")
                    self.unconfirmed.append(f"{label or self.path}.{item}")
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            k = unknown[0]
            keys = sorted(self.used if self.root else self.used - set(_PROVENANCE))
            if not self.root:
                keys += ["sources", "unconfirmed"]
            raise self.fail(k, self.data[k], "the keys " + ", ".join(keys), "unknown key")


# -- section readers -------------------------------------------------------------------------------

def _rcc_bit(t: _Table, prefix: str) -> RccBit:
    return RccBit(register=t.str(f"{prefix}register", what="a register name"),
                  address=t.address(f"{prefix}address"),
                  bit=t.bit(f"{prefix}bit"))


def _read_clock(t: _Table) -> ClockSpec:
    c = ClockSpec(
        oscillator=t.str("oscillator", choices=OSCILLATORS),
        oscillator_hz=t.int("oscillator_hz", lo=1, what="Hz"),
        pll_m=t.int("pll_m", lo=1, hi=63),
        pll_n=t.int("pll_n", lo=1, hi=512),
        pll_div=t.int("pll_div", lo=1, hi=16),
        pll_output=t.str("pll_output", choices=PLL_OUTPUTS),
        sysclk_hz=t.int("sysclk_hz", lo=1, what="Hz"),
        ahb_div=t.int("ahb_div", lo=1, hi=512),
        apb1_div=t.int("apb1_div", lo=1, hi=16),
        apb2_div=t.int("apb2_div", lo=1, hi=16),
        hclk_hz=t.int("hclk_hz", lo=1, what="Hz"),
        apb1_hz=t.int("apb1_hz", lo=1, what="Hz"),
        apb2_hz=t.int("apb2_hz", lo=1, what="Hz"),
        voltage_scale=t.str("voltage_scale"),
        core_voltage_v=t.float("core_voltage_v", lo_excl=0.0, hi=2.0, required=False, what="V"),
    )
    pll = Fraction(c.oscillator_hz, c.pll_m) * c.pll_n / c.pll_div
    if pll != c.sysclk_hz:
        raise t.fail("sysclk_hz", c.sysclk_hz,
                     f"oscillator_hz / pll_m * pll_n / pll_div = {float(pll):.0f}",
                     "disagrees with the PLL settings")
    for name, value, base, div in (("hclk_hz", c.hclk_hz, c.sysclk_hz, c.ahb_div),
                                   ("apb1_hz", c.apb1_hz, c.hclk_hz, c.apb1_div),
                                   ("apb2_hz", c.apb2_hz, c.hclk_hz, c.apb2_div)):
        if Fraction(base, div) != value:
            raise t.fail(name, value, f"{base} / {div} = {float(Fraction(base, div)):.0f}",
                         "disagrees with its prescaler")
    t.finish()
    return c


def _read_memory(root: _Table) -> tuple[MemoryRegion, ...]:
    regions: list[MemoryRegion] = []
    tables = root.tables("memory")
    for t in tables:
        name = t.str("name", pattern=_ID_RE, what="an identifier, e.g. sram1")
        t.context = f"region {_show(name)}"
        if any(r.name == name for r in regions):
            raise t.fail("name", name, "a name not used by another region", "duplicate region name")
        kind = t.str("kind", choices=MEMORY_KINDS)
        address = t.address("address")
        size = t.int("size_bytes", lo=1, what="bytes")
        if address + size > ADDRESS_LIMIT:
            raise t.fail("size_bytes", size, f"address + size_bytes <= 0x100000000 "
                         f"(region starts at 0x{address:08X})", "region runs past 4 GiB")
        region = MemoryRegion(name=name, kind=kind, address=address, size_bytes=size,
                              executable=t.bool("executable"), cacheable=t.bool("cacheable"),
                              zero_wait=t.bool("zero_wait"),
                              alias_of=t.str("alias_of", required=False, what="a region name"))
        t.finish(label=f"memory.{name}")
        regions.append(region)
    # address overlaps, in file order so the message names the later region
    for i, r in enumerate(regions):
        for j, other in enumerate(regions[:i]):
            if r.address < other.end and other.address < r.end:
                raise tables[i].fail(
                    "address", r.address,
                    f"regions that do not overlap; {other.name} (memory[{j}]) spans "
                    f"0x{other.address:08X}-0x{other.end - 1:08X}",
                    f"{r.name} 0x{r.address:08X}-0x{r.end - 1:08X} overlaps {other.name}",
                    hex_int=True)
    by_name = {r.name: r for r in regions}
    for i, r in enumerate(regions):
        if r.alias_of is None:
            continue
        target = by_name.get(r.alias_of)
        allowed = "the name of a non-alias region of the same kind and size: " + (", ".join(
            x.name for x in regions if x.alias_of is None and x.kind == r.kind
            and x.size_bytes == r.size_bytes and x is not r) or "none in this file")
        if target is None or target is r or target.alias_of is not None or (
                target.kind != r.kind or target.size_bytes != r.size_bytes):
            raise tables[i].fail("alias_of", r.alias_of, allowed, "not a valid alias target")
    if not any(r.kind == "flash" and r.alias_of is None for r in regions):
        raise root.fail("memory", [r.name for r in regions],
                        "at least one region with kind = \"flash\"", "no flash region")
    if not any(r.kind in DATA_RAM_KINDS and r.alias_of is None for r in regions):
        raise root.fail("memory", [r.name for r in regions],
                        "at least one region with kind = \"sram\" or \"dtcm\"", "no data RAM")
    return tuple(regions)


def _read_flash(t: _Table, clock: ClockSpec) -> FlashSpec:
    table = t.int_list("ws_max_hz", lo=1, what="max HCLK in Hz for 0, 1, 2, ... wait states")
    for i in range(1, len(table)):
        if table[i] <= table[i - 1]:
            raise t.fail(f"ws_max_hz[{i}]", table[i], f"a frequency > ws_max_hz[{i - 1}] = "
                         f"{table[i - 1]} (the table must increase)", "not increasing")
    f = FlashSpec(wait_states=t.int("wait_states", lo=0, hi=15),
                  ws_max_hz=table,
                  ws_condition=t.str("ws_condition", what="the supply/voltage range of the table"),
                  read_width_bits=t.int("read_width_bits", lo=8, hi=1024, what="bits"),
                  acr_address=t.address("acr_address"))
    if clock.hclk_hz > table[-1]:
        raise t.fail("ws_max_hz", list(table), f"a table reaching clock.hclk_hz = {clock.hclk_hz}",
                     "the configured clock is above the table")
    need = f.required_wait_states(clock.hclk_hz)
    if f.wait_states < need:
        raise t.fail("wait_states", f.wait_states,
                     f">= {need} at HCLK {clock.hclk_hz} Hz by ws_max_hz", "too few wait states")
    if f.wait_states >= len(table):
        raise t.fail("wait_states", f.wait_states, f"0..{len(table) - 1} (entries of ws_max_hz)",
                     "not in the wait-state table")
    t.finish()
    return f


def _read_accelerator(t: _Table) -> AcceleratorSpec:
    bits_table = t.table("enable_bits")
    bits = []
    for bit_name in bits_table.data:
        if bit_name in _PROVENANCE:
            continue
        bits.append((bit_name, bits_table.bit(bit_name)))
    bits_table.finish()
    a = AcceleratorSpec(name=t.str("name"),
                        path=t.str("path", choices=ACCELERATOR_PATHS),
                        prefetch=t.bool("prefetch"),
                        icache_lines=t.int("icache_lines", lo=0, hi=4096),
                        icache_line_bytes=t.int("icache_line_bytes", lo=1, hi=256, what="bytes"),
                        dcache_lines=t.int("dcache_lines", lo=0, hi=4096),
                        dcache_line_bytes=t.int("dcache_line_bytes", lo=1, hi=256, what="bytes"),
                        enable_bits=tuple(bits),
                        icache_ways=t.int("icache_ways", lo=0, hi=16, required=False) or 0,
                        control_address=t.address("control_address", required=False))
    if a.icache_ways and a.icache_lines % a.icache_ways:
        raise t.fail("icache_ways", a.icache_ways, f"a divisor of icache_lines = {a.icache_lines}",
                     "not a whole number of sets")
    if a.path == "cbus" and a.dcache_lines:
        raise t.fail("dcache_lines", a.dcache_lines, "0 for path = \"cbus\" (one cache serves "
                     "fetches and data reads)", "a separate data cache")
    t.finish()
    return a


def _read_cpu_cache(t: _Table, core: str) -> CpuCacheSpec:
    if core != "cortex-m7":
        raise t.fail("icache_bytes", t.data.get("icache_bytes"),
                     "no [cpu_cache] table unless board.core = \"cortex-m7\"",
                     f"{core} has no L1 cache")
    c = CpuCacheSpec(icache_bytes=t.int("icache_bytes", lo=0, what="bytes"),
                     icache_ways=t.int("icache_ways", lo=1, hi=16),
                     dcache_bytes=t.int("dcache_bytes", lo=0, what="bytes"),
                     dcache_ways=t.int("dcache_ways", lo=1, hi=16),
                     line_bytes=t.int("line_bytes", lo=4, hi=256, what="bytes"),
                     enabled=t.bool("enabled"))
    for name, size, ways in (("icache_bytes", c.icache_bytes, c.icache_ways),
                             ("dcache_bytes", c.dcache_bytes, c.dcache_ways)):
        if size % (ways * c.line_bytes):
            raise t.fail(name, size, f"a multiple of ways x line_bytes = {ways * c.line_bytes}",
                         "not a whole number of sets")
    t.finish()
    return c


def _read_uart(t: _Table, clock: ClockSpec, ports: Mapping[str, GpioPortSpec]) -> UartSpec:
    layout = t.str("layout", choices=UART_LAYOUTS)
    is_lpuart = t.bool("is_lpuart")
    if is_lpuart and layout != "v2":
        raise t.fail("layout", layout, "v2 (an LPUART always has the v2 register map)",
                     "inconsistent with is_lpuart = true")
    kernel_clock = t.str("kernel_clock", choices=KERNEL_CLOCKS)
    kernel_hz = t.int("kernel_clock_hz", lo=1, what="Hz")
    expected = {"pclk1": clock.apb1_hz, "pclk2": clock.apb2_hz, "sysclk": clock.sysclk_hz,
                "hsi16": 16_000_000}[kernel_clock]
    if kernel_hz != expected:
        raise t.fail("kernel_clock_hz", kernel_hz, f"{expected} ({kernel_clock} in [clock])",
                     "disagrees with the clock tree")
    u = UartSpec(peripheral=t.str("peripheral", what="a peripheral name, e.g. USART3"),
                 base=t.address("base"), layout=layout, is_lpuart=is_lpuart,
                 tx=t.pin("tx"), rx=t.pin("rx"), af=t.int("af", lo=0, hi=15),
                 kernel_clock=kernel_clock, kernel_clock_hz=kernel_hz,
                 baud=t.int("baud", lo=300, hi=20_000_000, what="bit/s"),
                 enable=_rcc_bit(t, "enable_"))
    lo, hi = (0x300, (1 << 20) - 1) if is_lpuart else (16, (1 << 16) - 1)
    if not lo <= u.brr <= hi:
        raise t.fail("baud", u.baud, f"a baud rate giving BRR in [0x{lo:X}, 0x{hi:X}] "
                     f"at {kernel_hz} Hz", f"BRR would be 0x{u.brr:X}")
    for name, pin in (("tx", u.tx), ("rx", u.rx)):
        if pin.port not in ports:
            raise t.fail(name, pin.name, "a pin on a port described in [gpio]: " +
                         ", ".join(sorted(ports)), f"port {pin.port} has no [gpio.{pin.port}]")
    t.finish()
    return u


def _read_gpio(t: _Table) -> dict[str, GpioPortSpec]:
    ports: dict[str, GpioPortSpec] = {}
    for letter in t.data:
        if letter in _PROVENANCE:
            continue
        if not re.fullmatch(r"[A-K]", letter):
            t.used.add(letter)
            raise t.fail(letter, t.data[letter], "port letters A..K", "not a GPIO port")
        p = t.table(letter)
        ports[letter] = GpioPortSpec(port=letter, base=p.address("base"),
                                     enable=_rcc_bit(p, "enable_"),
                                     vddio2=p.bool("vddio2", required=False))
        p.finish()
    if not ports:
        raise BoardError(f"{t.origin}: {t.path} describes no GPIO port; "
                         f"required: at least one [gpio.<port letter>] table")
    t.finish()
    return ports


def _read_power(t: _Table) -> PowerSpec:
    start = len(t.unconfirmed)
    supply = t.float("supply_v", lo_excl=0.0, hi=5.5, what="V")
    current = t.float("run_current_ma", lo_excl=0.0, hi=2000.0, what="mA")
    datasheet = t.str("datasheet", what="the datasheet name and number")
    table = t.str("table", what="the datasheet table the current comes from")
    note = t.str("note", required=False) or ""
    t.finish()
    confirmed = f"{t.path}.run_current_ma" not in t.unconfirmed[start:]
    return PowerSpec(supply_v=supply, run_current_ma=current, datasheet=datasheet, table=table,
                     confirmed=confirmed, note=note)


def _read_sources(root: _Table) -> dict[str, str]:
    t = root.table("sources")
    tags: dict[str, str] = {}
    for tag in t.data:
        if not _TAG_RE.match(tag) or tag in _PROVENANCE:
            t.used.add(tag)
            raise t.fail(tag, t.data[tag], "a tag made of letters, digits and _", "bad tag")
        tags[tag] = t.str(tag, what="a citation")
    if not tags:
        raise root.fail("sources", {}, "at least one tag = \"citation\"", "no sources")
    t.finish()
    return tags


# -- the whole file --------------------------------------------------------------------------------

def board_from_mapping(data: Mapping[str, Any], origin: str, path: Path | None = None) -> Board:
    """Validate a parsed board file and build its :class:`Board`.

    ``origin`` is the name errors start with (normally the file path).
    """
    unconfirmed: list[str] = []
    root = _Table(origin, "", data, unconfirmed, {}, root=True)
    root.int("schema", lo=min(SCHEMA_VERSIONS), hi=max(SCHEMA_VERSIONS), what="schema version")
    tags = _read_sources(root)
    root.tags = tags

    def table(name: str, required: bool = True) -> _Table | None:
        t = root.table(name, required=required)
        if t is not None:
            t.tags = tags
        return t

    b = table("board")
    board_id = b.str("id", pattern=_ID_RE, what="an identifier such as L4")
    name = b.str("name")
    mcu = b.str("mcu")
    family = b.str("family")
    core = b.str("core", choices=CORES)
    pyocd_target = b.str("pyocd_target", required=False,
                         what="pyOCD's target name, e.g. stm32l496zgtx") or ""
    b.finish()

    i = table("isa")
    isa = IsaSpec(dsp=i.bool("dsp"), fpu=i.str("fpu", choices=FPUS),
                  dual_issue=i.bool("dual_issue"))
    allowed_fpus = {"cortex-m4": ("none", "fpv4-sp-d16"),
                    "cortex-m7": ("none", "fpv5-sp-d16", "fpv5-d16"),
                    "cortex-m33": ("none", "fpv5-sp-d16")}[core]
    if isa.fpu not in allowed_fpus:
        raise i.fail("fpu", isa.fpu, f"for {core}: " + ", ".join(allowed_fpus),
                     "wrong FPU for core")
    dual = core in ("cortex-m7", "cortex-m33")
    if isa.dual_issue != dual:
        raise i.fail("dual_issue", isa.dual_issue, f"{str(dual).lower()} for {core}",
                     "inconsistent with the core")
    i.finish()

    clock = _read_clock(table("clock"))
    memory = _read_memory(root)
    flash = _read_flash(table("flash"), clock)
    accelerator = _read_accelerator(table("accelerator"))
    cc = table("cpu_cache", required=False)
    cpu_cache = _read_cpu_cache(cc, core) if cc is not None else None

    ports = _read_gpio(table("gpio"))
    v = table("vddio2", required=False)
    vddio2 = None
    if v is not None:
        vddio2 = VddIo2Spec(pwr_enable=_rcc_bit(v, "pwr_enable_"), iosv=_rcc_bit(v, "iosv_"))
        v.finish()
    needing = [p for p in ports.values() if p.vddio2]
    if needing and vddio2 is None:
        g = root.table("gpio")
        raise g.fail(f"{needing[0].port}.vddio2", True, "a [vddio2] table saying how to validate "
                     "VDDIO2, or vddio2 = false", "no [vddio2] table")

    uart = _read_uart(table("uart"), clock, ports)

    m = table("marker")
    marker = MarkerSpec(pin=m.pin("pin"), active_high=m.bool("active_high"),
                        header=m.str("header", what="where the pin is on the board"))
    if marker.pin.port not in ports:
        raise m.fail("pin", marker.pin.name,
                     "a pin on a port described in [gpio]: " + ", ".join(sorted(ports)),
                     f"port {marker.pin.port} has no [gpio.{marker.pin.port}]")
    if marker.pin in (uart.tx, uart.rx):
        raise m.fail("pin", marker.pin.name, "a pin the UART does not use", "pin taken by [uart]")
    m.finish()

    p = table("peripherals")
    peripherals = []
    for key in p.data:
        if key in _PROVENANCE:
            continue
        peripherals.append((key, p.address(key)))
    for required in ("rcc", "pwr", "flash_r"):
        p.address(required)          # raises "missing" when absent
    p.finish()

    power = _read_power(table("power"))
    root.finish()
    return Board(id=board_id, name=name, mcu=mcu, family=family, core=core, isa=isa, clock=clock,
                 memory=memory, flash=flash, accelerator=accelerator, cpu_cache=cpu_cache,
                 uart=uart, gpio=tuple(ports[k] for k in sorted(ports)), vddio2=vddio2,
                 marker=marker, peripherals=tuple(peripherals), power=power,
                 sources=tuple(tags.items()), unconfirmed=tuple(unconfirmed), path=path,
                 pyocd_target=pyocd_target)
