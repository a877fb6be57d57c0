"""The native cycle engine: the hot path of :class:`~calibration.vboard.engine.CycleEngine` in
compiled code (``calibration/vboard/native/tmv_engine.c``), called by unicorn directly as its
``UC_HOOK_BLOCK`` callback, with no Python frame per block.

:class:`NativeEngine` is a :class:`CycleEngine` whose hot state lives in a C structure
(:class:`EngineStruct`, mirrored field by field): ``cycles``, ``entry``, ``prev``,
``next_event``, ``unaligned_cycles``, ``mispredicts``, the ``fast_*`` state and the BTAC are
properties reading and writing it, so every handler of the Python engine (``now``, ``event``,
``wfi``, ``fetch_slow``, ``sync`` over flash data streams, ``add_cycles``, ``stats``...) runs
unchanged on the same state.  The C hook handles known blocks (branch cost and Cortex-M7 BTAC
prediction, instruction fetch through the fetch caches, static cost, access groups with the data
cache, counting, the self-loop fast path with its flash data streams) and calls back into Python
(:meth:`NativeEngine._slow`) only for what is rare: translating a block (then registered in C by
:meth:`NativeEngine.translate`), WFI, events (cycle limit, SysTick, pending exceptions, stop
requests), and arming a loop with more than :data:`MAX_STREAMS` flash streams.  The caches are
:class:`NativeLineCache`, a :class:`~calibration.vboard.timing.LineCache` with its tags in C.

:class:`NativeUart` is the machine's console UART under this engine: the receive path, the NVIC's
clear-pending writes, the WFI wake-up and the event a change of the UART's line asks for are
decided in C (``native/tmv_uart.c``), everything else in the Python devices.

Block records stay the Python lists of engine.py with one more slot, :data:`B_ID` (the C record);
a record's executions are its list count plus its C count (:meth:`NativeEngine.block_count`).

:func:`load_library` builds the library with :func:`calibration.hostbuild.build_shared_library`
(cached by fingerprint); :func:`native_available` says whether that worked, and why not.
The Python engine stays the reference: tests/vboard compare both cycle for cycle.
"""

from __future__ import annotations

import ctypes
import weakref
from pathlib import Path
from typing import Any

from calibration.vboard.engine import (B_BRANCH, B_COUNT, B_DYN, B_DYN2, B_ENTRY, B_FALL,
                                       B_FAST, B_FCACHE, B_FEPOCH, B_FLINES, B_LOOPOK, B_LOOPX,
                                       B_NINSN, B_SIZE, B_STATIC, B_TAKEN, B_WFI, CycleEngine)
from calibration.vboard.errors import VboardError
from calibration.vboard.peripherals import Uart
from calibration.vboard.timing import cache_geometry

#: The C source of the native engine.
SOURCE: Path = Path(__file__).resolve().parent / "native" / "tmv_engine.c"
#: The virtual board's TLB fill (:class:`NativeTlb`), built into the same library.
TLB_SOURCE: Path = Path(__file__).resolve().parent / "native" / "tmv_tlb.c"
#: The UART's receive path and the NVIC's clear-pending registers (:class:`NativeUart`), built
#: into the same library.
UART_SOURCE: Path = Path(__file__).resolve().parent / "native" / "tmv_uart.c"
#: Range pairs a :class:`TlbStruct` holds per kind (``TMV_TLB_RANGES``).
TLB_RANGES = 16
#: Compiler flags of the native engine.
CFLAGS: tuple[str, ...] = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror")
#: Index of the C record id appended to a block record (after engine.py's ``B_*``).
B_ID = 21

_I64 = ctypes.c_int64
_P = ctypes.c_void_p
#: The Python callback the C hook calls for rare events: (kind, a, b, c) -> int64.
SLOW_FN = ctypes.CFUNCTYPE(_I64, _I64, _I64, _I64, _I64)
#: Its kinds (``TMV_SLOW_*`` in tmv_engine.c).
SLOW_TRANSLATE, SLOW_SYNC, SLOW_WFI, SLOW_EVENT, SLOW_ARM = 1, 2, 3, 4, 5
_BRANCH_KINDS = {"direct": 1, "cond": 2, "indirect": 3}
_NO_LOOPX = -(1 << 63)


class NativeEngineError(VboardError):
    """The native engine cannot be built or loaded (the message says why)."""


class CacheStruct(ctypes.Structure):
    """``tmv_cache`` of tmv_engine.c."""
    _fields_ = [("epoch", _I64), ("hits", _I64), ("misses", _I64), ("mru", _I64),
                ("sets", _I64), ("ways", _I64), ("shift", _I64),
                ("tags", ctypes.POINTER(_I64)), ("fill", ctypes.POINTER(_I64))]


