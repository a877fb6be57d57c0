"""What the core models return for one translated block, and the memory-side helpers shared by
both cores (line caches, block fetch lines, data-access groups).

A core model (:mod:`cortex_m4`, :mod:`cortex_m7`) turns the decoded instructions of a block into
a :class:`StaticTiming`: the cycles every instruction costs with zero-wait memory and the block
ending as decoded.  Everything that depends on run-time state (branch outcome, flash wait
states behind the ART or the caches, data addresses) is added per executed block by the engine
in :mod:`calibration.vboard.engine`, using the tables built here.
"""

from __future__ import annotations

from dataclasses import dataclass

from calibration.vboard.decode import (LDM, LDRD, LOAD, PC, SP, STM, STORE, TB, VLDM, VLDR,
                                       VSTM, Insn)


@dataclass(frozen=True)
class BranchInfo:
    """The branch that ends a block, for the Cortex-M7 predictor.

    ``kind``: ``"cond"`` (B<cc>, CBZ/CBNZ, anything conditional writing PC), ``"direct"``
    (B, BL), ``"indirect"`` (BX, BLX reg, POP/LDM/LDR into PC, TBB/TBH, MOV/ADD PC).
    ``mispredict_cycles`` already includes the flag-distance rule.
    """

    pc: int
    kind: str
    backward: bool
    mispredict_cycles: int


@dataclass(frozen=True)
class StaticTiming:
    """Per-block result of a core model.

    ``prefix[i]`` is the cycle (relative to block entry) at which instruction ``i`` executes;
    ``prefix[n]`` = ``total``.  ``taken_cycles`` is added when the block's last instruction
    changed the PC (next block is not the fall-through); ``entry_cycles`` when this block is
    entered by a taken branch (unaligned 32-bit target).
    """

    total: int
    prefix: tuple[int, ...]
    taken_cycles: int
    entry_cycles: int
    branch: BranchInfo | None = None


def cache_geometry(lines: int, ways: int, line_bytes: int) -> tuple[int, int]:
    """``(sets, shift)`` of a cache of ``lines`` lines in ``ways`` ways of ``line_bytes`` bytes:
    ``sets = lines / ways``, ``line_bytes = 2 ** shift``; ``ValueError`` for a geometry no cache
    has (a ways count that does not divide the lines, a line size not a power of two)."""
    if lines <= 0 or ways <= 0 or lines % ways:
        raise ValueError(f"bad cache geometry: {lines} lines, {ways} ways")
    shift = line_bytes.bit_length() - 1
    if line_bytes <= 0 or 1 << shift != line_bytes:
        raise ValueError(f"line size {line_bytes} is not a power of two")
    return lines // ways, shift


class LineCache:
    """A set-associative LRU cache of line numbers (only tags, no data).

    ``epoch`` increases whenever the contents change (a fill, an eviction or a flush); the engine
    uses it to skip re-checking blocks whose lines all hit since the last change.  ``ways`` =
    ``lines`` makes it fully associative.
    """

    __slots__ = ("sets", "ways", "shift", "data", "epoch", "hits", "misses", "mru")

    def __init__(self, lines: int, ways: int, line_bytes: int) -> None:
        self.sets, self.shift = cache_geometry(lines, ways, line_bytes)
        self.ways = ways
        self.data: list[list[int]] = [[] for _ in range(self.sets)]
        self.epoch = 0
        self.hits = 0
        self.misses = 0
        self.mru = -1         # the line accessed last (certainly present)

    def access(self, line: int) -> bool:
        """Look up ``line`` (an address >> shift); fill it on a miss.  Returns True on a hit."""
        self.mru = line
        s = self.data[line % self.sets]
        if line in s:
            if s[-1] != line:
                s.remove(line)
                s.append(line)
            self.hits += 1
            return True
        if len(s) >= self.ways:
            del s[0]
        s.append(line)
        self.epoch += 1
        self.misses += 1
        return False

    def flush(self) -> None:
        """Invalidate everything."""
        for s in self.data:
            s.clear()
        self.epoch += 1
        self.mru = -1


def fetch_lines(insns: list[Insn], line_bytes: int, read_bytes: int) -> tuple[tuple[int, int], ...]:
    """The cache lines a block's instructions occupy, in order, with the number of flash reads
    (``read_bytes``-wide chunks) of each line that the block touches."""
    shift = line_bytes.bit_length() - 1
    rshift = read_bytes.bit_length() - 1
    out: dict[int, set[int]] = {}
    for ins in insns:
        for a in (ins.address, ins.address + ins.size - 1):
            out.setdefault(a >> shift, set()).add(a >> rshift)
    return tuple((line, len(chunks)) for line, chunks in out.items())


@dataclass(frozen=True)
class AccessGroup:
    """Memory accesses of one block whose addresses are ``R[base] (+ R[index] << shift)`` at
    block entry plus a constant ``delta`` (``base`` = -1 for PC-relative literals, whose address
    is ``delta`` itself).  ``unaligned_cycles[r]`` is the penalty of the whole group when the
    entry address has residue ``r`` mod 4; ``deltas`` are the accesses' offsets (for the flash
    data cache); ``loads`` counts the load transfers."""

    base: int
    index: int
    shift: int
    deltas: tuple[int, ...]
    last_byte: int
    unaligned_cycles: tuple[int, int, int, int]
    unaligned_counts: tuple[int, int, int, int]
    loads: int
    stride: int | None = None    # change of the base register over the whole block (None: untracked)


