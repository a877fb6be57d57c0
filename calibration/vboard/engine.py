"""The cycle engine of the virtual board: the state of the cycle model and the handlers that
advance it, one per event kind.

:class:`CycleEngine` is created by :class:`calibration.vboard.emulator.Machine` and charges
cycles per translated block from a ``UC_HOOK_BLOCK`` callback: static cost from the core model
(:mod:`cortex_m4`, :mod:`cortex_m7`, :mod:`cortex_m33`), plus dynamic corrections for the branch outcome,
instruction fetch from flash (wait states, ART / L1 caches), data accesses to flash and
unaligned data accesses.  The events and their handlers:

==============================  ==============================================================
event                           handler
==============================  ==============================================================
block entry (the hot path)      :meth:`CycleEngine.on_block` (both cores; counts an armed
                                fast-path iteration, else charges the block)
first execution of a block      :meth:`CycleEngine.translate`
Cortex-M7 branch prediction     :meth:`CycleEngine.predict` (when the BTAC entry does not
                                already predict the outcome)
instruction fetch stalls        :meth:`CycleEngine.fetch_slow`
data access corrections         :meth:`CycleEngine.groups_cost`, :meth:`CycleEngine.dyn_slow`,
                                :meth:`CycleEngine.data_slow`
previous block ended with WFI   :meth:`CycleEngine.wfi`
limit / SysTick / poke due      :meth:`CycleEngine.event`
self-loop fast path             :meth:`CycleEngine.arm`, :meth:`CycleEngine.sync`,
                                :meth:`CycleEngine.stream_replay`
MMIO access (time stamp, stall) :meth:`CycleEngine.now`, :meth:`CycleEngine.stall`
another thread wants attention  :meth:`CycleEngine.poke`
exception entry / return        :meth:`CycleEngine.add_cycles`
clock or flash timing change    :meth:`CycleEngine.invalidate_blocks`
reset / new run                 :meth:`CycleEngine.reset`, :meth:`CycleEngine.set_limit`
defined warm-up state           :meth:`CycleEngine.reset_timing_state`
exception inside a hook         :meth:`CycleEngine.fail`
statistics                      :meth:`CycleEngine.stats`, :meth:`CycleEngine.profile`,
                                :meth:`CycleEngine.fast_iterations`
==============================  ==============================================================

**Block records.**  Each executed block has a record (a list, for speed: the hot path indexes
it with literal numbers, named here and by the ``B_*`` constants):

== =========== =================================================================================
 0 B_SIZE      size in bytes (unicorn may re-translate the same address with another size)
 1 B_FALL      fall-through address (``addr + size``)
 2 B_STATIC    static cost of the block with zero-wait memory
 3 B_TAKEN     cycles added when the block's last instruction changed the PC (Cortex-M4/M33)
 4 B_ENTRY     cycles added when the block is entered by a taken branch
 5 B_FLINES    fetch lines ``((line, chunks, line address), ...)``, None without wait states
 6 B_FEPOCH    fetch-cache epoch after the last fetch check (skip re-checking while unchanged)
 7 B_DYN       register-based access groups ``((base, table, lo, hi, loads), ...)`` or None
 8 B_WFI       1 if the block ends with WFI
 9 B_COUNT     executions so far
10 B_NINSN     instructions
11 B_ADDR      start address
12 B_INSNS     decoded instructions
13 B_PREFIX    per-instruction start cycle relative to block entry
14 B_BRANCH    ``(pc, kind, backward, mispredict cycles)`` of the final branch (Cortex-M7)
15 B_FCACHE    the fetch cache of the block's code region, or None
16 B_DYN2      groups with an index register or PC-relative literals, or None
17 B_LOOPX     cached extra cost of a self-loop iteration (None: recompute)
18 B_LOOPOK    True if the block is a self-loop whose alignment residues never change
19 B_ACC       per-access data for :meth:`CycleEngine.now` (or None without access groups)
20 B_FAST      fast-path groups ``((base, stride, table, lo, hi, loads), ...)`` or None
== =========== =================================================================================

Rules and sources: docs/virtual-board.md.

This engine is the reference (``TINYMODEL_VBOARD_ENGINE=python``).  The default engine,
:mod:`calibration.vboard.native`, runs the same hot path in C (``native/tmv_engine.c``:
:meth:`CycleEngine.on_block`, :meth:`predict`, :meth:`fetch_slow`, :meth:`groups_cost`,
:meth:`dyn_slow`, :meth:`data_slow`, :meth:`arm`, :meth:`sync`, :meth:`stream_replay`) and calls
the other handlers here for rare events: a change to one of those methods must be made in the C
port too (tests/vboard compares both engines cycle for cycle).
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from calibration.vboard.decode import (FP_ALU, FP_DIV, FP_MAC, IT, VLDM, VLDR, VMOV_CORE, VMRS,
                                       VSTM, VSTR, WFI, decode_block)
from calibration.vboard.errors import FaultError, VboardError
from calibration.vboard.peripherals import SYSTICK_EXCEPTION
from calibration.vboard.timing import access_groups, block_accesses, fetch_lines

#: Decoded blocks shared by all machines of the process, keyed by (core model, address, code
#: bytes): decoding is a pure function of these and costs ~30 us per instruction (capstone
#: details from Python), so a new machine on the same image starts warm.  The records are
#: immutable.  Cleared when it reaches _STATIC_CACHE_MAX blocks.
_STATIC_CACHE: dict[tuple[str, int, bytes], tuple] = {}
_STATIC_CACHE_MAX = 200_000

_FP_CLASSES = frozenset({FP_ALU, FP_MAC, FP_DIV, VLDR, VSTR, VLDM, VSTM, VMOV_CORE, VMRS})

# indexes into a block record (see the module docstring)
(B_SIZE, B_FALL, B_STATIC, B_TAKEN, B_ENTRY, B_FLINES, B_FEPOCH, B_DYN, B_WFI, B_COUNT, B_NINSN,
 B_ADDR, B_INSNS, B_PREFIX, B_BRANCH, B_FCACHE, B_DYN2, B_LOOPX, B_LOOPOK, B_ACC,
 B_FAST) = range(21)

#: No fast-path block is armed (value of :attr:`CycleEngine.fast_addr`).
FAST_OFF = -1


def pseudo_block(fall: int) -> list:
    """A record standing for 'no previous block': entering ``fall`` costs no branch penalty."""
    return [0, fall, 0, 0, 0, None, 0, None, 0, 0, 0, fall, (), (0,), None, None, None, None,
            False, None, None]


class CycleEngine:
    """The cycle model of one :class:`~calibration.vboard.emulator.Machine`: its state, named
    below, and one handler per event (see the module docstring).

    Threads: everything runs on the emulator thread (the thread inside ``Machine.run``) except
    :meth:`poke`, which any thread may call, and :meth:`stats`, :meth:`profile` and
    :meth:`fast_iterations`, which other threads may call during a run (they then see the
    counts without the fast-path iterations not yet applied).

    The engine reads the machine's timing configuration (``_fetch_cfg``, ``_fetch_ws``,
    ``fetch_prefetch``, ``_caches``, ``_data_cache``, ``_data_miss``: see
    ``Machine._configure_timing``), its system control block (FPU, SysTick, pending exceptions)
    and its stop request; it stops the run through the machine.

    Attributes (the state; slots, for the hot path).  Fixed at construction:

    * ``machine``, ``uc`` -- the machine and its unicorn instance.
    * ``regs`` -- the core registers R0-R15 (read-only view, valid at block entry and in MMIO
      callbacks).
    * ``core``, ``m7`` -- the core model module (``Machine.core_model``: :mod:`cortex_m4`,
      :mod:`cortex_m7` or :mod:`cortex_m33`) and whether it is the Cortex-M7 (branch
      prediction instead of the fixed taken-branch refill of the M4 and M33).
    * ``unaligned_penalty`` -- extra cycles of an unaligned single load or store.
    * ``flash_buckets`` -- the 128 MiB regions (``address >> 27``) holding flash.

    The cycle state:

    * ``cycles`` -- cycles at the end of the current block.  While the fast path is armed it
      does not include the counted iterations: :meth:`sync` applies them, and
      :meth:`get_cycles` is the synchronised value.
    * ``entry`` -- cycle at which the current block's first instruction executes.
    * ``prev`` -- record of the block being executed (between block hooks: the last one
      entered); a :func:`pseudo_block` after reset and exception entry or return.
    * ``next_event`` -- the cycle at which :meth:`event` must run (cycle limit, next SysTick
      expiry); 0 forces it at the next block (:meth:`poke`).
    * ``limit`` -- the cycle limit of the current run.
    * ``retired_extra`` -- instructions retired by block records dropped by
      :meth:`invalidate_blocks` (the other ones are counted in their records).
    * ``unaligned_cycles`` -- penalty cycles charged for unaligned data accesses.
    * ``last_fetch_line`` -- the flash line fetched last without a fetch cache (a following
      fetch of the same line is served by the flash read buffer).
    * ``btac`` -- Cortex-M7 branch target address cache: branch pc -> [2-bit counter, target].
    * ``mispredicts`` -- Cortex-M7 branch mispredictions.
    * ``fetch_mark``, ``fetch_stalls`` -- the cycle right after the fetch stalls of the last
      block that had any, and those stalls as ``((line address, cycles), ...)``: an MMIO access
      in the middle of the block only sees the stalls before it.
    * ``loc_block``, ``loc_entry``, ``loc_next`` -- block address and entry cycle of the last
      MMIO access located by :meth:`now`, and the instruction index to search from next (the
      accesses of one block execution are in program order).
    * ``mmio_addr`` -- the address of the MMIO access being served (set by the machine's MMIO
      callbacks before they call the peripheral).
    * ``loc_pc`` -- address of the instruction :meth:`now` found for that access.
    * ``blocks`` -- block records by start address (dropped when the timing changes).
    * ``static_cache`` -- the decoded blocks of this machine by ``(address, size)`` (kept).
    * ``tables`` -- the 128-entry access cost tables of :meth:`group_table`.

    The self-loop fast path (see :meth:`arm` and :meth:`sync`): while armed, an execution of
    block ``fast_b`` (at ``fast_addr``, size ``fast_size``) only counts itself in ``fast_n``, up
    to ``fast_budget`` iterations that are certain to cost ``fast_d`` cycles each:

    * ``fast_enabled`` -- the fast path is on (``Machine(fast_path=...)``); with it off no block
      is a candidate and :meth:`on_block` takes the reference path only.
    * ``fast_addr`` -- start address of the armed block, :data:`FAST_OFF` when disarmed.
    * ``fast_size``, ``fast_b`` -- its size and record.
    * ``fast_n`` -- iterations counted and not yet applied.
    * ``fast_budget`` -- how many may be counted (0: disarmed by :meth:`poke`, synced at the
      next block).
    * ``fast_d`` -- cycles per counted iteration without data-cache misses.
    * ``fast_tail`` -- cycles of one iteration after its entry (entry = end - tail - misses).
    * ``fast_extra`` -- unaligned-penalty cycles per iteration.
    * ``fast_stream`` -- ``(((lo, hi, stride), ...), data cache, miss cycles)`` of the flash
      data streams replayed through the data cache, or None.
    * ``fast_total`` -- iterations run on the fast path (for tests and benchmarks).
    """

    __slots__ = ("machine", "uc", "regs", "core", "m7", "unaligned_penalty", "fast_enabled",
                 "flash_buckets", "blocks", "static_cache", "tables",
                 "cycles", "entry", "prev", "next_event", "limit", "retired_extra",
                 "unaligned_cycles", "last_fetch_line", "btac", "mispredicts",
                 "fetch_mark", "fetch_stalls", "loc_block", "loc_entry", "loc_next",
                 "mmio_addr", "loc_pc",
                 "fast_addr", "fast_size", "fast_n", "fast_budget", "fast_d", "fast_tail",
                 "fast_extra", "fast_stream", "fast_b", "fast_total",
                 "_callback", "_hook_handle")

    def __init__(self, machine: Any, regs: Any, *, fast_path: bool) -> None:
        """An engine for ``machine`` (memory mapped, peripherals attached), reading the core
        registers through ``regs`` (:func:`calibration.vboard.regfile.register_view`).  The
        state is that of :meth:`reset`; :meth:`install` registers the block hook."""
        self.machine = machine
        self.uc = machine.uc
        self.regs = regs
        self.m7 = bool(machine.m7)
        self.core = machine.core_model
        self.unaligned_penalty: int = self.core.UNALIGNED_CYCLES
        self.fast_enabled = bool(fast_path)
        flash = machine.flash
        self.flash_buckets: set[int] = {flash.address >> 27} if flash is not None else set()
        if any(name == "flash_boot_alias" for _lo, _hi, name, _k in machine.regions):
            self.flash_buckets.add(0)
        self.blocks: dict[int, list] = {}
        self.static_cache: dict[tuple[int, int], tuple] = {}
        self.tables: dict[tuple, list[int]] = {}

        self.cycles = 0
        self.entry = 0
        self.prev = pseudo_block(0)
        self.next_event = 0
        self.limit = 1 << 62
        self.retired_extra = 0
        self.unaligned_cycles = 0
        self.last_fetch_line = -1
        self.btac: dict[int, list[int]] = {}
        self.mispredicts = 0
        self.fetch_mark: int | None = None
        self.fetch_stalls: list[tuple[int, int]] | tuple = ()
        self.loc_block: int | None = None
        self.loc_entry = 0
        self.loc_next = 0
        self.mmio_addr = 0
        self.loc_pc: int | None = None

        self.fast_addr = FAST_OFF
        self.fast_size = 0
        self.fast_n = 0
        self.fast_budget = 0
        self.fast_d = 0
        self.fast_tail = 0
        self.fast_extra = 0
        self.fast_stream: tuple | None = None
        self.fast_b: list | None = None
        self.fast_total = 0

        self._callback = None
        self._hook_handle = None

    # -- installation ------------------------------------------------------------------------

    def install(self) -> None:
        """Register :meth:`on_block` as unicorn's ``UC_HOOK_BLOCK`` callback, through ctypes
        directly: half the per-block overhead of ``Uc.hook_add``."""
        from unicorn import UC_HOOK_BLOCK
        from unicorn.unicorn_py3 import unicorn as _ucmod

        cb_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                                   ctypes.c_void_p)
        self._callback = cb_type(self.on_block)     # kept alive as long as the engine
        hh = _ucmod.uc_hook_h()
        err = _ucmod.uclib.uc_hook_add(self.uc._uch, ctypes.byref(hh), UC_HOOK_BLOCK,
                                       ctypes.cast(self._callback, ctypes.c_void_p), None,
                                       ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise VboardError(f"unicorn refused the block hook (error {err})")
        self._hook_handle = hh

    # -- block entry: the hot path -----------------------------------------------------------
    #
    # One hook for both cores, with and without the fast path.  It runs for every executed
    # block, so it is written for speed: the fast-path test first and outside the try (an
    # armed self-loop iteration costs only that), literal record indexes, each piece of state
    # read where it is used, helpers only on slow paths.  The alternative, a small fast-path
    # hook calling a reference-path hook, costs a Python call on every block the fast path
    # does not take, which is most blocks of the firmware's kernels; the fast-path tests kept
    # here cost the reference path less than that.

    def on_block(self, handle: int, addr: int, size: int, ud: int) -> None:
        """Block hook: unicorn is about to execute the block at ``addr`` of ``size`` bytes.

        An iteration of the armed self-loop within its budget (see :meth:`arm`) is only
        counted, and any other block first applies the counted ones (:meth:`sync`).  Then
        charges, in order: the transition from the previous block (the branch cost of the core
        kind), the wake-up from a WFI that ended the previous block, the instruction-fetch
        stalls, :meth:`event` when due (which may take an exception or stop the run instead:
        the block is then not charged), the block's static cost and its data-access
        corrections; counts the block, makes it :attr:`prev`, and arms the fast path if the
        block is a candidate.  With the fast path off no block is a candidate and nothing is
        ever armed: this is then the reference path."""
        if addr == self.fast_addr and self.fast_n < self.fast_budget and size == self.fast_size:
            self.fast_n += 1
            return
        try:
            if self.fast_addr != -1:            # armed (not FAST_OFF)
                self.sync()
            b = self.blocks.get(addr)
            if b is None or b[0] != size:           # B_SIZE
                b = self.translate(addr, size)
            p = self.prev
            c = self.cycles
            if self.m7:
                # Cortex-M7: branch prediction; a saturated BTAC hit, or a correctly predicted
                # fall-through, costs nothing, anything else goes through predict()
                br = p[14]                          # B_BRANCH
                if br is not None:
                    e = self.btac.get(br[0])
                    if addr != p[1]:                # B_FALL
                        if e is None or e[0] != 3 or e[1] != addr:
                            c += self.predict(br, addr, True)
                    elif e is None or e[0] != 0:
                        c += self.predict(br, addr, False)
            elif addr != p[1]:                      # B_FALL
                # Cortex-M4/M33: a block not entered by falling through costs the previous
                # block's taken-branch refill and its own entry cycles
                c += p[3] + b[4]                    # B_TAKEN, B_ENTRY
            if p[8]:                                # B_WFI
                c = self.wfi(addr, c)
                if c is None:
                    return
            if b[5] is not None:                    # B_FLINES
                fc = b[15]                          # B_FCACHE
                if fc is None or b[6] != fc.epoch:  # B_FEPOCH
                    c = self.fetch_slow(b, addr == p[1], c)
            if c >= self.next_event and self.event(addr, c):
                return
            self.entry = c
            c += b[2]                               # B_STATIC
            d = b[7]                                # B_DYN
            if d is not None:
                if p is b and b[17] is not None:    # B_LOOPX
                    c += b[17]
                    self.unaligned_cycles += b[17]
                else:
                    c = self.groups_cost(b, d, c)
            if b[16] is not None:                   # B_DYN2
                c = self.dyn_slow(b, c)
            self.cycles = c
            b[9] += 1                               # B_COUNT
            self.prev = b
            if b[20] is not None:                   # B_FAST (None with the fast path off)
                self.arm(b, c)
        except BaseException as e:  # never let an exception escape into C
            self.fail(e)

    def fail(self, e: BaseException) -> None:
        """An exception inside a hook: record it on the machine (a :class:`FaultError` is the
        run's fault, anything else is re-raised by ``Machine.run``) and stop the emulation."""
        m = self.machine
        if isinstance(e, FaultError):
            m._fault = e
        else:
            m._hook_error = e
        if m._stop is None:
            m._stop = ("fault", str(e), None)
        self.uc.emu_stop()

    # -- translation ---------------------------------------------------------------------------

    def region_kind(self, addr: int) -> str | None:
        """The kind of memory at ``addr`` (``flash_alias`` for flash other than the main flash
        region), or None."""
        flash = self.machine.flash
        for lo, hi, name, kind in self.machine.regions:
            if lo <= addr < hi:
                if kind == "flash":
                    return "flash" if name == flash.name else "flash_alias"
                return kind
        return None

    def group_table(self, unal: tuple[int, int, int, int], loads: bool) -> list[int]:
        """Cost lookup by ``(addr >> 25 & 0x7C) | (addr & 3)`` = (128 MiB bucket, residue):
        the unaligned penalty, or ``-(1 + penalty)`` in flash (slow path: data cache)."""
        key = (unal, loads)
        t = self.tables.get(key)
        if t is None:
            flash_buckets = self.flash_buckets
            t = [0] * 128
            for bucket in range(32):
                for r in range(4):
                    t[bucket * 4 + r] = (-(1 + unal[r]) if (bucket in flash_buckets and loads)
                                         else unal[r])
            self.tables[key] = t
        return t

    def translate(self, addr: int, size: int) -> list:
        """The record of the block at ``addr`` of ``size`` bytes (decoded once per machine, and
        once per process for the same code bytes), stored in :attr:`blocks`.  Raises
        :class:`FaultError` for a floating-point instruction while the FPU is disabled."""
        machine = self.machine
        core = self.core
        key = (addr, size)
        st = self.static_cache.get(key)
        if st is None:
            code = bytes(self.uc.mem_read(addr, size))
            skey = (core.__name__, addr, code)
            st = _STATIC_CACHE.get(skey)
            if st is None:
                insns = decode_block(code, addr)
                timing = core.block_timing(insns)
                groups = access_groups(insns, self.unaligned_penalty)
                st = (insns, timing, groups, block_accesses(insns) if groups else None)
                if len(_STATIC_CACHE) >= _STATIC_CACHE_MAX:
                    _STATIC_CACHE.clear()
                _STATIC_CACHE[skey] = st
            self.static_cache[key] = st
        insns, timing, groups, acc = st
        if not machine.scs.fpu_enabled and any(i.cls in _FP_CLASSES for i in insns):
            first = next(i for i in insns if i.cls in _FP_CLASSES)
            raise FaultError(first.address, "floating-point instruction while CPACR "
                             "disables CP10/CP11 (UsageFault NOCP on hardware; enable "
                             "the FPU in SCB->CPACR first)")
        kind = self.region_kind(addr)
        flines = None
        fcache = None
        if kind in machine._fetch_cfg and machine._fetch_ws > 0:
            fcache, line_bytes, read_bytes, _fill = machine._fetch_cfg[kind]
            sh = line_bytes.bit_length() - 1
            flines = tuple((ln, ch, ln << sh)
                           for ln, ch in fetch_lines(insns, line_bytes, read_bytes))
        dyn = []
        dyn2 = []
        dynf = []
        for g in groups:
            lo = min(g.deltas)
            if g.base >= 0 and g.index < 0:
                tab = self.group_table(g.unaligned_cycles, g.loads > 0)
                dyn.append((g.base, tab, lo, lo + g.last_byte, g.loads))
                dynf.append((g.base, g.stride, tab, lo, lo + g.last_byte, g.loads))
            else:
                dyn2.append((g.base, g.index, g.shift, g.unaligned_cycles, lo,
                             lo + g.last_byte, g.loads))
        # a block that branches to itself and moves every base register by a multiple of 4
        # sees the same alignment residue (and region) on every iteration: B_LOOPX caches
        # the last extra cost of such a self-loop (None: recompute every time)
        self_loop = bool(insns) and insns[-1].target == addr and not dyn2 and all(
            g.stride is not None and g.stride % 4 == 0 for g in groups if g.base >= 0)
        # fast path (see arm()): a self-loop whose base registers certainly move by their
        # tracked stride every iteration (no conditional instruction before the final
        # branch) and whose fetch stalls, if any, go through a cache
        fast = None
        if self.fast_enabled and self_loop and not dyn2 and insns[-1].cls != WFI \
                and not any(i.conditional or i.cls == IT for i in insns[:-1]) \
                and (flines is None or fcache is not None):
            fast = tuple(dynf)
        br = timing.branch
        rec = [size, addr + size, timing.total, timing.taken_cycles, timing.entry_cycles,
               flines, -1, tuple(dyn) if dyn else None,
               1 if insns and insns[-1].cls == WFI else 0, 0, len(insns), addr, insns,
               timing.prefix,
               (br.pc, br.kind, br.backward, br.mispredict_cycles) if br else None, fcache,
               tuple(dyn2) if dyn2 else None, None, self_loop, acc, fast]
        self.blocks[addr] = rec
        return rec

    # -- dynamic corrections -------------------------------------------------------------------

    def groups_cost(self, b: list, d: tuple, c: int) -> int:
        """Unaligned and flash-data corrections of the register-based access groups ``d`` of
        block ``b``, added to ``c``; caches the extra cost of a self-loop in ``b[B_LOOPX]``."""
        regs = self.regs
        extra = 0
        flash_seen = False
        for g in d:
            v = regs[g[0]]
            x = g[1][(v >> 25 & 0x7C) | (v & 3)]
            if x:
                if x > 0:
                    extra += x
                else:
                    extra -= x + 1
                    flash_seen = True
                    lo = v + g[2]
                    dc = self.machine._data_cache
                    if dc is not None:
                        sh = dc.shift
                        line = lo >> sh
                        if line == dc.mru and line == (v + g[3]) >> sh:
                            dc.hits += 1
                            continue
                    c += self.data_slow(lo, v + g[3], g[4])
        self.unaligned_cycles += extra
        b[17] = None if (flash_seen or not b[18]) else extra      # B_LOOPX, B_LOOPOK
        return c + extra

    def dyn_slow(self, b: list, c: int) -> int:
        """Groups with an index register or PC-relative literals, and flash accesses."""
        regs = self.regs
        flash_buckets = self.flash_buckets
        for base, index, shift, unal, dlo, dhi, nload in b[B_DYN2]:
            v = regs[base] if base >= 0 else 0
            if index >= 0:
                v = (v + (regs[index] << shift)) & 0xFFFFFFFF
            x = unal[v & 3]
            if x:
                c += x
                self.unaligned_cycles += x
            if nload and (v + dlo) >> 27 in flash_buckets:
                c += self.data_slow(v + dlo, v + dhi, nload)
        return c

    def fetch_slow(self, b: list, sequential: bool, c: int) -> int:
        """Instruction-fetch stalls of block ``b`` (cache lookups, wait states); returns the
        new cycle count and remembers which line each stall belongs to, so that a
        DWT_CYCCNT read in the middle of the block only sees the stalls before it."""
        machine = self.machine
        cache = b[B_FCACHE]
        ws = machine._fetch_ws
        cfg_fill = cache is not None and cache is machine._caches.get("l1_i")
        prefetch = machine.fetch_prefetch
        cost = 0
        first = True
        detail = []
        for line, chunks, line_addr in b[B_FLINES]:
            if cache is not None:
                if cache.access(line):
                    first = False
                    continue
            elif line == self.last_fetch_line:
                first = False
                continue
            if cfg_fill:
                k = ws * max(1, chunks)
            elif prefetch:
                k = ws if (first and not sequential) else 0
            else:
                k = ws * chunks
            if k:
                cost += k
                detail.append((line_addr, k))
            self.last_fetch_line = line
            first = False
        if cache is not None:
            b[B_FEPOCH] = cache.epoch
        c += cost
        self.fetch_mark = c
        self.fetch_stalls = detail
        return c

    def data_slow(self, lo: int, hi: int, nloads: int) -> int:
        """Cycles of ``nloads`` flash data loads covering bytes ``lo..hi``: through the data
        cache line by line (a miss costs the flash wait states of a line), or every load
        waiting without one."""
        machine = self.machine
        dc = machine._data_cache
        if dc is None:
            return machine._data_miss * nloads
        cost = 0
        sh = dc.shift
        for line in range(lo >> sh, (hi >> sh) + 1):
            if not dc.access(line):
                cost += machine._data_miss
        return cost

    def predict(self, br: tuple, addr: int, taken: bool) -> int:
        """Cortex-M7 branch prediction: a BTAC entry (2-bit counter + target) per branch;
        without an entry, the static rule (backward/direct taken, forward not).  Returns the
        misprediction penalty or 0, and updates the entry."""
        pc, kind, backward, penalty = br
        btac = self.btac
        e = btac.get(pc)
        if e is None:
            pred = kind == "direct" or (kind == "cond" and backward)
            ok = pred == taken and kind != "indirect" or (kind == "indirect" and not taken)
            btac[pc] = [2 if taken else 1, addr]
        else:
            pred = e[0] >= 2
            ok = pred == taken and (not taken or e[1] == addr)
            if taken:
                if e[0] < 3:
                    e[0] += 1
                e[1] = addr
            elif e[0] > 0:
                e[0] -= 1
        if ok:
            return 0
        self.mispredicts += 1
        return penalty

    # -- events: limit, interrupts, WFI --------------------------------------------------------

    def event(self, addr: int, c: int) -> bool:
        """Slow path when ``c`` reached :attr:`next_event`; True = do not run this block now
        (the run stops, or an exception is taken at ``addr``)."""
        machine = self.machine
        if machine._stop is not None:
            self.uc.emu_stop()
            return True
        limit = self.limit
        if c >= limit:
            machine.request_stop("max-cycles", f"cycle limit {limit} reached")
            return True
        st = machine.scs.systick
        if st.enabled and st.ctrl & 2 and st.expire(c):
            machine.scs.pending_exc.add(SYSTICK_EXCEPTION)
        exc = machine._deliverable()
        if exc is not None:
            self.cycles = c
            machine._take_exception(exc, addr)
            return True
        self.next_event = machine._next_event_after(c, limit)
        return False

    def wfi(self, addr: int, c: int) -> int | None:
        """The previous block ended with WFI: sleep until a wake-up event.  Returns the cycle
        at which the core wakes, or None when the run stops instead."""
        m = self.machine
        if m._pending_any():
            return c
        if m.uart.wants_rx_interrupt():
            m.uart.deliver(True)
            if m._stop is not None:
                self.uc.emu_stop()
                return None
            return c
        st = m.scs.systick
        if st.enabled and st.ctrl & 2:
            t = st.next_expiry(c)
            if t is not None:
                if t >= self.limit:
                    m.request_stop("max-cycles",
                                   f"cycle limit {self.limit} reached during WFI")
                    return None
                self.next_event = 0
                return t
        m.request_stop("wfi-deadlock", f"WFI at 0x{addr - 2:08X} with no enabled "
                       "interrupt that could wake the core")
        return None

    # -- the self-loop fast path ---------------------------------------------------------------
    #
    # A block that branches to itself (B_FAST set at translation) usually costs the same on
    # every iteration: the branch refill (M4) or a saturated BTAC hit (M7), no fetch stall
    # while the fetch cache is unchanged, the same unaligned penalty (every base register
    # moves by a multiple of 4), and for a flash data stream an MRU-line hit of the data
    # cache until the stream leaves that line.  After an iteration ran through the normal
    # path, arm() computes how many further iterations are certain to take exactly that
    # path with exactly that cost (the budget), and the hook then only counts them.  sync()
    # applies the counted iterations (cycles, entry, block count, unaligned cycles, data
    # cache hits) before anything looks at the state: the normal path, now(), MMIO,
    # interrupts, stats.  The results are identical to the normal path by construction;
    # tests/vboard/test_fastpath.py compares both on many images.

    def sync(self) -> None:
        """Apply the iterations counted by the fast path and disarm it (emulator thread)."""
        n = self.fast_n
        self.fast_addr = FAST_OFF
        self.fast_budget = 0
        if n:
            self.fast_n = 0
            self.fast_total += n
            c = self.cycles + n * self.fast_d
            last = 0
            if self.fast_stream is not None:
                more, last = self.stream_replay(n)
                c += more
            self.cycles = c
            self.entry = c - self.fast_tail - last
            self.fast_b[B_COUNT] += n
            if self.fast_extra:
                self.unaligned_cycles += n * self.fast_extra

    def stream_replay(self, n: int) -> tuple[int, int]:
        """The data-cache operations of ``n`` fast iterations reading flash, in order and
        exactly as :meth:`groups_cost` makes them (per flash group: a hit counted on the
        MRU line, else :meth:`data_slow`).  Returns the miss cycles of all ``n`` iterations
        and of the last one.

        Iterations are simulated one by one, except that once an iteration starts and ends
        with the same MRU line and misses nothing, the following ones up to the next line
        change of any stream repeat it exactly (same lines, all hits, and re-applying the
        same hits leaves the LRU order as it is), so only their hit counts are added."""
        streams, dc, miss = self.fast_stream
        sh = dc.shift
        access = dc.access
        total = 0
        last = 0
        j = 1
        if len(streams) == 1:
            # one stream: runs of MRU hits between the iterations that change lines
            lo0, hi0, s = streams[0]
            while j <= n:
                lo = lo0 + j * s
                hi = hi0 + j * s
                line = lo >> sh
                if line == dc.mru and line == hi >> sh:
                    if s > 0:
                        r = (((line + 1) << sh) - 1 - hi) // s + 1
                    elif s < 0:
                        r = (lo - (line << sh)) // -s + 1
                    else:
                        r = n
                    r = min(r, n - j + 1)
                    dc.hits += r
                    j += r
                    last = 0
                else:
                    last = 0
                    for ln in range(line, (hi >> sh) + 1):
                        if not access(ln):
                            last += miss
                    total += last
                    j += 1
            return total, last
        while j <= n:
            # the last iteration (<= n) before any stream's lines change
            end = n
            for lo0, hi0, s in streams:
                if s:
                    lo = lo0 + j * s
                    hi = hi0 + j * s
                    if s > 0:
                        room = min((((lo >> sh) + 1) << sh) - 1 - lo,
                                   (((hi >> sh) + 1) << sh) - 1 - hi) // s
                    else:
                        room = min(lo - (lo >> sh << sh), hi - (hi >> sh << sh)) // -s
                    end = min(end, j + room)
            while j <= end:
                m0 = dc.mru
                h0 = dc.hits
                misses = dc.misses
                cost = 0
                for lo0, hi0, s in streams:
                    lo = lo0 + j * s
                    hi = hi0 + j * s
                    line = lo >> sh
                    if line == dc.mru and line == hi >> sh:
                        dc.hits += 1
                    else:
                        for ln in range(line, (hi >> sh) + 1):
                            if not access(ln):
                                cost += miss
                total += cost
                last = cost
                j += 1
                if dc.misses == misses and dc.mru == m0:
                    r = end - j + 1
                    if r > 0:
                        dc.hits += r * (dc.hits - h0)
                        j = end + 1
                        last = 0
                    break
        return total, last

    def arm(self, b: list, c: int) -> None:
        """Block ``b`` (a fast-path candidate) just ran through the normal path and ends at
        cycle ``c``; arm the fast path for its next iterations if their cost is certain."""
        machine = self.machine
        if b[B_FLINES] is not None and b[B_FEPOCH] != b[B_FCACHE].epoch:
            return
        if self.m7:
            br = b[B_BRANCH]
            t = 0
            if br is not None:
                e = self.btac.get(br[0])
                if e is None or e[0] != 3 or e[1] != b[B_ADDR]:
                    return
        else:
            t = b[B_TAKEN] + b[B_ENTRY]
        budget = 1 << 62
        tail = b[B_STATIC]
        extra = 0
        stream = None
        worst = 0
        if b[B_DYN] is not None:
            x17 = b[B_LOOPX]
            if x17 is not None:
                # the normal path reuses this correction on every self-iteration
                extra = x17
            else:
                regs = self.regs
                for base, s, tab, dlo, dhi, nload in b[B_FAST]:
                    v = regs[base]
                    x = tab[(v >> 25 & 0x7C) | (v & 3)]
                    # the register stays in its 128 MiB region: same table entry (the
                    # residue mod 4 never changes) and no 32-bit wrap-around
                    rlo = v >> 27 << 27
                    if s > 0:
                        k = (rlo + 0x7FFFFFF - v) // s
                    elif s < 0:
                        k = (v - rlo) // -s
                    else:
                        k = budget
                    budget = min(budget, k)
                    if x >= 0:
                        extra += x
                        continue
                    extra -= x + 1
                    dc = machine._data_cache
                    if dc is None:
                        tail += machine._data_miss * nload
                    elif dc is b[B_FCACHE]:
                        # one cache serves this loop's fetches and its flash data (U5 ICACHE):
                        # a data fill changes the epoch, so the normal path looks the fetch
                        # lines up again each iteration; replaying only the data would differ
                        return
                    else:
                        if stream is None:
                            stream = []
                        stream.append((v + dlo, v + dhi, s))
                        worst += machine._data_miss * (((dhi - dlo) >> dc.shift) + 2)
            tail += extra
        d = t + tail
        e = self.next_event - c - t
        if e <= 0:
            return
        budget = min(budget, (e - 1) // (d + worst) + 1)
        if budget <= 0:
            return
        self.fast_b = b
        self.fast_size = b[B_SIZE]
        self.fast_n = 0
        self.fast_d = d
        self.fast_tail = tail
        self.fast_extra = extra
        self.fast_stream = None if stream is None else (tuple(stream), machine._data_cache,
                                                        machine._data_miss)
        self.fast_budget = budget
        self.fast_addr = b[B_ADDR]
        if self.next_event <= c:       # poked by another thread meanwhile
            self.fast_budget = 0

    def poke(self) -> None:
        """Make the emulator thread run :meth:`event` at its next block (any thread: an
        interrupt became pending, a stop was requested).  Only disarms the fast path; the
        emulator thread syncs at its next normal-path block."""
        self.next_event = 0
        self.fast_budget = 0

    # -- time stamps of MMIO accesses ----------------------------------------------------------

    def now(self) -> int:
        """Cycle at which the instruction doing the current MMIO access (at
        :attr:`mmio_addr`) executes; sets :attr:`loc_pc` to that instruction's address."""
        if self.fast_addr != FAST_OFF:
            self.sync()
        b = self.prev
        insns = b[B_INSNS]
        if not insns:
            return self.cycles
        regs = self.regs
        entry = self.entry
        key = b[B_ADDR]
        start = self.loc_next if (self.loc_block == key and self.loc_entry == entry) else 0
        addr = self.mmio_addr
        found = None
        for i in range(start, len(insns)):
            m = insns[i].mem
            if m is None:
                continue
            if m.base == 15:
                ea = ((insns[i].address + 4) & ~3) + m.disp
            else:
                ea = regs[m.base]
                if m.index is not None:
                    ea = ea + ((-1 if m.subtract_index else 1) * (regs[m.index] << m.shift))
                if m.post is None:
                    ea += m.disp
                if m.count > 1 and m.down:
                    ea -= 4 * m.count
            ea &= 0xFFFFFFFF
            if ea <= addr < ea + m.size * m.count:
                found = i
                break
        if found is None:
            found = min(start, len(insns) - 1)
        self.loc_block, self.loc_entry, self.loc_next = key, entry, found + 1
        self.loc_pc = insns[found].address
        t = entry + b[B_PREFIX][found] + self.dynamic_before(b, found)
        if self.fetch_mark == entry and self.fetch_stalls:
            here = insns[found].address
            t -= sum(k for a, k in self.fetch_stalls if a > here)
        return t

    def dynamic_before(self, b: list, pos: int) -> int:
        """Unaligned and (uncached) flash-data cycles of the block's accesses before
        instruction ``pos``: the block-entry register values are rebuilt from the current
        ones minus the tracked increments.  D-cache misses are not attributed here."""
        acc = b[B_ACC]
        if acc is None:
            return 0
        regs = self.regs
        machine = self.machine
        accesses, deltas, deads = acc
        dnow = deltas[pos]
        dead = deads[pos]
        extra = 0
        for a in accesses:
            if a.position >= pos:
                break
            if a.base >= 0:
                if a.base in dead or (a.index >= 0 and a.index in dead):
                    continue
                v = (regs[a.base] - dnow.get(a.base, 0))
                if a.index >= 0:
                    v += (regs[a.index] - dnow.get(a.index, 0)) << a.shift
                ea = (v + a.delta) & 0xFFFFFFFF
            else:
                ea = a.delta
            if a.single and a.size > 1 and ea & (a.size - 1):
                extra += self.unaligned_penalty
            if a.load and ea >> 27 in self.flash_buckets and machine._data_cache is None:
                extra += machine._data_miss
        return extra

    def stall(self, n: int) -> None:
        """The instruction doing the current MMIO access waits ``n`` cycles (a peripheral
        stalls the bus): it and everything after it in the block move ``n`` cycles later."""
        if self.fast_addr != FAST_OFF:
            self.sync()
        if self.fetch_mark == self.entry:
            self.fetch_mark += n
        self.entry += n
        self.cycles += n
        self.loc_entry = self.entry

    # -- the run loop, exceptions, timing changes ----------------------------------------------

    def set_limit(self, n: int) -> None:
        """A run starts with cycle limit ``n``."""
        self.sync()
        self.limit = n
        self.next_event = 0

    def get_cycles(self) -> int:
        """Cycles executed so far, with the fast-path iterations applied (emulator thread)."""
        if self.fast_addr != FAST_OFF:
            self.sync()
        return self.cycles

    def observed_cycles(self) -> int:
        """Cycles so far as another thread sees them during a run (for timeouts): ``cycles``
        plus the fast-path iterations counted and not yet applied, read without touching the
        state; at most one fast-path stretch's flash-stream misses below :meth:`get_cycles`."""
        c = self.cycles
        n = self.fast_n
        d = self.fast_d
        if self.cycles != c or self.fast_addr == FAST_OFF:
            return self.cycles                  # synced meanwhile, or nothing pending
        return c + n * d

    def add_cycles(self, n: int, resume_at: int | None) -> None:
        """Charge ``n`` cycles outside any block (exception entry or return); execution
        resumes at ``resume_at`` (None: where it was), entered without a branch penalty."""
        self.sync()
        self.cycles += n
        if resume_at is not None:
            self.prev = pseudo_block(resume_at & ~1)

    def reset(self) -> None:
        """Hardware reset: cycle 0, no previous block, empty BTAC and fetch buffer.  (Cache
        contents and statistics, decoded blocks and execution counts are kept.)"""
        self.sync()
        self.cycles = self.entry = self.next_event = self.retired_extra = 0
        self.unaligned_cycles = 0
        self.prev = pseudo_block(0)
        self.btac.clear()
        self.last_fetch_line = -1

    def reset_timing_state(self) -> None:
        """The defined warm-up state (:meth:`Machine.reset_timing_state`): every cache model
        empty, no BTAC entry, no line in the flash read buffer.  Statistics, decoded blocks and
        the cycle count are kept; a block's remembered fetch check is stale by the caches'
        new epochs, so its next execution looks every line up again."""
        self.sync()
        for cache in self.machine._caches.values():
            cache.flush()
        self.btac.clear()
        self.last_fetch_line = -1

    def invalidate_blocks(self) -> None:
        """The timing configuration changed: drop the block records (their fetch and data
        models), keeping their retired instructions in :attr:`retired_extra`."""
        self.sync()
        count = self.block_count
        self.retired_extra += sum(count(b) * b[B_NINSN] for b in self.blocks.values())
        self.blocks.clear()

    # -- statistics ----------------------------------------------------------------------------

    def block_count(self, b: list) -> int:
        """Executions of block record ``b`` so far."""
        return b[B_COUNT]

    def owner_sync(self) -> None:
        """:meth:`sync` if called from the emulator thread (or outside a run).  sync() belongs
        to the emulator thread; another thread asking for statistics while a run is going on
        sees them without the not yet applied fast iterations."""
        t = self.machine._run_thread
        if t is None or t == threading.get_ident():
            self.sync()

    def stats(self) -> dict[str, int]:
        """Instructions, blocks executed and translated, unaligned penalties, M7 branch
        mispredictions, and the hits and misses of every cache model."""
        self.owner_sync()
        # one copy of the records: another thread may call this during a run, and the emulator
        # thread adds records meanwhile (the native engine's block_count releases the GIL)
        counts = [(self.block_count(b), b[B_NINSN]) for b in list(self.blocks.values())]
        out = {"instructions": self.retired_extra + sum(n * k for n, k in counts),
               "blocks_executed": sum(n for n, _ in counts),
               "blocks_translated": len(self.static_cache),
               "unaligned_penalty_cycles": self.unaligned_cycles,
               "unaligned_accesses": self.unaligned_cycles // max(self.unaligned_penalty, 1)}
        if self.m7:
            out["branch_mispredicts"] = self.mispredicts
        for name, c in self.machine._caches.items():
            out[f"{name}_hits"] = c.hits
            out[f"{name}_misses"] = c.misses
        return out

    def profile(self, top: int = 20) -> list[tuple[int, int, int]]:
        """The ``top`` blocks by instructions executed: ``(address, executions,
        instructions)`` (since the last timing change)."""
        self.owner_sync()
        count = self.block_count
        rows = [(b[B_ADDR], n, n * b[B_NINSN])
                for b in list(self.blocks.values()) for n in (count(b),)]
        rows.sort(key=lambda r: -r[2])
        return rows[:top]

    def fast_iterations(self) -> int:
        """Block executions run on the fast path so far (0 with the fast path off)."""
        self.owner_sync()
        return self.fast_total


__all__ = ["CycleEngine", "pseudo_block"]