class GroupStruct(ctypes.Structure):
    """``tmv_group`` of tmv_engine.c: an access group (``B_DYN``: ``index`` -1, ``table`` the
    id of its cost table; ``B_DYN2``: ``unal`` the unaligned cycles by address mod 4)."""
    _fields_ = [*((name, _I64) for name in ("base", "index", "shift", "lo", "hi", "loads",
                                            "stride", "table")),
                ("unal", _I64 * 4)]


class BlockStruct(ctypes.Structure):
    """``tmv_block`` of tmv_engine.c: the C record of a block (the static fields mirror the
    ``B_*`` slots of engine.py; ``count``, ``fepoch``, ``loopx`` are its dynamic state)."""
    _fields_ = [*((name, _I64) for name in ("addr", "size", "fall", "static_cycles", "taken",
                                            "entry", "wfi", "count", "ninsn", "has_flines",
                                            "fepoch", "fill", "nflines")),
                ("flines", ctypes.POINTER(_I64)), ("fcache", ctypes.POINTER(CacheStruct)),
                ("ndyn", _I64), ("ndyn2", _I64),
                ("dyn", ctypes.POINTER(GroupStruct)), ("dyn2", ctypes.POINTER(GroupStruct)),
                *((name, _I64) for name in ("loopx", "loopx_valid", "loopok", "fast", "br_has",
                                            "br_pc", "br_kind", "br_backward", "br_penalty"))]


#: The state fields at the start of ``tmv_engine`` (``prev`` and ``fast_b`` are record ids,
#: ``fast_stream`` says whether Python armed a loop over flash data streams).
STATE_FIELDS = ("cycles", "entry", "prev", "next_event", "unaligned_cycles", "mispredicts",
                "fast_addr", "fast_size", "fast_n", "fast_budget", "fast_d", "fast_tail",
                "fast_extra", "fast_b", "fast_total", "fast_stream", "fast_nstreams")
#: ``fetch_mark`` of the C state when there is none (Python: None).
NO_MARK = -(1 << 63)
#: Flash data streams the C fast path replays itself (``TMV_MAX_STREAMS``).
MAX_STREAMS = 16


class MapStruct(ctypes.Structure):
    """``tmv_map`` of tmv_engine.c: an open-addressed map (the block index, the BTAC)."""
    _fields_ = [("keys", _P), ("vals", _P), ("width", _I64), ("cap", _I64), ("used", _I64)]


class EngineStruct(ctypes.Structure):
    """``tmv_engine`` of tmv_engine.c."""
    _fields_ = [*((name, _I64) for name in STATE_FIELDS),
                ("stream_lo", _I64 * MAX_STREAMS), ("stream_hi", _I64 * MAX_STREAMS),
                ("stream_s", _I64 * MAX_STREAMS),
                ("last_fetch_line", _I64), ("fetch_mark", _I64), ("nstalls", _I64),
                ("stall_addr", ctypes.POINTER(_I64)), ("stall_k", ctypes.POINTER(_I64)),
                ("stall_cap", _I64),
                ("m7", _I64), ("flash_mask", _I64), ("data_miss", _I64), ("fetch_ws", _I64),
                ("prefetch", _I64),
                ("dcache", ctypes.POINTER(CacheStruct)),
                ("regs", _P), ("uc", _P), ("reg_read", _P), ("reg_ids", _I64 * 16),
                ("slow", SLOW_FN), ("slow_calls", _I64),
                ("blocks", ctypes.POINTER(BlockStruct)), ("nblocks", _I64), ("cap_blocks", _I64),
                ("index", MapStruct),
                ("tables", _P), ("ntables", _I64), ("cap_tables", _I64),
                ("btac", MapStruct), ("uart", _P), ("uart_event", _I64)]


class TlbStruct(ctypes.Structure):
    """``tmv_tlb`` of tmv_tlb.c."""
    _fields_ = [("nram", _I64), ("nmapped", _I64), ("nexec", _I64),
                ("ram", _I64 * (2 * TLB_RANGES)), ("mapped", _I64 * (2 * TLB_RANGES)),
                ("exec", _I64 * (2 * TLB_RANGES)),
                ("fetched", ctypes.POINTER(_I64)), ("nfetched", _I64), ("fetched_cap", _I64),
                ("denied", _I64),
                ("fetch_type", _I64), ("prot_all", _I64), ("prot_data", _I64),
                ("epsr_reg", _I64), ("epsr_value", _I64), ("reg_write", _P)]


