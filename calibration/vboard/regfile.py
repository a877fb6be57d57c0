"""Fast read access to the emulated core registers R0..R15.

``Uc.reg_read`` costs about 1-2 us per call from Python (ctypes marshalling); the cycle model
reads base registers at every block entry, so that would dominate.  Unicorn keeps the guest
registers of the ARM core in one array of 16 ``uint32`` inside its CPU state
(``CPUARMState.regs``).  :func:`register_view` finds that array once by writing distinctive
values into R0..R12 and searching the process's anonymous memory for them, checks the find by
writing a second pattern, and returns a ctypes array aliasing it.  Indexing it costs ~50 ns.

The search reads all of the process's anonymous memory (some 150 ms in a calibration worker),
so it runs once per process: it also learns where the array lies from the engine's handle
(a pointer in unicorn's ``uc_struct``, the CPU object, plus a fixed distance to the array;
candidates are the handle's pointer-sized words that point at most 1 MiB below the array), and
the next machines find their array through the first candidate that passes the same two-pattern
check, searching again only when none does.

Contract: the values are valid whenever unicorn has synchronised its register globals to the
CPU state, which is the case at block entry (UC_HOOK_BLOCK callbacks), inside MMIO callbacks
(TCG syncs globals before every memory operation with side effects) and after ``emu_start``
returns.  PC (index 15) is only up to date at block entry.  Nothing is ever written through the
view.  If the array cannot be found (another unicorn build, another OS), :func:`register_view`
returns a slower object with the same indexing interface that calls ``uc_reg_read``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct

log = logging.getLogger(__name__)

_MAX_SCAN_BYTES = 256 << 20


class _SlowRegisters:
    """Fallback: ``regs[i]`` calls ``uc.reg_read`` for core register ``i``."""

    def __init__(self, uc) -> None:
        from unicorn.arm_const import UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_R0, UC_ARM_REG_SP
        self._uc = uc
        self._ids = [UC_ARM_REG_R0 + i for i in range(13)] + [UC_ARM_REG_SP, UC_ARM_REG_LR,
                                                              UC_ARM_REG_PC]

    def __getitem__(self, i: int) -> int:
        return self._uc.reg_read(self._ids[i])


def _patterns(seed: int) -> list[int]:
    return [(0x9E3779B9 * (i + 1) ^ seed) & 0xFFFFFFFF for i in range(13)]


#: Where the register array lies from the engine's handle, learnt from this process's first
#: search: (offset of a pointer in ``uc_struct``, distance from its target to the array).
_routes: list[tuple[int, int]] = []

#: How much of ``uc_struct`` is read for pointers, and how far below the array they may point.
_HANDLE_BYTES = 4096
_MAX_DISTANCE = 1 << 20


def register_view(uc):
    """A ``memoryview`` of 16 ``uint32`` aliasing the core registers of ``uc`` (see module doc),
    or a slower stand-in with the same ``[i]`` interface."""
    from unicorn.arm_const import UC_ARM_REG_R0

    saved = [uc.reg_read(UC_ARM_REG_R0 + i) for i in range(13)]
    handle = _handle(uc)
    try:
        found = _by_route(uc, handle)
        if found is None:
            found = _search(uc)
            if found is not None and handle:
                _learn(handle, found)
    except Exception as e:  # pragma: no cover - platform dependent
        log.debug("register view search failed: %s", e)
        found = None
    finally:
        for i, v in enumerate(saved):
            uc.reg_write(UC_ARM_REG_R0 + i, v)
    if found is None:
        log.info("fast register view unavailable; using uc.reg_read")
        return _SlowRegisters(uc)
    arr = (ctypes.c_uint32 * 16).from_address(found)
    view = memoryview(arr).cast("B").cast("I")      # indexing a memoryview is faster
    return view


def _write(uc, values: list[int]) -> bytes:
    """Set R0..R12 to ``values``; their bytes as the array holds them."""
    from unicorn.arm_const import UC_ARM_REG_R0

    for i, v in enumerate(values):
        uc.reg_write(UC_ARM_REG_R0 + i, v)
    return struct.pack("<13I", *values)


def _search(uc) -> int | None:
    """The array's address by searching memory (one candidate must pass both patterns)."""
    needle = _write(uc, _patterns(0x5A5AA5A5))
    candidates = _scan(needle)
    # ``needle`` stays alive meanwhile: freed, its memory (a candidate) could take the next
    # bytes object of the same size, the second pattern
    want = _write(uc, _patterns(0x0F1E2D3C))
    confirmed = [a for a in candidates if _read(a, len(want)) == want]
    del needle
    if len(confirmed) != 1:
        log.debug("register view: %d confirmed candidates", len(confirmed))
        return None
    return confirmed[0]


