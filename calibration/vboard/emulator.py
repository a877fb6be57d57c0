"""The virtual board: a Cortex-M4/M7/M33 in unicorn with the board's memory map and peripherals and
a cycle model, running an unmodified firmware ELF.

Lifecycle::

    m = Machine("L4", "fw.elf")          # load, map memory from the board file, reset
    m.uart_send(b"...")                  # host -> firmware bytes (any thread)
    result = m.run(max_cycles=10**9)     # run from reset until BKPT/exit/fault/limit
    result.cycles, result.uart, result.gpio_windows

The cycle model is charged per translated block from a ``UC_HOOK_BLOCK`` callback by the
machine's cycle engine (``Machine.engine``: :class:`~calibration.vboard.native.NativeEngine` in
compiled code by default, or the reference :class:`~calibration.vboard.engine.CycleEngine` with
``TINYMODEL_VBOARD_ENGINE=python``):
static cost from the core model, plus dynamic corrections for the branch outcome, instruction
fetch from flash (wait states, ART / L1 caches), data accesses to flash and unaligned data
accesses.  No unicorn
memory hooks are installed; peripherals are ``mmio_map`` regions.  Rules and sources:
docs/virtual-board.md.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import struct
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from calibration.vboard import cortex_m4, cortex_m7, cortex_m33
from calibration.vboard.decode import decode_block
from calibration.vboard.engine import CycleEngine
from calibration.vboard.errors import FaultError, ImageError, VboardError
from calibration.vboard.image import Image, load_image
from calibration.vboard.peripherals import (SVCALL_EXCEPTION, Bus, Dwt, FlashInterface, Gpio,
                                            ICache, Pwr, PwrU5, Rcc, RccU5, SystemControl, Uart)
from calibration.vboard.power import PowerModel
from calibration.vboard.semihosting import Semihosting
from calibration.vboard.timing import LineCache

log = logging.getLogger(__name__)

EXTRAS_PATH = Path(__file__).resolve().parent / "data" / "extras.toml"

#: Exception entry and return on the Cortex-M4/M7: 12 cycles interrupt latency with zero-wait
#: memory (S29); the return cost was not found in a source and is taken equal [U].  The
#: Cortex-M33's latency is also 12 without a security-state change (S2 of
#: shared/reference/cortex-m33-u575.md); its return cost is not published either [U].
EXCEPTION_ENTRY_CYCLES = 12
EXCEPTION_RETURN_CYCLES = 12

#: Environment switch for the self-loop fast path (``0`` = reference path only); the
#: ``fast_path`` argument of :class:`Machine` overrides it.  Both give identical cycle counts
#: (tests/vboard/test_fastpath.py); the switch exists to prove that.
FAST_PATH_ENV = "TINYMODEL_VBOARD_FAST"

#: Environment switch choosing the cycle engine: ``python`` (the reference,
#: :class:`~calibration.vboard.engine.CycleEngine`) or ``native`` (the same model in compiled
#: code, :class:`~calibration.vboard.native.NativeEngine`); the ``engine`` argument of
#: :class:`Machine` overrides it.  Both give identical cycle counts (tests/vboard).
ENGINE_ENV = "TINYMODEL_VBOARD_ENGINE"
#: The cycle engines a machine can use.
ENGINES = ("python", "native")
#: The engine used when neither the argument nor the environment chooses one: the native one,
#: identical to the reference on every test (tests/vboard, and the paper, mlperf and random
#: suites in tests/vboard/test_engine_suites.py) and 5-25 times faster (docs/benchmarks.md).
DEFAULT_ENGINE = "native"


#: The static timing model of each core the board files name (``board.core``), and unicorn's
#: CPU model for it (unicorn.arm_const names).  Without an explicit model unicorn runs an M33
#: (shared/reference/cortex-m33-u575.md 5.1), so the model is always selected.
CORE_MODELS = {"cortex-m4": cortex_m4, "cortex-m7": cortex_m7, "cortex-m33": cortex_m33}
UNICORN_CPUS = {"cortex-m4": "UC_CPU_ARM_CORTEX_M4", "cortex-m7": "UC_CPU_ARM_CORTEX_M7",
                "cortex-m33": "UC_CPU_ARM_CORTEX_M33"}
#: STM32 families whose clock registers the machine models (``Machine.family``): the board
#: file's ``board.family`` prefix -> family key.  Anything else is taken as F4/F7-like.
FAMILIES = {"STM32L4": "l4", "STM32U5": "u5"}


@dataclass
class GpioWindow:
    """One marker-pin window (pin active from ``start_cycle`` to ``end_cycle``)."""

    start_cycle: int
    end_cycle: int
    clock_hz: int
    energy_uj: float

    @property
    def cycles(self) -> int:
        return self.end_cycle - self.start_cycle

    def as_dict(self) -> dict[str, Any]:
        return {"start_cycle": self.start_cycle, "end_cycle": self.end_cycle,
                "cycles": self.cycles, "time_us": self.cycles / self.clock_hz * 1e6,
                "clock_hz": self.clock_hz, "energy_uj": self.energy_uj}


@dataclass
class RunResult:
    """What a run produced.  ``exit`` is one of: ``bkpt``, ``semihosting-exit``, ``fault``,
    ``max-cycles``, ``uart-rx-eof`` (the firmware waits for input and none is left),
    ``wfi-deadlock``, ``reset-request``, ``stopped`` (stopped by the host)."""

    board: str
    cycles: int
    instructions: int
    exit: str
    detail: str
    exit_code: int | None
    pc: int
    uart: bytes
    semihosting: bytes
    gpio_edges: list[tuple[int, bool]]
    gpio_windows: list[GpioWindow]
    clock_hz: int
    time_s: float
    warnings: list[str]
    wall_s: float
    stats: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``tinymodel vboard run --json``."""
        return {
            "board": self.board, "cycles": self.cycles, "instructions": self.instructions,
            "exit": self.exit, "detail": self.detail, "exit_code": self.exit_code,
            "pc": f"0x{self.pc:08X}",
            "uart": self.uart.decode("utf-8", "replace"),
            "semihosting": self.semihosting.decode("utf-8", "replace"),
            "gpio_edges": [{"cycle": c, "level": int(v)} for c, v in self.gpio_edges],
            "gpio_windows": [w.as_dict() for w in self.gpio_windows],
            "clock_hz": self.clock_hz, "time_s": self.time_s, "warnings": self.warnings,
            "wall_s": round(self.wall_s, 3),
            "instructions_per_second": round(self.instructions / self.wall_s) if self.wall_s else 0,
            "stats": self.stats,
        }


def select_engine(engine: str | None = None) -> str:
    """The cycle engine a new machine uses: ``engine``, else ``$TINYMODEL_VBOARD_ENGINE``, else
    :data:`DEFAULT_ENGINE`.  ``native`` falls back to ``python`` with one warning line when the
    native library cannot be built or loaded.  Raises :class:`VboardError` for an unknown name."""
    name = engine if engine is not None else os.environ.get(ENGINE_ENV, "").strip().lower()
    name = name or DEFAULT_ENGINE
    if name not in ENGINES:
        source = "engine" if engine is not None else f"${ENGINE_ENV}"
        raise VboardError(f"unknown virtual-board engine {name!r} ({source}); "
                          f"expected one of {', '.join(ENGINES)}")
    if name == "native":
        from calibration.vboard.native import native_available
        why = native_available()
        if why is not None:
            if why not in _ENGINE_WARNED:
                _ENGINE_WARNED.add(why)
                log.warning("%s; using the Python engine", why)
            return "python"
    return name