@dataclass(frozen=True)
class Access:
    """One data transfer of a block, relative to the register values at block entry:
    address = ``R[base] (+ R[index] << shift) + delta`` (``base`` -1: the absolute ``delta``)."""

    position: int
    base: int
    index: int
    shift: int
    delta: int
    size: int
    single: bool
    load: bool


def block_accesses(insns: list[Insn]) -> tuple[tuple[Access, ...], tuple[dict[int, int], ...],
                                               tuple[frozenset[int], ...]]:
    """The block's trackable accesses, and for every instruction position the tracked delta of
    each register and the set of untracked ("dead") registers before it executes (used to
    rebuild block-entry register values in the middle of a block)."""
    delta: dict[int, int] = {}
    dead: set[int] = set()
    accesses: list[Access] = []
    deltas: list[dict[int, int]] = []
    deads: list[frozenset[int]] = []
    for pos, ins in enumerate(insns):
        deltas.append(dict(delta))
        deads.append(frozenset(dead))
        m = ins.mem
        handled_wb = None
        if m is not None and ins.cls != TB:
            is_load = ins.cls in (LOAD, LDRD, LDM, VLDR, VLDM)
            single = ins.cls in (LOAD, STORE)
            if m.base == PC:
                if ins.cls in (LOAD, VLDR, LDRD) and m.index is None:
                    lit = ((ins.address + 4) & ~3) + m.disp
                    accesses.append(Access(pos, -1, -1, 0, lit, m.size * m.count, False, True))
            elif m.base != SP and m.base not in dead and (m.index is None or m.index not in dead) \
                    and not m.subtract_index:
                d = delta.get(m.base, 0) + (delta.get(m.index, 0) << m.shift
                                            if m.index is not None else 0)
                index = m.index if m.index is not None else -1
                if ins.cls in (LDM, STM, VLDM, VSTM):
                    n = m.count
                    start = d - 4 * n if m.down else d
                    for k in range(n):
                        accesses.append(Access(pos, m.base, index, 0, start + 4 * k, 4, False,
                                               is_load))
                    if m.writeback:
                        handled_wb = (m.base, -4 * n if m.down else 4 * n)
                else:
                    ea = d if m.post is not None else d + m.disp
                    for k in range(m.count):
                        accesses.append(Access(pos, m.base, index, m.shift, ea + 4 * k, m.size,
                                               single, is_load))
                    if m.writeback and m.index is None:
                        handled_wb = (m.base, m.post if m.post is not None else m.disp)
        for w in ins.writes:
            if w >= 16:
                continue
            if handled_wb is not None and w == handled_wb[0] and handled_wb[1] != 0:
                if w not in dead:
                    delta[w] = delta.get(w, 0) + handled_wb[1]
            elif ins.add_imm is not None and w == ins.add_imm[0]:
                if w not in dead:
                    delta[w] = delta.get(w, 0) + ins.add_imm[1]
            else:
                dead.add(w)
    deltas.append(dict(delta))
    deads.append(frozenset(dead))
    return tuple(accesses), tuple(deltas), tuple(deads)


def access_groups(insns: list[Insn], unaligned_penalty: int) -> tuple[AccessGroup, ...]:
    """Group the block's data accesses by the register(s) their address comes from.

    Tracked: base (and index) registers not written earlier in the block, except by the
    writeback of earlier accesses or ``ADD/SUB Rd, Rd, #imm``, whose effect is folded into the
    delta.  Not tracked (charged as zero-wait and aligned): SP-relative accesses, accesses whose
    base was loaded or computed earlier in the same block, register post-increments.
    """
    accesses, deltas, deads = block_accesses(insns)
    delta, dead = deltas[-1], deads[-1]
    groups: dict[tuple[int, int, int], list[tuple[int, int, bool, bool]]] = {}
    for a in accesses:
        groups.setdefault((a.base, a.index, a.shift), []).append(
            (a.delta, a.size, a.single, a.load))
    out = []
    for (base, index, shift), accs in groups.items():
        unal = [0, 0, 0, 0]
        for r in range(4):
            for d, size, single, _ in accs:
                if single and size > 1 and (r + d) & (size - 1):
                    unal[r] += 1
        out.append(AccessGroup(base, index, shift, tuple(d for d, *_ in accs),
                               max(d + s - 1 for d, s, *_ in accs) - min(d for d, *_ in accs),
                               tuple(u * unaligned_penalty for u in unal), tuple(unal),
                               sum(1 for *_, ld in accs if ld),
                               None if (base in dead or (index >= 0 and index in dead))
                               else delta.get(base, 0) + (delta.get(index, 0) << shift
                                                          if index >= 0 else 0)))
    return tuple(out)


__all__ = ["AccessGroup", "BranchInfo", "LineCache", "StaticTiming", "access_groups",
           "fetch_lines", "LDRD"]