class NativeTlb:
    """The TLB fill of :meth:`calibration.vboard.emulator.Machine._install_tlb` in compiled code
    (``tmv_tlb_fill``), installed on ``uc`` with unicorn's TLB switched to ``UC_TLB_VIRTUAL``.
    ``ram``, ``mapped`` and ``executable`` are ``[lo, hi)`` ranges (at most
    :data:`TLB_RANGES` each); ``epsr`` is the EPSR value a data fill writes back.  Raises
    :class:`NativeEngineError` when the library is unavailable (nothing is changed then)."""

    def __init__(self, uc, ram, mapped, executable, epsr: int) -> None:
        from unicorn import (UC_HOOK_TLB_FILL, UC_MEM_FETCH, UC_PROT_ALL, UC_PROT_READ,
                             UC_PROT_WRITE, UC_TLB_VIRTUAL)
        from unicorn.arm_const import UC_ARM_REG_EPSR
        from unicorn.unicorn_py3 import unicorn as _ucmod

        self._lib = load_library()
        st = TlbStruct()
        for name, ranges in (("ram", ram), ("mapped", mapped), ("exec", executable)):
            if len(ranges) > TLB_RANGES:
                raise NativeEngineError(f"native TLB: more than {TLB_RANGES} {name} ranges")
            setattr(st, "n" + name, len(ranges))
            arr = getattr(st, name)
            for i, (lo, hi) in enumerate(ranges):
                arr[2 * i], arr[2 * i + 1] = lo, hi
        st.denied = -1
        st.fetch_type, st.prot_all = UC_MEM_FETCH, UC_PROT_ALL
        st.prot_data = UC_PROT_READ | UC_PROT_WRITE
        st.epsr_reg, st.epsr_value = UC_ARM_REG_EPSR, epsr
        st.reg_write = ctypes.cast(_ucmod.uclib.uc_reg_write, _P).value
        self._st = st
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        hh = _ucmod.uc_hook_h()
        err = _ucmod.uclib.uc_hook_add(uc._uch, ctypes.byref(hh), UC_HOOK_TLB_FILL,
                                       ctypes.cast(self._lib.tmv_tlb_fill, _P),
                                       ctypes.cast(ctypes.pointer(st), _P),
                                       ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise VboardError(f"unicorn refused the TLB fill hook (error {err})")
        self._hook_handle = hh

    @property
    def denied(self) -> int | None:
        """The page of the last fetch the fill refused (``None``: none)."""
        return None if self._st.denied < 0 else int(self._st.denied)

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is not None and getattr(self, "_st", None) is not None:
            lib.tmv_tlb_free(ctypes.byref(self._st))


def _state(name: str) -> property:
    """The attribute ``name`` as the field of the same name of the object's C state (``_st``:
    the engine's ``tmv_engine``, the UART's ``tmv_uart``)."""
    return property(lambda self: getattr(self._st, name),
                    lambda self, v: setattr(self._st, name, v),
                    doc=f"``{name}``, held in C.")


#: The Python side of an MMIO access the C callbacks do not serve: (address, size) -> value,
#: and (address, size, value).
PY_READ_FN = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64)
PY_WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64)


class UartStruct(ctypes.Structure):
    """``tmv_uart`` of tmv_uart.c."""
    _fields_ = [*((name, _I64) for name in ("base", "v2", "o_cr1", "o_status", "o_rdr",
                                            "ue_bit", "cr1", "rdr", "tx_free_at", "polls",
                                            "no_pending_exc", "no_pending_irqs",
                                            "irq_enabled")),
                ("uc", _P), ("reg_read", _P), ("primask_reg", _I64),
                ("rx", _P), ("rx_head", _I64), ("rx_len", _I64), ("rx_cap", _I64),
                ("engine", _P), ("py_read", PY_READ_FN), ("py_write", PY_WRITE_FN),
                ("fast_accesses", _I64), ("fast_wfis", _I64)]


class MmioStruct(ctypes.Structure):
    """``tmv_mmio`` of tmv_uart.c: the user data of one mapped MMIO range."""
    _fields_ = [("base", _I64), ("uart", ctypes.POINTER(UartStruct))]