_ENGINE_WARNED: set[str] = set()


def board_extras(board_id: str) -> dict[str, int]:
    """The virtual board's own facts for ``board_id`` (data/extras.toml), or defaults."""
    data = tomllib.loads(EXTRAS_PATH.read_text())
    return dict(data.get(board_id, {}))


#: EPSR with the Thumb bit set and no IT-block state (written as ``UC_ARM_REG_EPSR``, which sets
#: only the IT and T bits).
EPSR_THUMB = 1 << 24


class Machine:
    """One virtual board running one image.  Not thread-safe except :meth:`uart_send`,
    :meth:`close_input` and :meth:`request_stop`, which other threads may call while
    :meth:`run` executes.

    ``configured=True`` starts as if the firmware's clock setup had already run: HCLK at the
    board clock, FLASH_ACR with the board's wait states and accelerator bits, the Cortex-M7 L1
    caches as in the board file, and the FPU enabled.  The default is the hardware reset state.

    ``engine`` chooses the cycle engine (:func:`select_engine`: ``python``, the reference, or
    ``native``, the same model in compiled code; default ``$TINYMODEL_VBOARD_ENGINE``, else
    :data:`DEFAULT_ENGINE`); :attr:`engine_kind` is the one in use.  ``fast_path`` switches the
    self-loop fast path (default ``$TINYMODEL_VBOARD_FAST``, else on).  Neither changes a cycle.
    """

    def __init__(self, board, image, *, configured: bool = False,
                 tx_callback: Callable[[bytes], None] | None = None,
                 fast_path: bool | None = None, paced: bool = False,
                 engine: str | None = None) -> None:
        from tinymodel.boards import load_board

        if fast_path is None:
            fast_path = os.environ.get(FAST_PATH_ENV, "1").strip().lower() not in (
                "0", "no", "off", "false")
        self.fast_path = bool(fast_path)
        self.engine_kind = select_engine(engine)
        if self.engine_kind == "native":
            from calibration.vboard.native import NativeLineCache
            self._cache_class: type = NativeLineCache
        else:
            self._cache_class = LineCache

        self.board = load_board(board)
        self.image = image if isinstance(image, Image) else load_image(image)
        self.core = self.board.core
        self.core_model = CORE_MODELS[self.core]
        self.m7 = self.core == "cortex-m7"
        self.family = next((v for k, v in FAMILIES.items()
                            if self.board.family.upper().startswith(k)), "f4")
        self.configured = configured
        self.extras = board_extras(self.board.id)
        self.power = PowerModel(self.board)
        self.tx_callback = tx_callback
        self.tx = bytearray()
        self._rx = collections.deque()
        self._rx_cond = threading.Condition()
        self._rx_closed = False
        self.rx_eof = True                 # no more input will come once the queue is empty
        self.waiting_for_input = False     # the firmware is blocked reading the UART (for tests)
        self._idle_s = 0.0                 # wall seconds the firmware spent blocked on input
        self._idle_since: float | None = None
        self._ended_at: float | None = None
        self.paced = paced
        self._pace_hz: float | None = None
        self._pace_blocks = 0
        self._pace_mark: tuple[int, float] = (0, 0.0)
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self.marker_edges: list[tuple[int, bool]] = []
        self.clock_changes: list[tuple[int, int]] = []
        self.semihosting = Semihosting()
        self._stop: tuple[str, str, int | None] | None = None
        self._fault: FaultError | None = None
        self._exc_stack: list[tuple[int, list[int] | None]] = []
        self._invalid_access: tuple[str, int, int] | None = None
        self.hclk_hz = self.board.clock_hz if configured else int(self.extras.get(
            "reset_sysclk_hz", self.board.clock_hz))
        self._setup_uc()
        self._setup_peripherals()
        self._configure_timing()
        self._build_engine()
        if paced:
            self._install_pacer()
        self.reset()

    # -- construction ---------------------------------------------------------------------------

    def _setup_uc(self) -> None:
        from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn import arm_const

        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(getattr(arm_const, UNICORN_CPUS[self.core]))
        self.uc = uc
        self._buffers: dict[str, Any] = {}
        self.regions: list[tuple[int, int, str, str]] = []     # (lo, hi, name, kind)
        self._exec_ranges: list[tuple[int, int]] = []             # [lo, hi) the core may fetch
        b = self.board
        for r in b.memory:
            if r.alias_of is not None:
                continue
            buf = (ctypes.c_ubyte * r.size_bytes)()
            if r.kind == "flash":
                ctypes.memset(buf, 0xFF, r.size_bytes)
            self._buffers[r.name] = buf
        self.flash = next((r for r in b.memory if r.kind == "flash" and r.alias_of is None), None)
        from unicorn import UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ
        for r in b.memory:
            target = r.alias_of or r.name
            buf = self._buffers[target]
            if r.kind == "flash":
                perms = UC_PROT_READ | UC_PROT_EXEC
            elif r.executable:
                perms = UC_PROT_ALL
            else:
                perms = UC_PROT_ALL & ~UC_PROT_EXEC
            uc.mem_map_ptr(r.address, r.size_bytes, perms, ctypes.addressof(buf))
            self.regions.append((r.address, r.end, r.name, r.kind))
            if perms & UC_PROT_EXEC:
                self._exec_ranges.append((r.address, r.end))
        # boot alias of the main flash at 0x0000_0000 (STM32L4/F4 boot from main flash)
        if self.flash is not None and b.region_at(0) is None:
            uc.mem_map_ptr(0, self.flash.size_bytes, UC_PROT_READ | UC_PROT_EXEC,
                           ctypes.addressof(self._buffers[self.flash.name]))
            self.regions.append((0, self.flash.size_bytes, "flash_boot_alias", "flash"))
            self._exec_ranges.append((0, self.flash.size_bytes))
        # system memory / option bytes / device id area: readable zeros
        sysmem = 0x1FFF0000
        if not any(lo < sysmem + 0x10000 and sysmem < hi for lo, hi, *_ in self.regions):
            uc.mem_map(sysmem, 0x10000, UC_PROT_READ)
        self.regions.sort()
        for seg in self.image.segments:
            end = seg.address + len(seg.data)
            if not any(lo <= seg.address and end <= hi for lo, hi, *_ in self.regions):
                raise ImageError(f"{self.image.path}: segment 0x{seg.address:08X}-0x{end:08X} "
                                 f"lies outside the memory of board {b.id}")
            self._write_mem(seg.address, seg.data)

    def _write_mem(self, address: int, data: bytes) -> None:
        """Write into guest memory, including read-only flash (host side, like a programmer)."""
        for r in self.board.memory:
            if r.contains(address):
                buf = self._buffers[r.alias_of or r.name]
                off = address - r.address
                ctypes.memmove(ctypes.addressof(buf) + off, data, len(data))
                return
        self.uc.mem_write(address, data)

    def _setup_peripherals(self) -> None:
        b = self.board
        family = self.family
        self.bus = bus = Bus()
        hse_hz = int(self.extras.get("hse_hz", 8_000_000))
        if family == "u5":
            self.rcc = RccU5(b.peripheral("rcc"), self, hse_hz)
            self.pwr = PwrU5(b.peripheral("pwr"))
        else:
            self.rcc = Rcc(b.peripheral("rcc"), family, self, hse_hz)
            self.pwr = Pwr(b.peripheral("pwr"), family)
        bus.attach(self.rcc.base, 0x400, self.rcc)
        bus.attach(self.pwr.base, 0x400, self.pwr)
        from calibration.firmware import accelerator_bits

        acc = dict(b.accelerator.enable_bits)
        # the ART's enable bits live in FLASH_ACR; a cache with its own control register
        # (accelerator.control_address: the U5's ICACHE_CR, EN) keeps only PRFTEN in FLASH_ACR
        acr_names = ("prften",) if b.accelerator.control_address is not None else tuple(acc)
        # configured: the accelerator bits the firmware's clock code sets (one rule for both)
        acr_set, _, ctl_set = accelerator_bits(b.accelerator)
        reset_acr = 0x600 if family == "l4" else 0
        if self.configured:
            reset_acr = b.flash.wait_states | acr_set
        self.acr_bits = {k: v for k, v in acc.items() if k in acr_names}
        self.flash_if = FlashInterface(b.flash.acr_address, reset_acr, self)
        bus.attach(b.flash.acr_address & ~0x3FF, 0x400, self.flash_if)
        self.icache_ctl: ICache | None = None
        ctl = b.accelerator.control_address
        if ctl is not None:
            # U5 ICACHE_CR: WAYSEL (b2) = 1 after reset; EN as the board file says when
            # configured (REF 2.4: disabled after reset)
            reset_cr = (1 << 2) | (ctl_set if self.configured else 0)
            self.icache_ctl = ICache(ctl, self, reset_cr)
            bus.attach(ctl & ~0x3FF, 0x400, self.icache_ctl)
        # GPIO: every port of the family, derived from one described port's base
        g0 = b.gpio[0]
        port_a = g0.base - 0x400 * (ord(g0.port) - ord("A"))
        self.gpio = Gpio(port_a, b.marker.pin.port, b.marker.pin.number, self._on_marker, self)
        bus.attach(port_a, 0x400 * 11, self.gpio)
        ratio = b.uart.kernel_clock_hz / b.clock_hz
        if self.engine_kind == "native":
            from calibration.vboard.native import NativeUart
            self.uart: Uart = NativeUart(b.uart.base, b.uart.layout, b.uart.is_lpuart, ratio,
                                         self, self._rx_source, self._tx_sink, self._take_rx)
        else:
            self.uart = Uart(b.uart.base, b.uart.layout, b.uart.is_lpuart, ratio, self,
                             self._rx_source, self._tx_sink)
        bus.attach(b.uart.base, 0x400, self.uart)
        self.uart_irq = int(self.extras.get("uart_irq", -1))
        self.scs = SystemControl(self, int(self.extras.get("cpuid", 0x410FC241)), self.m7, 0)
        self.scs.watch(self._irq_sets_changed)
        if self.configured:
            self.scs.cpacr = 0xF << 20
            if self.m7 and b.cpu_cache is not None and b.cpu_cache.enabled:
                self.scs.ccr |= 3 << 16
        bus.attach(0xE000E000, 0x1000, self.scs)
        self.dwt = Dwt(self, lockable=self.m7)      # Armv8-M's DWT has no LAR (REF 3.3, S16)
        bus.attach(0xE0001000, 0x1000, self.dwt)
        # map MMIO over the peripheral and PPB spaces, around RAM regions that live there
        ram = [(lo, hi) for lo, hi, *_ in self.regions]
        for lo, hi in ((0x40000000, 0x60000000), (0xA0000000, 0xA0001000),
                       (0xE0000000, 0xE0100000)):
            for a, z in _subtract(lo, hi, ram):
                self._map_mmio_range(a, z - a)

    # -- timing configuration --------------------------------------------------------------------

    def _configure_timing(self) -> None:
        """Derive the fetch/data models from FLASH_ACR and SCB_CCR (called again on writes)."""
        b = self.board
        acr = self.flash_if.acr
        bits = self.acr_bits
        self.ws = acr & 0xF
        req = None
        try:
            req = b.flash.required_wait_states(self.hclk_hz)
        except Exception:
            pass
        if req is not None and self.ws < req:
            self.warn_once(f"ws{self.ws}@{self.hclk_hz}",
                           f"FLASH_ACR LATENCY={self.ws} is below the {req} wait states "
                           f"{b.id} needs at {self.hclk_hz / 1e6:g} MHz (hardware would "
                           f"read wrong data)")
        on = lambda name: bool(name in bits and acr >> bits[name] & 1)  # noqa: E731
        acc = b.accelerator
        read_bytes = max(b.flash.read_width_bits // 8, 4)
        self.fetch_prefetch = on("prften")
        ic_on = on("icen") or on("arten")
        dc_on = on("dcen")
        # fetch model per code region kind: (cache or None, line_bytes, reads_per_miss)
        self._fetch_cfg: dict[str, tuple] = {}
        if not hasattr(self, "_caches"):
            self._caches: dict[str, LineCache] = {}
            self._retired_caches: list[LineCache] = []
        if acc.icache_lines and "art_i" not in self._caches and acc.path != "cbus":
            self._caches["art_i"] = self._cache_class(acc.icache_lines, acc.icache_lines,
                                                      acc.icache_line_bytes)
        if acc.dcache_lines and "art_d" not in self._caches:
            self._caches["art_d"] = self._cache_class(acc.dcache_lines, acc.dcache_lines,
                                                      acc.dcache_line_bytes)
        cc = b.cpu_cache
        if self.m7 and cc is not None:
            if "l1_i" not in self._caches:
                make = self._cache_class
                self._caches["l1_i"] = make(cc.icache_bytes // cc.line_bytes, cc.icache_ways,
                                            cc.line_bytes)
                self._caches["l1_d"] = make(cc.dcache_bytes // cc.line_bytes, cc.dcache_ways,
                                            cc.line_bytes)
        l1_i = self.m7 and cc is not None and bool(self.scs.ccr >> 17 & 1)
        l1_d = self.m7 and cc is not None and bool(self.scs.ccr >> 16 & 1)
        art_i = self._caches.get("art_i") if ic_on and acc.icache_lines else None
        art_line = acc.icache_line_bytes if art_i is not None else read_bytes
        if acc.path == "cbus":
            self._configure_cbus(read_bytes)
        elif acc.path == "icode_dcode":
            self._fetch_cfg["flash"] = (art_i, art_line, read_bytes, False)
            self._fetch_cfg["flash_alias"] = self._fetch_cfg["flash"]
            self._data_cache = self._caches.get("art_d") if dc_on and acc.dcache_lines else None
            self._data_miss = self.ws
        else:  # STM32F7: AXI window through L1, ITCM window through the ART
            if l1_i:
                self._fetch_cfg["flash"] = (self._caches["l1_i"], cc.line_bytes, read_bytes, True)
            else:
                self._fetch_cfg["flash"] = (None, read_bytes, read_bytes, False)
            self._fetch_cfg["flash_alias"] = (art_i, art_line, read_bytes, False)
            self._data_cache = self._caches["l1_d"] if l1_d else None
            self._data_miss = self.ws * max(1, (cc.line_bytes if cc else 32) // read_bytes)
        self._fetch_ws = self.ws

    def _configure_cbus(self, read_bytes: int) -> None:
        """STM32U5: one cache (the ICACHE, ``icache``) on the Cortex-M33's C-AHB serves the
        instruction fetches and the data reads of the code region (REF 2.1, 2.4; S10).

        Enabled (ICACHE_CR.EN): a line of ``icache_line_bytes`` (16) is one flash read of
        ``read_width_bits`` (128), so a miss costs LATENCY cycles whether a fetch or a load
        causes it, and a hit costs nothing (0 wait states, S10); fetches follow the ART rule
        (with PRFTEN only the first line after a taken branch stalls).  The real miss penalty
        is not published [U].  Disabled: every fetch and every data read from flash waits
        LATENCY cycles (a fetch line equal to the previous one excepted, as with the ART off).
        WAYSEL picks 2 ways (reset) or 1 (direct mapped) for the same 512 x 16 bytes."""
        acc = self.board.accelerator
        ctl = self.icache_ctl
        on = ctl is not None and ctl.enabled
        ways = (acc.icache_ways or acc.icache_lines) if (ctl is None or ctl.ways_2) else 1
        cache = self._caches.get("icache")
        if cache is None or cache.ways != ways:
            if cache is not None:
                self._retired_caches.append(cache)   # records may still point at it
            cache = self._cache_class(acc.icache_lines, ways, acc.icache_line_bytes)
            self._caches["icache"] = cache
        if on:
            cfg = (cache, acc.icache_line_bytes, max(read_bytes, acc.icache_line_bytes), False)
            self._data_cache = cache
        else:
            cfg = (None, read_bytes, read_bytes, False)
            self._data_cache = None
        self._fetch_cfg["flash"] = cfg
        self._fetch_cfg["flash_alias"] = cfg
        self._data_miss = self.ws

    # -- host-facing UART ----------------------------------------------------------------------

    def uart_send(self, data: bytes) -> None:
        """Queue bytes for the firmware's UART receiver (thread-safe)."""
        with self._rx_cond:
            self._rx.extend(data)
            self._rx_cond.notify_all()
        if self.uart.wants_rx_interrupt():
            self.engine.poke()

    def close_input(self) -> None:
        """No more host input: a firmware waiting for bytes stops the run (``uart-rx-eof``)."""
        with self._rx_cond:
            self._rx_closed = True
            self._rx_cond.notify_all()

    def _take_rx(self) -> bytes:
        """Every host byte queued (and no longer queued): for a UART that keeps its own buffer."""
        with self._rx_cond:
            data = bytes(self._rx)
            self._rx.clear()
        return data

    def _rx_source(self, block: bool) -> int | None:
        with self._rx_cond:
            try:
                while not self._rx:
                    if not block:
                        return None
                    if self._rx_closed or self.rx_eof or self._stop is not None:
                        self.request_stop("uart-rx-eof", "the firmware waits for UART input and "
                                          "no more input was given")
                        return None
                    self.waiting_for_input = True
                    if self._idle_since is None:
                        self._idle_since = time.monotonic()
                    self._rx_cond.notify_all()     # reset_timing_state() waits for this
                    try:
                        self._rx_cond.wait(0.2)
                    finally:
                        self.waiting_for_input = False
                return self._rx.popleft()
            finally:
                if self._idle_since is not None:
                    self._idle_s += time.monotonic() - self._idle_since
                    self._idle_since = None

    def emulated_time_s(self) -> float:
        """The board's clock in seconds since reset, for timeouts; any thread may ask.

        The emulated cycles (as another thread sees them: :meth:`CycleEngine.observed_cycles`)
        at the recorded clock rates, plus the wall-clock time during which the emulator did not
        advance the clock because the board had nothing to do: the firmware blocked waiting for
        a UART byte, or the run had ended.  A real board's clock runs on while it waits for the
        host, so a request lost on the way times out as on a board; an emulator that is merely
        slow adds nothing, however long it takes.  Not the cycle count of any measurement.
        """
        with self._rx_cond:
            idle = self._idle_s
            if self._idle_since is not None:
                idle += time.monotonic() - self._idle_since
        if self._ended_at is not None:
            idle += time.monotonic() - self._ended_at
        return self.seconds(self.engine.observed_cycles()) + idle

    # -- pacing (tests and demonstrations of a slow or frozen emulator) ---------------------------

    def _install_pacer(self) -> None:
        from unicorn import UC_HOOK_BLOCK

        self.uc.hook_add(UC_HOOK_BLOCK, self._pace_hook)

    def set_pace(self, cycles_per_s: float | None) -> None:
        """Run at most ``cycles_per_s`` emulated cycles per wall-clock second (``None``: full
        speed; ``0``: frozen until the pace changes or the run is stopped).  Only a machine
        created with ``paced=True`` has the hook that does this (an extra block hook, so a
        normal machine pays nothing); cycle counts are unaffected.  Any thread."""
        if not self.paced:
            raise VboardError("this virtual board was created without pacing (paced=True, or "
                              "pace_hz= in a vboard:// URL)")
        if cycles_per_s is not None and cycles_per_s < 0:
            raise VboardError(f"pace must be at least 0 cycles/s, got {cycles_per_s}")
        self._pace_mark = (self.engine.observed_cycles(), time.monotonic())
        self._pace_hz = cycles_per_s

    def _pace_hook(self, uc, address: int, size: int, user_data) -> None:
        self._pace_blocks += 1
        if self._pace_blocks & 255 or self._pace_hz is None:
            return
        while self._pace_hz == 0 and self._stop is None:          # frozen
            time.sleep(0.02)
        hz = self._pace_hz
        if not hz:
            return
        c0, t0 = self._pace_mark
        c = self.engine.cycles
        behind = (c - c0) / hz - (time.monotonic() - t0)
        if behind > 0:
            time.sleep(min(behind, 0.5))
        self._pace_mark = (c, time.monotonic())

    def reset_timing_state(self, timeout_s: float = 10.0) -> None:
        """Put the cycle model into its defined warm-up state while the firmware is idle.

        Waits (up to ``timeout_s``) until the firmware blocks reading the UART with no host
        byte queued, then, with the emulator held there, empties every cache model (the ART
        instruction and data caches, the Cortex-M7 L1 caches), the Cortex-M7 branch target
        cache and the flash read buffer (:meth:`CycleEngine.reset_timing_state`).  Registers,
        memory, peripherals and the cycle count are untouched, so the firmware cannot tell;
        what it runs next is timed from the same state whatever ran before.  Raises
        :class:`~calibration.vboard.errors.VboardError` when the firmware does not become idle
        (it is still working, or the run stopped).  Any thread may call it.
        """
        deadline = time.monotonic() + timeout_s
        with self._rx_cond:
            while not (self.waiting_for_input and not self._rx):
                left = deadline - time.monotonic()
                if self._stop is not None or left <= 0:
                    raise VboardError(
                        f"virtual {self.board.id}: cannot reset the timing state, the firmware "
                        f"is not waiting for input" + (f" (it stopped: {self._stop[1]})"
                                                       if self._stop is not None else ""))
                self._rx_cond.wait(min(left, 0.2))
            self.engine.reset_timing_state()

    def _tx_sink(self, byte: int) -> None:
        self.tx.append(byte)
        if self.tx_callback is not None:
            self.tx_callback(bytes((byte,)))

    # -- the engine ----------------------------------------------------------------------------

    def _build_engine(self) -> None:
        """Create the cycle engine (:class:`~calibration.vboard.engine.CycleEngine`), install
        its block hook and the interrupt and invalid-access hooks."""
        from unicorn import UC_HOOK_INTR, UC_HOOK_MEM_INVALID

        from calibration.vboard.regfile import register_view

        regs = register_view(self.uc)
        self.fast_registers = not type(regs).__name__.startswith("_Slow")
        self._hook_error: BaseException | None = None
        self._run_thread: int | None = None
        if self.engine_kind == "native":
            from calibration.vboard.native import NativeEngine
            self.engine = NativeEngine(self, regs, fast_path=self.fast_path)
            self.uart.attach(self.engine)
        else:
            self.engine = CycleEngine(self, regs, fast_path=self.fast_path)
        self.engine.install()
        self.uc.hook_add(UC_HOOK_INTR, self._on_interrupt)
        self._tlb = self._install_tlb()
        for lo, hi in (self._outside_ram() if self._tlb is not None else [(1, 0)]):
            self.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_invalid_access, begin=lo, end=hi)

    # -- the TLB: stores to RAM at unicorn's full speed ---------------------------------------------

    def _ram_ranges(self) -> list[tuple[int, int]]:
        """``[lo, hi)`` of the writable RAM regions (every mapped region but flash), merged."""
        ranges: list[tuple[int, int]] = []
        for lo, hi, _name, kind in sorted(self.regions):
            if kind == "flash":
                continue
            if ranges and lo <= ranges[-1][1]:
                ranges[-1] = (ranges[-1][0], max(hi, ranges[-1][1]))
            else:
                ranges.append((lo, hi))
        return ranges

    def _outside_ram(self) -> list[tuple[int, int]]:
        """Inclusive ``(begin, end)`` address ranges not in :meth:`_ram_ranges`."""
        out, start = [], 0
        for lo, hi in self._ram_ranges():
            if lo > start:
                out.append((start, lo - 1))
            start = hi
        if start <= 0xFFFF_FFFF:
            out.append((start, 0xFFFF_FFFF))
        return out

    def _install_tlb(self):
        """Fill unicorn's TLB with the rule below (``UC_TLB_VIRTUAL``) instead of from the
        core's default memory map, through ``tmv_tlb_fill`` of the native library
        (:class:`calibration.vboard.native.NativeTlb`); ``None`` (unicorn's own TLB, every store
        on its slow path, the same results) when the library is unavailable.

        Why: unicorn 2.1.4 sends a store to its slow helper (some 15-20 times a load's cost;
        benchmarks/unicorn_stores.py) unless the page's TLB entry is not executable and no
        memory hook covers the address; the ARMv7-M default map makes all of SRAM executable,
        and an unbounded ``UC_HOOK_MEM_INVALID`` covers every address.

        The rule: a RAM page (every mapped region but flash) is read/write until the core
        fetches an instruction from it, and from then on keeps execute permission and with it
        unicorn's tracking of writes over translated code; every other page gets all
        permissions (unicorn's own checks decide there: flash is read-only, unmapped addresses
        fault); a fetch from a mapped region the board file says the core cannot fetch from is
        refused (:meth:`_handle_uc_error` names it).  A data fill writes EPSR back to Thumb with
        no IT state: unicorn restored the accessing instruction's IT state before calling the
        fill, the translated block goes on and writes those bits back only while still in an IT
        block, and inside a block they are zero (qemu's ``arm_tr_tb_start``); left set, the
        next block ran as if conditional (measured: an F4 PReLU loop ran past its end).  The
        invalid-access hook then covers only the addresses outside RAM.  Nothing the firmware
        can observe changes; cycles are the cycle engine's and do not depend on the TLB."""
        from calibration.vboard.native import NativeEngineError, NativeTlb

        try:
            return NativeTlb(self.uc, self._ram_ranges(),
                             [(lo, hi) for lo, hi, *_ in self.regions], self._exec_ranges,
                             EPSR_THUMB)
        except NativeEngineError as e:
            log.info("%s: unicorn's own TLB (stores on its slow path)", e)
            return None

    def now(self) -> int:
        """Cycle at which the instruction doing the current MMIO access executes (for
        peripherals: CYCCNT, SysTick, GPIO edge stamps)."""
        return self.engine.now()

    def stall(self, n: int) -> None:
        """The instruction doing the current MMIO access waits ``n`` more cycles."""
        self.engine.stall(n)

    def stats(self) -> dict[str, int]:
        """Counters of the cycle model: ``instructions``, ``blocks_executed``,
        ``blocks_translated``, ``unaligned_penalty_cycles``, ``unaligned_accesses``,
        ``branch_mispredicts`` (M7) and ``<cache>_hits`` / ``<cache>_misses``.  Another thread
        may ask during a run (it then misses the fast-path iterations not yet applied)."""
        return self.engine.stats()

    def profile(self, top: int = 20) -> list[tuple[int, int, int]]:
        """The ``top`` hottest blocks: ``(address, executions, instructions)``."""
        return self.engine.profile(top)

    def fast_iterations(self) -> int:
        """Block executions that ran on the self-loop fast path (0 with ``fast_path=False``)."""
        return self.engine.fast_iterations()

    # -- MMIO dispatch (closures over the absolute base of each mapped range) ---------------------

    def _map_mmio_range(self, base: int, size: int) -> None:
        if self.engine_kind == "native":      # the C callbacks first (NativeUart)
            self.uart.map_mmio(self.uc, base, size, self._py_read, self._py_write)
            return

        def rd(uc, offset, sz, ud):
            return self._py_read(base + offset, sz)

        def wr(uc, offset, sz, value, ud):
            self._py_write(base + offset, sz, value)

        self.uc.mmio_map(base, size, rd, None, wr, None)

    def _py_read(self, addr: int, size: int) -> int:
        """An MMIO read by the Python devices (the native UART's C callback hands it on)."""
        engine = self.engine
        try:
            engine.sync()
            engine.mmio_addr = addr
            return self.bus.read(addr, size)
        except BaseException as e:  # never let an exception escape into C
            engine.fail(e)
            return 0

    def _py_write(self, addr: int, size: int, value: int) -> None:
        """An MMIO write by the Python devices (the native UART's C callback hands it on)."""
        engine = self.engine
        try:
            engine.sync()
            engine.mmio_addr = addr
            self.bus.write(addr, size, value)
        except BaseException as e:  # never let an exception escape into C
            engine.fail(e)

    def _irq_sets_changed(self) -> None:
        """The NVIC's sets changed: tell a UART that serves accesses in C."""
        irq_state = getattr(self.uart, "irq_state", None)
        if irq_state is not None:
            scs = self.scs
            irq_state(not scs.pending_exc, not scs.pending_irqs,
                      self.uart_irq >= 0 and self.uart_irq in scs.enabled_irqs)

    # -- reset and run -----------------------------------------------------------------------------

    def vector_table_address(self) -> int:
        """Where the core boots from: the main flash if the image loads it, else address 0 if
        loaded, else the image's vector-table section, else its lowest segment."""
        img = self.image
        if self.flash is not None and img.covers(self.flash.address, 8):
            return self.flash.address
        if img.covers(0, 8):
            return 0
        if img.vector_section is not None:
            return img.vector_section
        return min(s.address for s in img.segments)

    def reset(self) -> None:
        """Hardware reset: SP and PC from the vector table (ARMv7-M B1.5.5)."""
        from unicorn.arm_const import (UC_ARM_REG_CONTROL, UC_ARM_REG_LR, UC_ARM_REG_PC,
                                       UC_ARM_REG_SP, UC_ARM_REG_XPSR)

        vt = self.vector_table_address()
        sp = self._read32(vt)
        pc = self._read32(vt + 4)
        where = f"{self.image.path}: vector table at 0x{vt:08X}"
        if not pc & 1:
            raise ImageError(f"{where}: reset vector 0x{pc:08X} has the Thumb bit clear "
                             f"(not a Cortex-M image?)")
        kind = self._kind_at(pc & ~1)
        if kind is None:
            raise ImageError(f"{where}: reset vector 0x{pc:08X} is outside board memory")
        if sp & 3 or self._kind_at((sp - 4) & 0xFFFFFFFF) not in ("sram", "dtcm", "ccm", "itcm",
                                                                   "backup"):
            raise ImageError(f"{where}: initial SP 0x{sp:08X} is not in RAM of board "
                             f"{self.board.id}")
        self.scs.vtor = vt
        self.uc.reg_write(UC_ARM_REG_CONTROL, 0)
        self.uc.reg_write(UC_ARM_REG_SP, sp)
        self.uc.reg_write(UC_ARM_REG_LR, 0xFFFFFFFF)
        self.uc.reg_write(UC_ARM_REG_XPSR, 0x01000000)
        self.uc.reg_write(UC_ARM_REG_PC, pc & ~1)
        self.engine.reset()
        self.clock_changes = [(0, self.hclk_hz)]

    def _kind_at(self, addr: int) -> str | None:
        for lo, hi, _name, kind in self.regions:
            if lo <= addr < hi:
                return kind
        return None

    def _read32(self, addr: int) -> int:
        return int.from_bytes(bytes(self.uc.mem_read(addr, 4)), "little")

    @property
    def cycles(self) -> int:
        """Cycles executed so far (the model's clock; DWT_CYCCNT derives from it)."""
        return self.engine.get_cycles()

    def run(self, max_cycles: int | None = None) -> RunResult:
        """Run until the program halts (BKPT, semihosting exit, fault, WFI with nothing to
        wake it, waiting for input that will not come) or ``max_cycles`` is reached."""
        t0 = time.perf_counter()
        self._run_thread = threading.get_ident()
        self._ended_at = None
        try:
            return self._run(max_cycles, t0)
        finally:
            self._run_thread = None
            self._ended_at = time.monotonic()

    def _run(self, max_cycles: int | None, t0: float) -> RunResult:
        from unicorn import UcError
        from unicorn.arm_const import UC_ARM_REG_PC

        self.engine.set_limit(max_cycles if max_cycles is not None else 1 << 62)
        self._stop = None
        idle = 0
        last = None
        uc = self.uc
        if self.fast_registers:          # the zero-copy view: R15 is the PC between runs
            regs = self.engine.regs

            def read_pc() -> int:
                return regs[15]
        else:
            def read_pc() -> int:
                return uc.reg_read(UC_ARM_REG_PC)
        while self._stop is None:
            try:
                uc.emu_start(read_pc() | 1, 0xFFFFFFFF)
            except UcError as e:
                if self._handle_uc_error(e):
                    continue
            if self._hook_error is not None:
                err, self._hook_error = self._hook_error, None
                raise err
            # unicorn returns from emu_start when a hook rewrote PC (exception entry/return)
            # or the core slept in WFI; resume, unless nothing moves any more
            now = (read_pc(), self.cycles)
            idle = idle + 1 if now == last else 0
            last = now
            if self._stop is None and idle >= 3:
                self._stop = ("stopped", "emulation made no progress", None)
        wall = time.perf_counter() - t0
        return self._result(wall)

    def request_stop(self, reason: str = "stopped", detail: str = "",
                     exit_code: int | None = None) -> None:
        """Stop the run at the next opportunity (any thread)."""
        if self._stop is None:
            self._stop = (reason, detail, exit_code)
        try:
            self.uc.emu_stop()
        except Exception:  # pragma: no cover
            pass
        with self._rx_cond:
            self._rx_cond.notify_all()
        self.engine.poke()

    def _result(self, wall: float) -> RunResult:
        from unicorn.arm_const import UC_ARM_REG_PC

        reason, detail, code = self._stop
        cycles = self.cycles
        st = self.stats()
        edges = list(self.marker_edges)
        return RunResult(
            board=self.board.id, cycles=cycles, instructions=st["instructions"], exit=reason,
            detail=detail, exit_code=code, pc=self.uc.reg_read(UC_ARM_REG_PC),
            uart=bytes(self.tx), semihosting=bytes(self.semihosting.output),
            gpio_edges=edges, gpio_windows=self.gpio_windows(),
            clock_hz=self.hclk_hz, time_s=self.seconds(cycles), warnings=list(self.warnings),
            wall_s=wall, stats=st)

    # -- time, clock, energy --------------------------------------------------------------------

    def set_clock(self, hz: int) -> None:
        if hz and hz != self.hclk_hz:
            self.hclk_hz = hz
            self.clock_changes.append((self.cycles, hz))
            self._configure_timing()
            self.engine.invalidate_blocks()

    def clock_at(self, cycle: int) -> int:
        hz = self.clock_changes[0][1]
        for c, h in self.clock_changes:
            if c <= cycle:
                hz = h
        return hz

    def seconds(self, cycles: int) -> float:
        """Wall time of the first ``cycles`` cycles, following the recorded clock changes."""
        total = 0.0
        changes = self.clock_changes + [(cycles, 0)]
        for (c0, hz), (c1, _) in zip(changes, changes[1:]):
            if c1 > c0:
                total += (min(c1, cycles) - c0) / hz
        return total

    def _on_marker(self, level: bool) -> None:
        self.marker_edges.append((self.now(), level))

    def gpio_windows(self) -> list[GpioWindow]:
        """Marker windows: from each edge to the active level to the next edge away from it."""
        active = self.board.marker.active_high
        out = []
        start = None
        for c, level in self.marker_edges:
            if level == active and start is None:
                start = c
            elif level != active and start is not None:
                hz = self.clock_at(start)
                out.append(GpioWindow(start, c, hz, self.power.energy_uj(c - start, hz)))
                start = None
        return out

    # -- peripherals' host interface -------------------------------------------------------------

    def irq_changed(self) -> None:
        self.engine.poke()

    def reschedule(self) -> None:
        self.engine.poke()

    def timing_changed(self) -> None:
        self._configure_timing()
        self.engine.invalidate_blocks()
        if self.flash_if.acr & (1 << self.acr_bits.get("icrst", 99)) or \
                self.flash_if.acr & (1 << self.acr_bits.get("artrst", 99)):
            if "art_i" in self._caches:
                self._caches["art_i"].flush()
        if self.flash_if.acr & (1 << self.acr_bits.get("dcrst", 99)) and "art_d" in self._caches:
            self._caches["art_d"].flush()

    def invalidate_flash_cache(self) -> None:
        """The U5 ICACHE was invalidated (CACHEINV, or disabled): empty its model."""
        if "icache" in self._caches:
            self.engine.sync()
            self._caches["icache"].flush()

    def invalidate_icache(self) -> None:
        if "l1_i" in self._caches:
            self._caches["l1_i"].flush()

    def dwt_state_changed(self) -> None:
        self.dwt.update(self.now(), self.scs)

    def ccsidr(self, icache: int) -> int:
        cc = self.board.cpu_cache
        if cc is None:
            return 0
        size, ways = (cc.icache_bytes, cc.icache_ways) if icache else (cc.dcache_bytes,
                                                                       cc.dcache_ways)
        sets = size // (ways * cc.line_bytes)
        return 0xF0000000 | (sets - 1) << 13 | (ways - 1) << 3 | ((cc.line_bytes // 4).bit_length()
                                                                   - 1 - 2)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning("%s", message)

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warn(message)

    # -- exceptions ----------------------------------------------------------------------------

    def pending_irq_set(self) -> set[int]:
        s = set(self.scs.pending_irqs)
        if self.uart_irq >= 0 and self.uart.irq_level():
            s.add(self.uart_irq)
        return s

    def active_exceptions(self) -> list[int]:
        return [n for n, _ in self._exc_stack]

    def _pending_any(self) -> bool:
        return bool(self.scs.pending_exc) or bool(self.pending_irq_set() & self.scs.enabled_irqs)

    def _deliverable(self) -> int | None:
        """The exception to take now, or None (no nesting: only from thread mode)."""
        if self._exc_stack:
            return None
        cands = set(self.scs.pending_exc)
        cands |= {16 + n for n in self.pending_irq_set() & self.scs.enabled_irqs}
        if not cands:
            return None
        from unicorn.arm_const import UC_ARM_REG_PRIMASK
        if self.uc.reg_read(UC_ARM_REG_PRIMASK) & 1:
            return None
        return min(cands, key=lambda n: (self._priority(n), n))

    def _priority(self, n: int) -> int:
        if n >= 16:
            return self.scs.priorities.get(n - 16, 0)
        shpr = self.scs.regs.get(0xE000ED18 + ((n - 4) & ~3), 0)
        return (shpr >> (8 * ((n - 4) & 3))) & 0xFF

    def _next_event_after(self, c: int, limit: int) -> int:
        nxt = limit
        st = self.scs.systick
        if st.enabled and st.ctrl & 2:
            t = st.next_expiry(c + 1)
            if t is not None and t < nxt:
                nxt = t
        return nxt

    def _take_exception(self, num: int, return_addr: int) -> None:
        """Exception entry at a block boundary (ARMv7-M B1.5.6): push the basic frame, set LR
        to EXC_RETURN, IPSR, PC from the vector table.  FP registers are saved host-side."""
        from unicorn.arm_const import (UC_ARM_REG_FPSCR, UC_ARM_REG_LR, UC_ARM_REG_PC,
                                       UC_ARM_REG_R0, UC_ARM_REG_R12, UC_ARM_REG_S0,
                                       UC_ARM_REG_SP, UC_ARM_REG_XPSR)
        uc = self.uc
        if num >= 16:
            self.scs.pending_irqs.discard(num - 16)
        else:
            self.scs.pending_exc.discard(num)
        sp = uc.reg_read(UC_ARM_REG_SP)
        xpsr = uc.reg_read(UC_ARM_REG_XPSR)
        realign = sp & 4
        sp = (sp & ~7) - 32
        frame = [uc.reg_read(UC_ARM_REG_R0 + i) for i in range(4)] + [
            uc.reg_read(UC_ARM_REG_R12), uc.reg_read(UC_ARM_REG_LR), return_addr & ~1,
            (xpsr | (1 << 9 if realign else 0)) | 0x01000000]
        uc.mem_write(sp, struct.pack("<8I", *[v & 0xFFFFFFFF for v in frame]))
        fp = None
        if self.scs.fpu_enabled:
            fp = [uc.reg_read(UC_ARM_REG_S0 + i) for i in range(16)] + [
                uc.reg_read(UC_ARM_REG_FPSCR)]
        self._exc_stack.append((num, fp))
        vector = self._read32(self.scs.vtor + 4 * num)
        uc.reg_write(UC_ARM_REG_SP, sp)
        uc.reg_write(UC_ARM_REG_LR, 0xFFFFFFF9)
        uc.reg_write(UC_ARM_REG_XPSR, (xpsr & ~0x1FF & ~(3 << 25) & ~(0x3F << 10)) | num)
        self.engine.add_cycles(EXCEPTION_ENTRY_CYCLES, vector)
        uc.reg_write(UC_ARM_REG_PC, vector | 1)

    def _exception_return(self) -> None:
        from unicorn.arm_const import (UC_ARM_REG_FPSCR, UC_ARM_REG_LR, UC_ARM_REG_PC,
                                       UC_ARM_REG_R0, UC_ARM_REG_R12, UC_ARM_REG_S0,
                                       UC_ARM_REG_SP, UC_ARM_REG_XPSR)
        uc = self.uc
        sp = uc.reg_read(UC_ARM_REG_SP)
        frame = struct.unpack("<8I", bytes(uc.mem_read(sp, 32)))
        for i in range(4):
            uc.reg_write(UC_ARM_REG_R0 + i, frame[i])
        uc.reg_write(UC_ARM_REG_R12, frame[4])
        uc.reg_write(UC_ARM_REG_LR, frame[5])
        xpsr = frame[7]
        sp += 32 + (4 if xpsr & (1 << 9) else 0)
        uc.reg_write(UC_ARM_REG_SP, sp)
        uc.reg_write(UC_ARM_REG_XPSR, xpsr & ~(1 << 9))
        _num, fp = self._exc_stack.pop()
        if fp is not None:
            for i in range(16):
                uc.reg_write(UC_ARM_REG_S0 + i, fp[i])
            uc.reg_write(UC_ARM_REG_FPSCR, fp[16])
        self.engine.add_cycles(EXCEPTION_RETURN_CYCLES, frame[6])
        uc.reg_write(UC_ARM_REG_PC, frame[6] | 1)
        self.engine.poke()

    def _on_interrupt(self, uc, intno: int, ud) -> None:
        from unicorn.arm_const import UC_ARM_REG_PC, UC_ARM_REG_R0, UC_ARM_REG_R1

        self.engine.sync()
        pc = uc.reg_read(UC_ARM_REG_PC)
        if intno == 8 and self._exc_stack:                 # EXC_RETURN branch
            self._exception_return()
            return
        if intno == 7:                                     # BKPT: PC is on the instruction
            imm = bytes(uc.mem_read(pc, 2))[0]
            if imm == 0xAB:
                op = uc.reg_read(UC_ARM_REG_R0)
                arg = uc.reg_read(UC_ARM_REG_R1)
                r0, code = self.semihosting.call(
                    op, arg, lambda a, n: bytes(uc.mem_read(a, n)),
                    lambda a, d: uc.mem_write(a, d), self.seconds(self.cycles))
                uc.reg_write(UC_ARM_REG_R0, r0)
                if code is not None:
                    self.request_stop("semihosting-exit", f"exit code {code}", code)
                    return
                uc.reg_write(UC_ARM_REG_PC, (pc + 2) | 1)
                return
            self.request_stop("bkpt", f"BKPT #{imm} at 0x{pc:08X}", imm)
            return
        if intno == 2:                                      # SVC: PC is past the instruction
            self._take_exception(SVCALL_EXCEPTION, pc)
            return
        causes = {1: "undefined instruction (UsageFault UNDEFINSTR)",
                  3: "instruction fetch fault (prefetch abort)",
                  4: "data access fault (BusFault)",
                  8: "exception return outside a handler (INVPC)",
                  17: "coprocessor access while disabled (UsageFault NOCP)",
                  18: "invalid state: branch to an address with the Thumb bit clear "
                      "(UsageFault INVSTATE)",
                  22: "unaligned access not allowed here (UsageFault UNALIGNED)"}
        self._fault = FaultError(pc & ~1, causes.get(intno, f"CPU exception {intno}"))
        self.request_stop("fault", str(self._fault))

    def _on_invalid_access(self, uc, access: int, address: int, size: int, value: int,
                           ud) -> bool:
        import unicorn as U
        self.engine.sync()
        kind, prot = {U.UC_MEM_READ_UNMAPPED: ("read", False),
                      U.UC_MEM_WRITE_UNMAPPED: ("write", False),
                      U.UC_MEM_FETCH_UNMAPPED: ("fetch", False),
                      U.UC_MEM_READ_PROT: ("read", True),
                      U.UC_MEM_WRITE_PROT: ("write", True),
                      U.UC_MEM_FETCH_PROT: ("fetch", True)}.get(access, ("access", False))
        self._invalid_access = (kind, address & 0xFFFFFFFF, size, prot)
        self._fault_pc = None
        if kind != "fetch":
            self.engine.mmio_addr = address & 0xFFFFFFFF
            self.engine.loc_pc = None
            try:
                self.now()
                self._fault_pc = self.engine.loc_pc
            except Exception:
                self._fault_pc = None
        return False

    def _handle_uc_error(self, e) -> bool:
        """Turn a unicorn error into a stop reason; True if the run can continue."""
        from unicorn import (UC_ERR_EXCEPTION, UC_ERR_FETCH_PROT, UC_ERR_FETCH_UNMAPPED,
                             UC_ERR_INSN_INVALID, UC_ERR_READ_PROT, UC_ERR_READ_UNMAPPED,
                             UC_ERR_WRITE_PROT, UC_ERR_WRITE_UNMAPPED)
        from unicorn.arm_const import UC_ARM_REG_PC

        self.engine.sync()
        pc = self.uc.reg_read(UC_ARM_REG_PC) & ~1
        if e.errno == UC_ERR_INSN_INVALID and self.m7:
            from calibration.vboard import vfp64
            if vfp64.emulate(self.uc, pc):
                return True
        if self._stop is not None and self._stop[0] == "fault":
            return False
        acc = self._invalid_access
        refused = (e.errno == UC_ERR_EXCEPTION and self._tlb is not None
                   and self._tlb.denied is not None)       # a fetch the TLB fill refused
        if refused:
            acc = ("fetch", self._tlb.denied, 2, True)
        if acc and (refused or e.errno in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED,
                                           UC_ERR_FETCH_UNMAPPED, UC_ERR_READ_PROT,
                                           UC_ERR_WRITE_PROT, UC_ERR_FETCH_PROT)):
            kind, address, size, prot = acc
            if kind == "fetch" and address <= pc < address + self.uc.ctl_get_page_size():
                address = pc                      # the TLB saw the page, the PC is exact
            region = self._kind_at(address)
            if kind == "fetch":
                what = (f"instruction fetch from 0x{address:08X}"
                        + (" (execute-never region)" if prot else " (unmapped address)"))
                pc = address
            elif prot and region == "flash":
                what = (f"{kind} of {size} byte{'' if size == 1 else 's'} to flash at "
                        f"0x{address:08X} (flash is read-only)")
            else:
                what = (f"{kind} of {size} byte{'' if size == 1 else 's'} at 0x{address:08X} "
                        + ("(access not permitted)" if prot else "(unmapped address)"))
            cause = f"bad address: {what}"
            loc_pc = self._fault_location()
            if loc_pc is not None and kind != "fetch":
                pc = loc_pc
        elif e.errno == UC_ERR_INSN_INVALID:
            raw = bytes(self.uc.mem_read(pc, 4)) if self._kind_at(pc) else b""
            txt = ""
            if raw:
                ins = decode_block(raw, pc)[0]
                txt = f" ({ins.text})" if ins.name != "UNKNOWN" else f" (0x{raw[:2][::-1].hex()})"
                if ins.double and not self.m7:
                    core = {"cortex-m33": "Cortex-M33"}.get(self.core, "Cortex-M4")
                    txt += f"; double precision is not in the {core} FPU"
            cause = f"invalid instruction{txt}"
        else:
            cause = f"emulator error: {e}"
        self._fault = FaultError(pc, cause)
        self._stop = ("fault", str(self._fault), None)
        return False

    def _fault_location(self) -> int | None:
        """PC of the instruction in the current block whose address matched the bad access."""
        return getattr(self, "_fault_pc", None)

    @property
    def fault(self) -> FaultError | None:
        """The fault that stopped the last run, if any."""
        return self._fault


def _subtract(lo: int, hi: int, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``[lo, hi)`` minus the ``holes``, as a list of 1 KiB-aligned ranges."""
    out = [(lo, hi)]
    for a, b in holes:
        nxt = []
        for x, y in out:
            if b <= x or a >= y:
                nxt.append((x, y))
                continue
            if x < a:
                nxt.append((x, a))
            if b < y:
                nxt.append((b, y))
        out = nxt
    return [(x, y) for x, y in out if y > x]


def run_image(board, image, *, max_cycles: int | None = None, uart_input: bytes = b"",
              configured: bool = False) -> RunResult:
    """Convenience: load ``image`` on ``board``, queue ``uart_input``, run, return the result."""
    m = Machine(board, image, configured=configured)
    if uart_input:
        m.uart_send(uart_input)
    return m.run(max_cycles)


__all__ = ["GpioWindow", "Machine", "RunResult", "board_extras", "run_image"]