def _confirmed(uc, address: int) -> bool:
    """Whether ``address`` holds R0..R12 of ``uc``: two patterns written and read back."""
    for seed in (0x5A5AA5A5, 0x0F1E2D3C):
        want = _write(uc, _patterns(seed))
        if _read(address, len(want)) != want:
            return False
    return True


def _handle(uc) -> int:
    """The address of unicorn's ``uc_struct`` behind ``uc`` (0 if it cannot be had)."""
    h = getattr(uc, "_uch", None)
    value = getattr(h, "value", h)
    return value if isinstance(value, int) else 0


def _words(handle: int) -> list[int]:
    """The pointer-sized words at the start of ``uc_struct`` (fewer when memory ends)."""
    for n in (_HANDLE_BYTES, _HANDLE_BYTES // 4, 256):
        data = _read(handle, n)
        if data is not None and len(data) == n:
            return list(struct.unpack(f"<{n // 8}Q", data))
    return []


def _learn(handle: int, address: int) -> None:
    """Remember every (word offset, distance) of ``handle``'s words that point at most
    :data:`_MAX_DISTANCE` below ``address``."""
    _routes[:] = [(8 * k, address - p) for k, p in enumerate(_words(handle))
                  if 0 <= address - p < _MAX_DISTANCE]


def _by_route(uc, handle: int) -> int | None:
    """The array's address through the first learnt route that passes the check (moved to the
    front), or ``None``."""
    if not handle or not _routes:
        return None
    words = _words(handle)
    for k, (offset, distance) in enumerate(_routes):
        if offset // 8 >= len(words):
            continue
        address = words[offset // 8] + distance
        if _confirmed(uc, address):
            _routes.insert(0, _routes.pop(k))
            return address
    return None


def _read(address: int, n: int) -> bytes | None:
    """``n`` bytes at ``address`` through ``/proc/self/mem`` (``None`` when unmapped): a
    candidate found by :func:`_scan` may be a stale copy in memory another thread frees before
    it is checked, which a pointer read would turn into a segmentation fault."""
    try:
        mem = os.open("/proc/self/mem", os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.pread(mem, n, address)
    except OSError:
        return None
    finally:
        os.close(mem)


def _scan(needle: bytes) -> list[int]:
    """Addresses of ``needle`` in the readable, private, anonymous mappings of this process.

    The mappings are read through ``/proc/self/mem``, not by dereferencing them: another thread
    may unmap a region between reading ``/proc/self/maps`` and reading the region, which a
    pointer read turns into a segmentation fault and ``/proc/self/mem`` into an ``OSError``."""
    hits = []
    try:
        with open("/proc/self/maps") as f:
            maps = f.read().splitlines()
        mem = os.open("/proc/self/mem", os.O_RDONLY)
    except OSError:
        return hits
    try:
        for line in maps:
            parts = line.split()
            if len(parts) < 5:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            name = parts[5] if len(parts) > 5 else ""
            if not perms.startswith("rw") or perms[3] != "p":
                continue
            if name and name != "[heap]":
                continue
            if hi - lo > _MAX_SCAN_BYTES:
                continue
            try:
                data = os.pread(mem, hi - lo, lo)
            except OSError:         # unmapped meanwhile
                continue
            i = data.find(needle)
            while i >= 0:
                if i % 4 == 0:
                    hits.append(lo + i)
                i = data.find(needle, i + 1)
    finally:
        os.close(mem)
    return hits