class NativeUart(Uart):
    """The console :class:`~calibration.vboard.peripherals.Uart` of a machine with the native
    engine: its state (``rdr``, ``tx_free_at``, ``polls``, a copy of CR1) lives in a C
    ``tmv_uart``, and every MMIO access of the machine first reaches the C callbacks of
    tmv_uart.c, which serve the receive path (status and data reads, the NVIC's clear-pending
    writes, WFI wake-ups) with the rule of this class and of :class:`SystemControl` and hand
    everything else to ``py_read`` / ``py_write``, the same Python dispatch as without them.
    Host bytes move from the machine's queue (``take_rx``) into C when a read finds none there.

    What the C side needs to know of the NVIC (nothing pending, the UART's interrupt enabled)
    the machine sets with :meth:`irq_state` whenever the NVIC's sets change."""

    tx_free_at = _state("tx_free_at")
    polls = _state("polls")

    def __init__(self, base: int, layout: str, is_lpuart: bool, clock_ratio: float, host,
                 rx_source, tx_sink, take_rx) -> None:
        self._lib = load_library()
        self._st = UartStruct()
        self._ptr = ctypes.pointer(self._st)
        weakref.finalize(self, self._lib.tmv_uart_free, self._ptr)
        super().__init__(base, layout, is_lpuart, clock_ratio, host, self._rx, tx_sink)
        self._source = rx_source
        self._take = take_rx
        self._ranges: list[MmioStruct] = []
        st = self._st
        st.base, st.v2, st.o_cr1, st.o_status, st.o_rdr, st.ue_bit = (
            base, int(self.v2), self.o_cr1, self.o_status, self.o_rdr, self.ue_bit)
        st.no_pending_exc = st.no_pending_irqs = 1

    @property
    def rdr(self) -> int | None:
        v = self._st.rdr
        return None if v < 0 else v

    @rdr.setter
    def rdr(self, v: int | None) -> None:
        self._st.rdr = -1 if v is None else v

    def write(self, addr: int, value: int, mask: int) -> None:
        super().write(addr, value, mask)
        if addr - self.base == self.o_cr1:
            self._st.cr1 = self.regs.get(self.o_cr1, 0)

    def _rx(self, block: bool) -> int | None:
        """The next host byte: the C buffer's, else the machine's (then the rest of its queue
        moves into C)."""
        b = self._lib.tmv_uart_pop(self._ptr)
        if b >= 0:
            return b
        b = self._source(block)
        if b is not None:
            rest = self._take()
            if rest and self._lib.tmv_uart_push(self._ptr, rest, len(rest)):
                raise MemoryError("native UART: receive buffer")
        return b

    def irq_state(self, no_pending_exc: bool, no_pending_irqs: bool, irq_enabled: bool) -> None:
        """The NVIC as the C side sees it: no exception pending, no interrupt pending by
        software, the UART's interrupt enabled."""
        st = self._st
        st.no_pending_exc = int(no_pending_exc)
        st.no_pending_irqs = int(no_pending_irqs)
        st.irq_enabled = int(irq_enabled)

    def attach(self, engine: Any) -> None:
        """Connect the engine (its C state) once it exists; the MMIO callbacks need it."""
        from unicorn.arm_const import UC_ARM_REG_PRIMASK
        from unicorn.unicorn_py3 import unicorn as _ucmod

        st = self._st
        st.engine = ctypes.cast(engine._ptr, _P)
        st.uc = engine.uc._uch
        st.reg_read = ctypes.cast(_ucmod.uclib.uc_reg_read, _P)
        st.primask_reg = UC_ARM_REG_PRIMASK
        engine._st.uart = ctypes.addressof(st)

    def map_mmio(self, uc, base: int, size: int, py_read, py_write) -> None:
        """Map ``[base, base + size)`` as MMIO served by the C callbacks; ``py_read(address,
        size)`` and ``py_write(address, size, value)`` serve what C does not (the same for every
        range; they must not raise)."""
        from unicorn.unicorn_py3 import unicorn as _ucmod

        st = self._st
        if not st.py_read:
            st.py_read = PY_READ_FN(py_read)
            st.py_write = PY_WRITE_FN(py_write)
        r = MmioStruct(base=base, uart=self._ptr)
        self._ranges.append(r)
        ud = ctypes.cast(ctypes.pointer(r), _P)
        err = _ucmod.uclib.uc_mmio_map(uc._uch, base, size,
                                       ctypes.cast(self._lib.tmv_mmio_read, _P), ud,
                                       ctypes.cast(self._lib.tmv_mmio_write, _P), ud)
        if err:
            raise VboardError(f"unicorn refused the MMIO range 0x{base:08X} (error {err})")

    def stats(self) -> dict[str, int]:
        """Accesses served in C and WFI wake-ups decided in C."""
        return {"uart_fast_accesses": self._st.fast_accesses,
                "uart_fast_wfis": self._st.fast_wfis}


_LIB: ctypes.CDLL | None = None
_LIB_ERROR: str | None = None


def load_library() -> ctypes.CDLL:
    """The native engine library, built on first use (cached by fingerprint, see
    :mod:`calibration.hostbuild`).  Raises :class:`NativeEngineError` when it cannot be built or
    loaded; the failure is remembered for the process."""
    global _LIB, _LIB_ERROR
    if _LIB is not None:
        return _LIB
    if _LIB_ERROR is not None:
        raise NativeEngineError(_LIB_ERROR)
    from calibration.hostbuild import build_shared_library
    from tinymodel.errors import TinymodelError
    try:
        path = build_shared_library("libtmv_engine.so", [SOURCE, TLB_SOURCE, UART_SOURCE],
                                    flags=CFLAGS, libs=())
        lib = ctypes.CDLL(str(path))
    except (TinymodelError, OSError) as e:
        _LIB_ERROR = f"native engine unavailable: {str(e).splitlines()[0]}"
        raise NativeEngineError(_LIB_ERROR) from None
    pe = ctypes.POINTER(EngineStruct)
    pc = ctypes.POINTER(CacheStruct)
    sigs = {
        "tmv_cache_access": (ctypes.c_int, [pc, _I64]),
        "tmv_cache_flush": (None, [pc]),
        "tmv_engine_init": (ctypes.c_int, [pe]),
        "tmv_engine_free": (None, [pe]),
        "tmv_table_add": (_I64, [pe, ctypes.POINTER(_I64)]),
        "tmv_block_add": (_I64, [pe, ctypes.POINTER(BlockStruct), ctypes.POINTER(GroupStruct),
                                 ctypes.POINTER(GroupStruct), ctypes.POINTER(_I64), pc]),
        "tmv_struct_sizes": (None, [_I64 * 5]),
        "tmv_stalls_reserve": (ctypes.c_int, [pe, _I64]),
        "tmv_block_fepoch": (_I64, [pe, _I64]),
        "tmv_blocks_clear": (None, [pe]),
        "tmv_set_pseudo": (None, [pe, _I64]),
        "tmv_block_count": (_I64, [pe, _I64]),
        "tmv_block_loopx": (_I64, [pe, _I64]),
        "tmv_sync": (None, [pe]),
        "tmv_btac_find": (_I64, [pe, _I64]),
        "tmv_btac_set": (ctypes.c_int, [pe, _I64, _I64, _I64]),
        "tmv_btac_clear": (None, [pe]),
        "tmv_btac_field": (_I64, [pe, _I64, _I64]),
        "tmv_btac_put_field": (None, [pe, _I64, _I64, _I64]),
        "tmv_btac_len": (_I64, [pe]),
        "tmv_tlb_free": (None, [ctypes.POINTER(TlbStruct)]),
        "tmv_tlb_size": (_I64, []),
        "tmv_uart_size": (_I64, []),
        "tmv_mmio_size": (_I64, []),
        "tmv_uart_free": (None, [ctypes.POINTER(UartStruct)]),
        "tmv_uart_push": (ctypes.c_int, [ctypes.POINTER(UartStruct), ctypes.c_char_p, _I64]),
        "tmv_uart_pop": (_I64, [ctypes.POINTER(UartStruct)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _LIB = lib
    return lib


def native_available() -> str | None:
    """None if the native engine can be used, else the reason (one line)."""
    try:
        load_library()
    except NativeEngineError as e:
        return str(e)
    return None


class NativeLineCache:
    """:class:`~calibration.vboard.timing.LineCache` with its state in a C ``tmv_cache`` (same
    interface: ``access``, ``flush``, ``epoch``, ``hits``, ``misses``, ``mru``, ``shift``), so the
    native hook looks lines up without Python."""

    __slots__ = ("sets", "ways", "shift", "_c", "_tags", "_fill", "_lib", "_access")

    def __init__(self, lines: int, ways: int, line_bytes: int) -> None:
        self.sets, self.shift = cache_geometry(lines, ways, line_bytes)
        self.ways = ways
        self._lib = load_library()
        self._tags = (_I64 * lines)()
        self._fill = (_I64 * self.sets)()
        self._c = CacheStruct(0, 0, 0, -1, self.sets, ways, self.shift,
                              ctypes.cast(self._tags, ctypes.POINTER(_I64)),
                              ctypes.cast(self._fill, ctypes.POINTER(_I64)))
        self._access = self._lib.tmv_cache_access

    @property
    def pointer(self) -> Any:
        """``tmv_cache *`` for the C engine."""
        return ctypes.pointer(self._c)

    def access(self, line: int) -> bool:
        """Look up ``line``; fill it on a miss.  Returns True on a hit."""
        return bool(self._access(ctypes.byref(self._c), line))

    def flush(self) -> None:
        """Invalidate everything."""
        self._lib.tmv_cache_flush(ctypes.byref(self._c))

    @property
    def data(self) -> list[list[int]]:
        """The lines of each set, least recently used first (a copy)."""
        w = self.ways
        return [[self._tags[s * w + i] for i in range(self._fill[s])] for s in range(self.sets)]

    def _get(name):     # noqa: N805 - property factory
        return property(lambda self: getattr(self._c, name),
                        lambda self, v: setattr(self._c, name, v))

    epoch = _get("epoch")
    hits = _get("hits")
    misses = _get("misses")
    mru = _get("mru")
    del _get


class _BtacEntry:
    """One BTAC entry of the C table, indexed like the Python engine's ``[counter, target]``."""

    __slots__ = ("_eng", "_pc")

    def __init__(self, eng: NativeEngine, pc: int) -> None:
        self._eng = eng
        self._pc = pc

    def __getitem__(self, k: int) -> int:
        e = self._eng
        return e._lib.tmv_btac_field(e._ptr, e._lib.tmv_btac_find(e._ptr, self._pc), k)

    def __setitem__(self, k: int, v: int) -> None:
        e = self._eng
        e._lib.tmv_btac_put_field(e._ptr, e._lib.tmv_btac_find(e._ptr, self._pc), k, v)


class _Btac:
    """The C BTAC with the interface of the Python engine's dict (``get``, ``[pc] = [c, t]``,
    ``clear``, ``len``)."""

    __slots__ = ("_eng",)

    def __init__(self, eng: NativeEngine) -> None:
        self._eng = eng

    def get(self, pc: int) -> _BtacEntry | None:
        e = self._eng
        return None if e._lib.tmv_btac_find(e._ptr, pc) < 0 else _BtacEntry(e, pc)

    def __setitem__(self, pc: int, value: list[int]) -> None:
        e = self._eng
        if e._lib.tmv_btac_set(e._ptr, pc, value[0], value[1]):
            raise MemoryError("native engine: BTAC")

    def clear(self) -> None:
        self._eng._lib.tmv_btac_clear(self._eng._ptr)

    def __len__(self) -> int:
        return self._eng._lib.tmv_btac_len(self._eng._ptr)


class NativeEngine(CycleEngine):
    """A :class:`CycleEngine` whose block hook is compiled code (see the module docstring).
    The machine must use :class:`NativeLineCache` caches."""

    __slots__ = ("_lib", "_st", "_ptr", "_recs", "_table_ids", "_stream", "_btac", "_slow_cb",
                 "__weakref__")

    cycles = _state("cycles")
    entry = _state("entry")
    next_event = _state("next_event")
    unaligned_cycles = _state("unaligned_cycles")
    mispredicts = _state("mispredicts")
    last_fetch_line = _state("last_fetch_line")
    fast_addr = _state("fast_addr")
    fast_size = _state("fast_size")
    fast_n = _state("fast_n")
    fast_budget = _state("fast_budget")
    fast_d = _state("fast_d")
    fast_tail = _state("fast_tail")
    fast_extra = _state("fast_extra")
    fast_total = _state("fast_total")

    def __init__(self, machine: Any, regs: Any, *, fast_path: bool) -> None:
        lib = load_library()
        self._lib = lib
        self._st = EngineStruct()
        self._ptr = ctypes.pointer(self._st)
        if lib.tmv_engine_init(self._ptr):
            raise MemoryError("native engine: out of memory")
        weakref.finalize(self, lib.tmv_engine_free, self._ptr)
        self._recs: list[list | None] = [None]
        self._table_ids: dict[int, int] = {}
        self._stream = None
        self._btac = _Btac(self)
        self._slow_cb = SLOW_FN(self._slow)
        st = self._st
        st.slow = self._slow_cb
        st.fast_b = -1
        super().__init__(machine, regs, fast_path=fast_path)
        st.m7 = int(self.m7)
        st.flash_mask = sum(1 << b for b in self.flash_buckets if 0 <= b < 32)
        st.uc = self.uc._uch
        from unicorn.arm_const import UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_R0, UC_ARM_REG_SP
        from unicorn.unicorn_py3 import unicorn as _ucmod
        st.reg_read = ctypes.cast(_ucmod.uclib.uc_reg_read, _P)
        for i, rid in enumerate([UC_ARM_REG_R0 + i for i in range(13)] +
                                [UC_ARM_REG_SP, UC_ARM_REG_LR, UC_ARM_REG_PC]):
            st.reg_ids[i] = rid
        obj = getattr(regs, "obj", None)
        st.regs = ctypes.addressof(obj) if isinstance(obj, ctypes.Array) else None
        self.configure()

    # -- the state that is not a plain integer -----------------------------------------------

    @property
    def prev(self) -> list:
        """The record of the block being executed (C: its id; id 0 is the pseudo block)."""
        return self._recs[self._st.prev]

    @prev.setter
    def prev(self, b: list) -> None:
        if len(b) > B_ID:
            self._st.prev = b[B_ID]
        else:
            self._lib.tmv_set_pseudo(self._ptr, b[B_FALL])
            self._recs[0] = b

    @property
    def fast_b(self) -> list | None:
        """The record of the armed self-loop (C: its id)."""
        i = self._st.fast_b
        return None if i < 0 else self._recs[i]

    @fast_b.setter
    def fast_b(self, b: list | None) -> None:
        self._st.fast_b = -1 if b is None else b[B_ID]

    @property
    def fast_stream(self) -> tuple | None:
        """Flash data streams of the armed loop (kept in Python; C knows only whether any, and
        arming in C clears that)."""
        return self._stream if self._st.fast_stream else None

    @fast_stream.setter
    def fast_stream(self, v: tuple | None) -> None:
        self._stream = v
        self._st.fast_stream = v is not None
        self._st.fast_nstreams = 0

    @property
    def fetch_mark(self) -> int | None:
        """The cycle right after the last block's fetch stalls (C; None: no block had any)."""
        v = self._st.fetch_mark
        return None if v == NO_MARK else v

    @fetch_mark.setter
    def fetch_mark(self, v: int | None) -> None:
        self._st.fetch_mark = NO_MARK if v is None else v

    @property
    def fetch_stalls(self) -> list[tuple[int, int]]:
        """``((line address, cycles), ...)`` of the last block's fetch stalls (C)."""
        st = self._st
        return [(st.stall_addr[i], st.stall_k[i]) for i in range(st.nstalls)]

    @fetch_stalls.setter
    def fetch_stalls(self, v) -> None:
        v = list(v)
        if self._lib.tmv_stalls_reserve(self._ptr, len(v)):
            raise MemoryError("native engine: fetch stalls")
        st = self._st
        for i, (a, k) in enumerate(v):
            st.stall_addr[i] = a
            st.stall_k[i] = k
        st.nstalls = len(v)

    @property
    def btac(self) -> _Btac:
        """The Cortex-M7 BTAC, held in C."""
        return self._btac

    @btac.setter
    def btac(self, v: dict) -> None:
        self._btac.clear()
        for pc, (cnt, tgt) in v.items():
            self._btac[pc] = [cnt, tgt]

    # -- installation and configuration ------------------------------------------------------

    def install(self) -> None:
        """Register the C hook ``tmv_hook_block`` as unicorn's ``UC_HOOK_BLOCK`` callback with
        the C engine state as its user data."""
        from unicorn import UC_HOOK_BLOCK
        from unicorn.unicorn_py3 import unicorn as _ucmod

        hh = _ucmod.uc_hook_h()
        err = _ucmod.uclib.uc_hook_add(self.uc._uch, ctypes.byref(hh), UC_HOOK_BLOCK,
                                       ctypes.cast(self._lib.tmv_hook_block, _P),
                                       ctypes.cast(self._ptr, _P),
                                       ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise VboardError(f"unicorn refused the block hook (error {err})")
        self._hook_handle = hh

    def configure(self) -> None:
        """Copy the machine's data-side timing (data cache, miss cycles) into the C state."""
        m = self.machine
        dc = m._data_cache
        self._st.dcache = dc.pointer if dc is not None else None
        self._st.data_miss = int(m._data_miss)
        self._st.fetch_ws = int(m._fetch_ws)
        self._st.prefetch = int(bool(m.fetch_prefetch))

    def invalidate_blocks(self) -> None:
        super().invalidate_blocks()
        self._lib.tmv_blocks_clear(self._ptr)
        self.configure()

    # -- records -----------------------------------------------------------------------------

    def block_count(self, b: list) -> int:
        """Executions of record ``b``: counted in Python (fast-path streams) plus in C."""
        n = b[B_COUNT]
        if len(b) > B_ID:
            n += self._lib.tmv_block_count(self._ptr, b[B_ID])
        return n

    def _table_id(self, tab: list[int]) -> int:
        k = id(tab)
        t = self._table_ids.get(k)
        if t is None:
            t = self._lib.tmv_table_add(self._ptr, (_I64 * 128)(*tab))
            if t < 0:
                raise MemoryError("native engine: access table")
            self._table_ids[k] = t
        return t

    def translate(self, addr: int, size: int) -> list:
        """:meth:`CycleEngine.translate`, then the record is registered in C (its id appended
        as :data:`B_ID`)."""
        rec = super().translate(addr, size)
        br = rec[B_BRANCH]
        fc = rec[B_FCACHE]
        fast = rec[B_FAST]
        dyn = [GroupStruct(base=base, index=-1, lo=lo, hi=hi, loads=loads,
                           stride=(fast[i][1] or 0) if fast else 0, table=self._table_id(tab))
               for i, (base, tab, lo, hi, loads) in enumerate(rec[B_DYN] or ())]
        dyn2 = [GroupStruct(base=base, index=index, shift=shift, lo=lo, hi=hi, loads=loads,
                            unal=(_I64 * 4)(*unal))
                for base, index, shift, unal, lo, hi, loads in rec[B_DYN2] or ()]
        flines = [x for line in rec[B_FLINES] or () for x in line]
        spec = BlockStruct(
            addr=addr, size=rec[B_SIZE], fall=rec[B_FALL], static_cycles=rec[B_STATIC],
            taken=rec[B_TAKEN], entry=rec[B_ENTRY], wfi=rec[B_WFI], ninsn=rec[B_NINSN],
            has_flines=rec[B_FLINES] is not None, nflines=len(flines) // 3,
            fill=fc is not None and fc is self.machine._caches.get("l1_i"),
            ndyn=len(dyn), ndyn2=len(dyn2), loopok=rec[B_LOOPOK], fast=fast is not None,
            br_has=br is not None)
        if br is not None:
            spec.br_pc, spec.br_kind, spec.br_backward, spec.br_penalty = (
                br[0], _BRANCH_KINDS.get(br[1], 0), br[2], br[3])
        rid = self._lib.tmv_block_add(self._ptr, ctypes.byref(spec),
                                      (GroupStruct * max(len(dyn), 1))(*dyn),
                                      (GroupStruct * max(len(dyn2), 1))(*dyn2),
                                      (_I64 * max(len(flines), 1))(*flines),
                                      fc.pointer if fc is not None else None)
        if rid < 0:
            raise MemoryError("native engine: block records")
        rec.append(rid)
        while len(self._recs) <= rid:
            self._recs.append(None)
        self._recs[rid] = rec
        return rec

    # -- the slow paths the C hook calls -------------------------------------------------------

    def _slow(self, kind: int, a: int, b: int, c: int) -> int:
        """The C hook's callback for rare events (never lets an exception escape into C: -1
        after :meth:`fail`)."""
        try:
            if kind == SLOW_EVENT:
                return 1 if self.event(a, b) else 0
            if kind == SLOW_TRANSLATE:
                return self.translate(a, b)[B_ID]
            if kind == SLOW_SYNC:
                CycleEngine.sync(self)
                return 0
            if kind == SLOW_WFI:
                c = self.wfi(a, b)
                return -1 if c is None else c
            if kind == SLOW_ARM:
                rec = self._recs[a]
                x = self._lib.tmv_block_loopx(self._ptr, a)
                rec[B_LOOPX] = None if x == _NO_LOOPX else x
                rec[B_FEPOCH] = self._lib.tmv_block_fepoch(self._ptr, a)
                self.arm(rec, b)
                return 0
            raise VboardError(f"native engine: unknown callback kind {kind}")
        except BaseException as e:  # never let an exception escape into C
            self.fail(e)
            return -1

    def sync(self) -> None:
        """Apply the iterations counted by the fast path (in C unless they read flash data
        through the data cache, which :meth:`CycleEngine.stream_replay` replays)."""
        if self._st.fast_stream and self._st.fast_addr != -1:
            CycleEngine.sync(self)
        else:
            self._lib.tmv_sync(self._ptr)

    def native_stats(self) -> dict[str, int]:
        """Counters of the native engine itself: Python callbacks and C block records."""
        return {"python_callbacks": self._st.slow_calls, "records": self._st.nblocks - 1}


__all__ = ["B_ID", "CFLAGS", "SOURCE", "CacheStruct", "EngineStruct", "MapStruct",
           "MmioStruct", "NativeEngine", "NativeEngineError", "NativeLineCache", "NativeUart",
           "UartStruct", "load_library", "native_available"]
