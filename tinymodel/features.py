"""Latency-model features of a layer: the event counts its kernel's loop structure implies.

The firmware kernels (docs/kernels.md) spend their time in a few kinds of work: SIMD steps of the
reduction loops, scalar leftover ("tail") steps, per-output requantizations, im2col gathering, and
word loads that happen to be unaligned.  A layer's latency is modelled as a weighted sum of these
counts, with weights fitted per (operator, kernel path, variant) on measurements
(:mod:`tinymodel.fitting`).  The counts follow from shapes alone, by the loop structure of the
path :func:`tinymodel.dispatch.kernel_path` picks:

============== ========================================================================
feature        meaning
============== ========================================================================
calls          1 per layer (call overhead, per-layer setup)
pixels         output pixels (per-pixel setup: tap ranges, im2col columns, micro-kernel calls)
outputs        output elements (one requantization / clamp each)
taps           kernel-tap loop iterations: every tap tested per output in the scalar kernels,
               every valid tap per pixel in the depthwise 3×3 path, every (pixel, tap) im2col
               copy or zero fill in the im2col paths (a fixed cost each, whatever the channels),
               every (pixel, channel group or leftover channel) window walk of the SIMD pools
macs           MACs the kernel really executes (padding taps skipped by scalar kernels)
block_macs     MACs done in 16-wide unrolled SIMD blocks (dense, 1×1 conv)
simd_macs      MACs done in 4-wide SIMD steps (4 int8 per word, ``SMLAD``); for the SIMD
               pools, window elements handled 4 channels per word
tail_macs      MACs done one at a time in leftover loops (``K mod 16``, ``K mod 4``, ``C mod 4``);
               for the SIMD pools, window elements of the ``C mod 4`` leftover channels
im2col_values  int8 values widened into an int16 im2col buffer (``x + zx``)
zero_fills     im2col values written as zeros for padding taps
unaligned      32-bit word loads at addresses that are not a multiple of 4 (expected count)
elements       elements processed by element-wise and pooling kernels (per tap for pools);
               bytes copied by the copy kernels (RESHAPE, CONCATENATION, STRIDED_SLICE) and
               moved by the other data movement (TRANSPOSE, PAD, nearest RESIZE); taps read by
               RESIZE_BILINEAR (4 per output element)
runs           contiguous runs the copy kernels copy (one ``memcpy`` each)
strided_reads  elements a TRANSPOSE reads with a non-unit inner stride (its last output axis
               is not the input's last): one load per element that no burst or cache line
               serves twice
reduce_loops   loop entries of the any-axes MEAN / SUM (``tm_reduce_*``): its eight nested
               loops (four over the kept extents, then per output four over the reduced
               ones, the channel loop innermost) each entered once per iteration of the loop
               around it; the channel loop walks one contiguous run per entry, so a
               reduction that keeps the channels reads every element as a run of one
pow2_divisions ``f32-soft`` only: outputs of an any-axes MEAN whose divisor (the reduced
               element count) is a power of two, a short path of the software division
prescaled      int8 HARD_SWISH elements the kernel pre-scales by its positive ``reluish``
               shift (0 when the input and output scales make that shift 0 or negative)
copy_loops     entries of a strided slice's loops around its ``memcpy`` runs (every piece of
               SPLIT, SPLIT_V, UNPACK, SLICE, STRIDED_SLICE):
               ``1 + c_n + c_n·c_h + c_n·c_h·c_w`` for the loop counts left after the
               trailing stride-1 dims merge into the run
============== ========================================================================

A graph layer that runs as several firmware layers (CONCATENATION and PACK: one per input;
SPLIT, SPLIT_V, UNPACK: one per output; :func:`tinymodel.descriptors.piece_geometry`) counts
one ``calls`` per firmware layer, and its ``elements`` and ``runs`` are the sums over them.

For TRANSPOSE, PAD and nearest RESIZE ``pixels`` counts the inner copy loops: rows of the
innermost output axis (TRANSPOSE), output pixels (PAD's element walk, nearest RESIZE's one
``memcpy`` each); for RESIZE_BILINEAR the output pixels (source rows, columns and weights
computed per pixel).

The paper's own model uses only ``macs`` and the layer's alignment class (§3.1, Table 4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from types import MappingProxyType

import numpy as np

from tinymodel.dispatch import KernelPath, Variant, conv_top_left_padding, kernel_path
from tinymodel.errors import TinymodelError
from tinymodel.formulas import Alignment, alignment_class
from tinymodel.graph import Layer
from tinymodel.ops import Activation, OpType

#: Feature names in a fixed order (table columns).
FEATURE_NAMES = ("calls", "pixels", "outputs", "taps", "macs", "block_macs", "simd_macs",
                 "tail_macs", "im2col_values", "zero_fills", "unaligned", "elements",
                 "col1_macs", "block_loops", "step_loops", "single_pixel_calls", "scalar_rows",
                 "runs", "strided_reads", "reduce_loops",
                 "pow2_divisions", "copy_loops", "prescaled", "flash_lines", "fast_elements",
                 "exp_factors", "cold_code", "tap_loops", "clamped_outputs",
                 "clamped_block_loops", "clamped_step_loops", "per_channel_outputs",
                 "zero_macs")

#: The features each path's model may use (the rest are always zero or collinear for it).
PATH_FEATURES: Mapping[KernelPath, tuple[str, ...]] = MappingProxyType({
    # conv, depthwise and dense layers use the first five; pooling, ADD, MEAN and activations
    # (which run the same scalar kernels in s8-ref and f32) calls, outputs and elements
    KernelPath.REF: ("calls", "pixels", "outputs", "taps", "tap_loops", "macs", "elements",
                     "prescaled", "fast_elements", "exp_factors", "cold_code",
                     "per_channel_outputs"),
    KernelPath.F32: ("calls", "pixels", "outputs", "taps", "tap_loops", "macs", "elements",
                     "zero_macs"),
    KernelPath.FC_OPT: ("calls", "outputs", "block_macs", "tail_macs", "unaligned",
                        "per_channel_outputs"),
    KernelPath.CONV_1X1: ("calls", "pixels", "outputs", "block_macs", "simd_macs", "tail_macs",
                          "block_loops", "step_loops", "single_pixel_calls", "scalar_rows",
                          "clamped_outputs", "clamped_block_loops", "clamped_step_loops",
                          "per_channel_outputs"),
    KernelPath.CONV_IM2COL: ("calls", "pixels", "outputs", "taps", "simd_macs", "tail_macs",
                             "im2col_values", "zero_fills", "unaligned", "col1_macs",
                             "per_channel_outputs"),
    KernelPath.DW_3X3: ("calls", "pixels", "outputs", "taps", "simd_macs", "tail_macs",
                        "unaligned", "per_channel_outputs"),
    KernelPath.DW_GENERIC: ("calls", "pixels", "outputs", "taps", "simd_macs", "tail_macs",
                            "im2col_values", "zero_fills", "per_channel_outputs"),
    KernelPath.TCONV_GATHER: ("calls", "pixels", "outputs", "taps", "simd_macs", "tail_macs",
                              "unaligned", "flash_lines", "per_channel_outputs"),
    KernelPath.SIMD: ("calls", "pixels", "outputs", "taps", "simd_macs", "tail_macs", "elements",
                      "cold_code"),
    KernelPath.SCALAR: ("calls", "pixels", "outputs", "elements", "prescaled", "fast_elements",
                        "exp_factors", "cold_code"),
    KernelPath.REQUANTIZE: ("calls", "elements", "cold_code"),
    # the any-axes reduction: per output a requantization, per input element an add, per
    # entry of one of its eight nested loops a set-up (the channel loop once per run), per
    # MEAN output a division, cheaper by a power of two in software floating point
    KernelPath.REDUCE: ("calls", "outputs", "elements", "reduce_loops", "pow2_divisions",
                        "cold_code"),
    KernelPath.COPY: ("calls", "pixels", "elements", "runs", "strided_reads", "copy_loops",
                      "cold_code"),
    # broadcasting element-wise ops: a row set-up per (n, h, w) of the output, then per output
    # element one value read from each operand (TM_BCAST_APPLY; the operands' sizes count no
    # loop of their own)
    KernelPath.BROADCAST: ("calls", "pixels", "outputs", "cold_code"),
    KernelPath.NONE: (),
})


def misaligned_fraction(row_bytes: int) -> float:
    """Fraction of rows ``r·row_bytes`` (r = 0, 1, 2, ...) that do not start on a 4-byte boundary.

    Odd ``row_bytes``: 3/4; ``row_bytes ≡ 2 (mod 4)``: 1/2; a multiple of 4: 0.
    """
    return {0: 0.0, 2: 0.5}.get(row_bytes % 4, 0.75)


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """``Σ_{i=0}^{n-1} ⌊(a·i + b) / m⌋`` for ``n ≥ 0``, ``m ≥ 1``, ``a, b ≥ 0``, in
    ``O(log m)`` steps.

    Whole quotients come out first: with ``a = qa·m + a'`` and ``b = qb·m + b'`` the sum is
    ``qa·n(n-1)/2 + qb·n`` plus the sum for ``(a', b')``.  For ``a' < m``, ``b' < m`` it counts
    lattice points: ``Σ_i ⌊(a'i + b')/m⌋ = Σ_{j=1}^{J} #{i < n : a'i ≥ jm − b'}`` with
    ``J = ⌊(a'(n−1) + b')/m⌋``, and ``#{...} = n − ⌈(jm − b')/a'⌉``, so the sum is
    ``J·n − Σ_{j=0}^{J-1} ⌊(m·j + m − b' + a' − 1)/a'⌋``: the same sum with ``m`` and ``a'``
    swapped, as in Euclid's algorithm.
    """
    total = 0
    sign = 1
    while n > 0:
        qa, a = divmod(a, m)
        qb, b = divmod(b, m)
        total += sign * (qa * (n * (n - 1) // 2) + qb * n)
        if a == 0:
            break
        last = (a * (n - 1) + b) // m
        if last == 0:
            break
        total += sign * last * n
        sign = -sign
        n, m, a, b = last, a, m, m - b + a - 1
    return total


def _taps_at_most(x: int, out_size: int, k: int, stride: int, dilation: int) -> int:
    """``Σ_{o=0}^{out_size-1} #{t < k : t·dilation ≤ x − o·stride}`` in closed form.

    The count for one ``o`` is ``clip(⌊(x − o·s)/d⌋ + 1, 0, k)``, non-increasing in ``o``: ``k``
    for the first ``full`` positions (``x − o·s ≥ (k−1)·d``), then ``⌊(x − o·s)/d⌋ + 1`` up to
    position ``some`` (``x − o·s ≥ 0``), then 0.  The middle part, read backwards from
    ``o = some − 1`` (where ``c = x − (some−1)·s ≥ 0``), is ``Σ_j ⌊(s·j + c)/d⌋ + 1``.
    """
    full = min(max((x - (k - 1) * dilation) // stride + 1, 0), out_size)
    some = min(max(x // stride + 1, 0), out_size)
    n = some - full
    if n <= 0:
        return k * full
    c = x - (some - 1) * stride
    return k * full + floor_sum(n, dilation, stride, c) + n


def _axis_taps(in_size: int, out_size: int, k: int, stride: int, dilation: int, pad: int) -> int:
    """Σ over output positions of the kernel taps that fall inside the input along one axis.

    Output position ``o`` reads input ``o·stride − pad + t·dilation`` for tap ``t < k``; the tap
    is inside when that lies in ``[0, in_size)``, i.e. ``t·d ≤ in − 1 + pad − o·s`` but not
    ``t·d ≤ pad − 1 − o·s``.  Both counts are :func:`_taps_at_most` sums, so the result is exact
    arithmetic with no loop over outputs or taps (``tests/test_features.py`` checks it against
    the loop on random geometries).
    """
    return (_taps_at_most(in_size - 1 + pad, out_size, k, stride, dilation)
            - _taps_at_most(pad - 1, out_size, k, stride, dilation))


def inside_taps(layer: Layer) -> int:
    """Σ over output pixels (and batch) of the kernel taps inside the input (separable count)."""
    n, h, w, _ = layer.input.shape
    _, oh, ow, _ = layer.output.shape
    k_h, k_w = layer.kernel or (1, 1)
    top, left = conv_top_left_padding(layer)
    return n * (_axis_taps(h, oh, k_h, layer.strides[0], layer.dilation[0], top)
                * _axis_taps(w, ow, k_w, layer.strides[1], layer.dilation[1], left))


@dataclass(frozen=True)
class LayerFeatures:
    """The feature counts of one layer for one variant, with its path and alignment class."""

    path: KernelPath
    alignment: Alignment | None
    counts: Mapping[str, float]

    def vector(self, names: tuple[str, ...]) -> list[float]:
        """The counts named by ``names``, in that order."""
        return [float(self.counts.get(n, 0.0)) for n in names]


@dataclass(frozen=True)
class FlashCache:
    """The cache a deployed network's constants are read through from flash: capacity and line
    size in bytes (the ART data cache of the L4 / F4, the Cortex-M7's L1 data cache of the F7)."""

    bytes: int
    line_bytes: int


def flash_data_cache(board) -> FlashCache | None:
    """The data cache in front of ``board``'s flash (a :class:`tinymodel.boards.Board`), from its
    board file: the flash accelerator's data lines when it has any, else the core's L1 data
    cache; ``None`` when there is none."""
    acc = board.accelerator
    if acc.dcache_lines:
        return FlashCache(acc.dcache_lines * acc.dcache_line_bytes, acc.dcache_line_bytes)
    cc = board.cpu_cache
    if cc is not None and cc.dcache_bytes:
        return FlashCache(cc.dcache_bytes, cc.line_bytes)
    return None


@dataclass(frozen=True)
class CodeCache:
    """The instruction cache the firmware's code is fetched through from flash (the
    Cortex-M7's L1 instruction cache of the F7: sets, ways, line size) and the code bytes of
    the image's kernel and runner functions (``kernel_bytes`` of
    tinymodel/data/firmware_base.json)."""

    sets: int
    ways: int
    line_bytes: int
    variant: Variant
    kernel_bytes: Mapping[str, int]

    def functions(self, entry: tuple[str, str] | None) -> tuple[str, ...]:
        """The kernel functions a layer of table entry ``entry`` (op, path) runs."""
        from tinymodel.firmware_interface import kernel_functions

        known = self._functions
        funcs = known.get(entry)
        if funcs is None:
            funcs = known[entry] = () if entry is None else tuple(
                f for f in kernel_functions(entry[0], entry[1], self.variant)
                if f in self.kernel_bytes)
        return funcs

    @cached_property
    def _functions(self) -> dict[tuple[str, str] | None, tuple[str, ...]]:
        return {}

    @cached_property
    def runner_bytes(self) -> int:
        """Code every layer runs around its kernel (the runner's dispatch)."""
        from tinymodel.firmware_interface import S8_RUNNER_FUNCTIONS

        return sum(self.kernel_bytes.get(f, 0) for f in S8_RUNNER_FUNCTIONS)

    @cached_property
    def wholly_evicted_bytes(self) -> float:
        """Other code after which :meth:`evicted` exceeds :data:`_EVICTED_WHOLLY` (a walk back
        through a network stops there)."""
        lo, hi = 0.0, float(self.line_bytes * self.sets)
        while self.evicted(hi) <= _EVICTED_WHOLLY:
            hi *= 2
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.evicted(mid) <= _EVICTED_WHOLLY else (lo, mid)
        return hi

    def evicted(self, other_bytes: float) -> float:
        """The chance that a line of a kernel's code is gone after ``other_bytes`` of other code
        ran: with code placed at random over the sets, the other lines falling into its set are
        Poisson with mean ``other_bytes / line / sets``, and an LRU set of ``ways`` lines has
        evicted it once ``ways`` of them came: ``P(Poisson ≥ ways)``."""
        lam = other_bytes / self.line_bytes / self.sets
        term = math.exp(-lam)
        kept = 0.0
        for k in range(self.ways):
            kept += term
            term *= lam / (k + 1)
        return max(0.0, 1.0 - kept)


def code_cache(board, variant: Variant | str, kernel_bytes: Mapping[str, int] | None
               ) -> CodeCache | None:
    """``board``'s L1 instruction cache (board file) with the kernel code sizes of the
    ``variant`` image; ``None`` without sizes (float images) or without an L1 cache: the flash
    accelerators' instruction lines of the L4 and F4 (1 KiB) are smaller than the dispatch
    code every layer runs between two kernels, so no kernel finds its code there again."""
    cc = board.cpu_cache
    if not kernel_bytes or cc is None or not cc.icache_bytes:
        return None
    sets = max(1, cc.icache_bytes // (cc.line_bytes * cc.icache_ways))
    return CodeCache(sets, cc.icache_ways, cc.line_bytes, Variant.parse(variant),
                     MappingProxyType(dict(kernel_bytes)))


#: Table-entry operators whose layers' code fetches are lost in their arithmetic: their
#: ``cold_code`` is 0 (their code still evicts the others').
CODE_IN_NOISE_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                               "TRANSPOSE_CONV", "BATCH_MATMUL"})
#: Other code after which a kernel's code is taken as wholly evicted (the walk back through a
#: network stops there): many times the cache.
_EVICTED_WHOLLY = 0.999


def cold_code(entries: Sequence[tuple[str, str] | None], cache: CodeCache | None) -> list[float]:
    """Per layer of a network in execution order (each named by its table entry, op and path;
    ``None`` for a layer without a kernel), the bytes of its kernel code expected to be fetched
    from flash again: its functions' bytes × :meth:`CodeCache.evicted` of the other code run
    since its previous run (cyclically: an inference repeats) — the runner's dispatch and
    the distinct functions of the layers in between.  A layer run right after one of its own
    entry finds nearly all of its code; one after many other kernels, little.  All 0 without
    a cache, and for layers of :data:`CODE_IN_NOISE_OPS` (docs/prediction.md, "Code in the
    cache")."""
    n = len(entries)
    out = [0.0] * n
    if cache is None or n == 0:
        return out
    funcs = {e: cache.functions(e) for e in set(entries)}
    seq = [funcs[e] for e in entries]
    size = cache.kernel_bytes
    own_bytes = {e: sum(size[f] for f in fs) for e, fs in funcs.items()}
    runner = cache.runner_bytes
    stop = cache.wholly_evicted_bytes
    for i, e in enumerate(entries):
        own = seq[i]
        if not own or e[0] in CODE_IN_NOISE_OPS:
            continue
        seen = set(own)
        other = runner
        for j in range(i - 1, i - n, -1):      # back through the network, cyclically
            if entries[j] == e:
                break
            for f in seq[j]:
                if f not in seen:
                    seen.add(f)
                    other += size[f]
            if other > stop:
                break
        out[i] = own_bytes[e] * cache.evicted(other)
    return out


#: Bytes of per-output-channel constants an int8 convolution reads with each pass over its
#: weights: the int32 bias, requantization multiplier and shift (docs/firmware.md).
CHANNEL_TABLE_BYTES = 12


def flash_lines(total_bytes: int, pass_bytes: float, passes: int, cache: FlashCache | None) -> float:
    """Cache lines a kernel fills from flash while it reads its constants ``passes`` times,
    ``pass_bytes`` per pass, ``total_bytes`` in all: once each when they all fit ``cache``, else
    every line of every pass (a stream longer than an LRU cache evicts itself).  0 without a
    cache (no board given)."""
    if cache is None or total_bytes <= 0:
        return 0.0
    if total_bytes <= cache.bytes:
        return float(-(-total_bytes // cache.line_bytes))
    return passes * pass_bytes / cache.line_bytes


def _conv_like(layer: Layer, path: KernelPath) -> dict[str, float]:
    n, _, _, ic = layer.input.shape
    _, oh, ow, oc = layer.output.shape
    k_h, k_w = layer.kernel or (1, 1)
    pixels = n * oh * ow
    taps = k_h * k_w
    inside = inside_taps(layer)                 # Σ pixels of valid taps
    depthwise = layer.op is OpType.DEPTHWISE_CONV_2D
    per_tap = 1 if depthwise else ic            # MACs per (pixel, out channel, tap)
    c = {"calls": 1, "pixels": pixels, "outputs": pixels * oc}
    if path in (KernelPath.REF, KernelPath.F32):
        # scalar kernels test every tap and skip those outside the input; a tap inside enters
        # the input-channel loop (its offsets computed anew), a cost of its own when that loop
        # is short (a first convolution of 1-3 channels)
        c["taps"] = pixels * oc * taps
        c["tap_loops"] = inside * oc
        c["macs"] = inside * oc * per_tap // (layer.groups or 1)
        return c
    if path is KernelPath.CONV_1X1:
        k = ic
        pairs_c, odd_c = divmod(oc, 2)
        block_k, step_k = (k // 16) * 16, ((k % 16) // 4) * 4
        c["block_macs"] = pairs_c * 2 * pixels * block_k
        c["simd_macs"] = pairs_c * 2 * pixels * step_k
        c["tail_macs"] = pairs_c * 2 * pixels * (k - block_k - step_k) + odd_c * pixels * k + oc * k
        c["macs"] = pixels * oc * k
        # loop entries: every micro-kernel call (2 pixels or an odd last pixel, x 2 channels)
        # enters the 16-block loop when k >= 16 and the 4-step loop when k mod 16 >= 4; each
        # entered loop's code is fetched again, which costs more than its iterations where the
        # flash cache is small (the L4's 1 KB ART instruction cache)
        pairs_p, odd_p = divmod(pixels, 2)
        kernel_calls = pairs_c * (pairs_p + odd_p)
        c["block_loops"] = kernel_calls if block_k else 0
        c["step_loops"] = kernel_calls if step_k else 0
        c["single_pixel_calls"] = pairs_c * odd_p
        c["scalar_rows"] = odd_c * pixels       # the odd last channel's scalar row loop
        # a call whose four requantizations mix the clamp's paths (a fused ReLU / ReLU6) runs
        # more code than the L4's / F4's 1 KiB ART holds with its loops: its outputs fetch the
        # other path and it fetches each entered loop again (docs/calibration.md "Data
        # profiles", benchmarks/context_features.py clamp)
        if clamps(layer):
            c["clamped_outputs"] = c["outputs"]
            c["clamped_block_loops"] = c["block_loops"]
            c["clamped_step_loops"] = c["step_loops"]
        # (no flash_lines: streaming the weights per pixel pair, its fit in network context
        # gave the line fills a negative weight on the L4 -- what differs there from a layer
        # alone is instruction fetch, which the calibration networks measure as deployed)
        return c
    if path is KernelPath.CONV_IM2COL:
        k = taps * ic
        # one copy (or zero fill) per (pixel, tap): a fixed cost each, whatever ic is
        c["taps"] = pixels * taps
        c["im2col_values"] = inside * ic
        c["zero_fills"] = (pixels * taps - inside) * ic
        c["simd_macs"] = pixels * oc * (k // 4) * 4
        c["tail_macs"] = pixels * oc * (k % 4)
        c["macs"] = pixels * oc * k
        # an odd pixel count leaves one column for a 1 x 1 loop that widens every weight word
        # for a single column (the 2 x 2 micro-kernel widens it once for two)
        c["col1_macs"] = (pixels % 2) * oc * k
        # weight rows start at c·K bytes; the second im2col column starts K int16 after the first
        col_words = (pixels // 2) * (oc // 2 * 2 + oc % 2) * (k // 4) * 2
        c["unaligned"] = (pixels * oc * (k // 4) * misaligned_fraction(k)
                          + (col_words / 2 if k % 2 else 0.0))
        return c
    if path is KernelPath.DW_3X3:
        groups, rest = divmod(ic, 4)
        c["taps"] = inside
        c["simd_macs"] = inside * groups * 4
        c["tail_macs"] = inside * rest
        c["macs"] = inside * ic
        # input words at pixel·C + c and weight words at tap·C + c
        c["unaligned"] = 2 * inside * groups * misaligned_fraction(ic)
        return c
    if path is KernelPath.DW_GENERIC:
        groups, rest = divmod(ic, 4)
        c["taps"] = pixels * taps
        c["im2col_values"] = inside * ic
        c["zero_fills"] = (pixels * taps - inside) * ic
        c["simd_macs"] = pixels * groups * 4 * (taps // 2) * 2
        c["tail_macs"] = pixels * (groups * 4 * (taps % 2) + rest * taps)
        c["macs"] = pixels * ic * taps
        return c
    raise TinymodelError(f"layer {layer.name!r}: no features for path {path.value}")


def _tconv_axis_pairs(in_size: int, out_size: int, k: int, stride: int, pad: int) -> int:
    """(input index, tap) pairs of a TRANSPOSE_CONV axis that land inside the output."""
    return sum(1 for i in range(in_size) for t in range(k) if 0 <= i * stride - pad + t < out_size)


def _transpose_conv(layer: Layer, path: KernelPath, cache: FlashCache | None = None
                    ) -> dict[str, float]:
    """TRANSPOSE_CONV: the scalar scatter (``REF``, ``F32``: every (input pixel, ic, tap) is
    tested, the inside ones do ``oc`` MACs; the output is zeroed and requantized element by
    element) or the s8-opt gather (``TCONV_GATHER``: per output pixel and pair of output
    channels, every tap tested, each valid one a dot product over ``ic`` in 4-channel SMLAD steps
    and an ``ic mod 4`` tail; input pixels and weight rows at multiples of ``ic``)."""
    from tinymodel.formulas import transpose_conv_padding

    n, h, w, ic = layer.input.shape
    _, oh, ow, oc = layer.output.shape
    k_h, k_w = layer.kernel or (1, 1)
    s_h, s_w = layer.strides
    same = layer.padding.value == "same"
    pad_h = transpose_conv_padding(oh, k_h, s_h, same)[0]
    pad_w = transpose_conv_padding(ow, k_w, s_w, same)[0]
    inside = n * (_tconv_axis_pairs(h, oh, k_h, s_h, pad_h)
                  * _tconv_axis_pairs(w, ow, k_w, s_w, pad_w))
    pixels = n * oh * ow
    c: dict[str, float] = {"calls": 1, "pixels": pixels, "outputs": pixels * oc,
                           "macs": inside * ic * oc}
    if path in (KernelPath.REF, KernelPath.F32):
        c["taps"] = n * h * w * ic * k_h * k_w
        c["elements"] = pixels * oc              # zeroing the accumulators
        return c
    pairs, odd = divmod(oc, 2)
    c["taps"] = pixels * (pairs + odd) * k_h * k_w
    c["simd_macs"] = inside * oc * (ic // 4) * 4
    c["tail_macs"] = inside * oc * (ic % 4)
    # per valid tap and channel pair: ic/4 input words and 2 x ic/4 weight words
    c["unaligned"] = inside * (ic // 4) * (3 * pairs + 2 * odd) * misaligned_fraction(ic)
    # per output pixel: the weight rows of its valid taps and the channel tables
    const = oc * k_h * k_w * ic + CHANNEL_TABLE_BYTES * oc
    per_pixel = inside / pixels * oc * ic + CHANNEL_TABLE_BYTES * oc if pixels else 0.0
    c["flash_lines"] = flash_lines(const, per_pixel, pixels, cache)
    return c


def _batch_matmul(layer: Layer) -> dict[str, float]:
    """BATCH_MATMUL (one scalar kernel): ``outputs`` requantizations, ``macs`` = ``elements`` =
    outputs · k scalar MAC steps (``elements`` is what the shared scalar path's model uses)."""
    k = layer.input.shape[-2] if layer.options.get("adj_x") else layer.input.shape[-1]
    out = layer.output.size
    return {"calls": 1, "outputs": out, "macs": out * k, "elements": out * k}


def _dense(layer: Layer, path: KernelPath) -> dict[str, float]:
    weights = layer.weights
    if weights is None:
        raise TinymodelError(f"layer {layer.name!r} (FULLY_CONNECTED) has no weight tensor")
    units, k = weights.shape
    rows = layer.input.size // k
    c = {"calls": 1, "outputs": rows * units, "macs": rows * units * k}
    if path is KernelPath.FC_OPT:
        blocks = (k // 16) * 16
        c["block_macs"] = rows * units * blocks
        c["tail_macs"] = rows * units * (k - blocks)
        # per 16-column block and row pair: 4 input words + 8 weight words; weight rows start at r·K
        pairs, odd = divmod(units, 2)
        words = rows * (k // 16) * 4
        c["unaligned"] = (words * (pairs * 2 + odd) * misaligned_fraction(k)
                          + words * (pairs + odd) * (misaligned_fraction(k) if rows > 1 else 0.0))
    return c


def _pad_runs(layer: Layer) -> int:
    """The ``memset`` / ``memcpy`` calls of a PAD done in blocks (s8-opt's ``tm_pad_s8_opt``:
    per batch image the rows above and below, per input row the columns before and after and
    the row itself, or three calls per pixel when the channels are padded too); the element
    walk of the other variants makes none, and the fit gives the feature no weight there."""
    shape = (1,) * (4 - len(layer.input.shape)) + tuple(int(d) for d in layer.input.shape)
    pads = tuple(tuple(int(v) for v in p) for p in layer.options.get("paddings", ()))
    pads = ((0, 0),) * (4 - len(pads)) + pads
    n, h, w, _ = shape
    channel_pad = pads[3] != (0, 0) if len(pads) == 4 else False
    per_row = 2 + (3 * w if channel_pad else 1)
    return n * (2 + h * per_row) + (pads[0][0] + pads[0][1] if len(pads) == 4 else 0)


def _pieces(layer: Layer) -> dict[str, float]:
    """``calls``, ``elements`` (bytes) and ``runs`` of a layer that runs as firmware
    CONCATENATION or STRIDED_SLICE layers, summed over them; a layer whose windows cannot be
    worked out (the deploy rules refuse it) counts as one copy of its output."""
    from tinymodel.descriptors import piece_geometry

    width = layer.output.nbytes // max(layer.output.size, 1)
    try:
        pieces = piece_geometry(layer)
    except TinymodelError:
        return {"calls": 1, "elements": sum(t.nbytes for t in layer.outputs), "runs": 1}
    return {"calls": len(pieces), "elements": sum(p.elements() for p in pieces) * width,
            "runs": sum(p.runs() for p in pieces),
            "copy_loops": sum(p.outer_loops() for p in pieces)}


def reduce_loops(layer: Layer) -> int:
    """Loop entries of ``tm_reduce_s8_ref`` / ``tm_reduce_f32``.

    The kernels pad the input to 4-D ``(n, h, w, c)`` (leading 1s) and nest eight loops: over
    the kept extents ``k_n, k_h, k_w, k_c`` (1 for a reduced dimension), then, per output
    element, over the reduced extents ``r_n, r_h, r_w, r_c`` (1 for a kept one), the channel
    loop innermost (one contiguous run per entry).  A loop is entered once per iteration of the
    loop around it, so the entries are
    ``1 + k_n + k_n·k_h + k_n·k_h·k_w + O·(1 + r_n + r_n·r_h + r_n·r_h·r_w)`` with
    ``O = k_n·k_h·k_w·k_c`` outputs.  Every entry costs about the same (a pointer or index
    set-up, a compare, a branch: 16 to 20 cycles in the int8 kernel on the virtual L4), so one
    feature counts them all; the plan's MEAN or SUM points could not tell apart features per
    loop level (docs/kernels.md).  Axes the deploy rules refuse and ranks above 4 count as a
    reduction over the channels alone (such a layer is predicted, never run)."""
    from tinymodel.descriptors import reduce_axes_mask

    shape = (1,) * (4 - len(layer.input.shape)) + tuple(int(d) for d in layer.input.shape)
    mask = 0b1000
    if len(shape) == 4:
        try:
            mask = reduce_axes_mask(layer)
        except TinymodelError:
            pass
    else:
        out = max(layer.output.size, 1)
        shape = (1, 1, out, layer.input.size // out)
    kept = [1 if mask >> i & 1 else d for i, d in enumerate(shape)]
    red = [d if mask >> i & 1 else 1 for i, d in enumerate(shape)]
    outputs = kept[0] * kept[1] * kept[2] * kept[3]
    outer = 1 + kept[0] * (1 + kept[1] * (1 + kept[2]))
    return outer + outputs * (1 + red[0] * (1 + red[1] * (1 + red[2])))


def _reduce(layer: Layer, variant: Variant) -> dict[str, float]:
    """The any-axes MEAN / SUM (path ``REDUCE``): per output a requantization (int8) or, for a
    float MEAN, a division by the reduced element count ``n``; per input element an add; the
    loop entries of :func:`reduce_loops`.  In ``f32-soft`` the division is libgcc's
    ``__aeabi_fdiv``, which branches to a short path when the divisor's fraction bits are all
    zero (the toolchain's ``thumb/v7e-m/nofp`` libgcc, disassembled), so a MEAN whose ``n`` is a
    power of two counts its outputs as ``pow2_divisions``: 16 channels cost 20,467 cycles on the
    virtual L4, 15 channels 22,199 (``mean-channels``, 16 outputs).  The FPU's ``VDIV`` and the
    int8 kernel (``1/n`` folded into the multiplier) have no such case."""
    out = layer.output.size
    c: dict[str, float] = {"calls": 1, "outputs": out, "elements": layer.input.size,
                           "reduce_loops": reduce_loops(layer)}
    n = layer.input.size // max(out, 1)
    if variant is Variant.F32_SOFT and layer.op is OpType.MEAN and n & (n - 1) == 0:
        c["pow2_divisions"] = out
    return c


def _hard_swish_prescales(layer: Layer) -> bool:
    """Whether the int8 HARD_SWISH kernel pre-scales each element by its positive ``reluish``
    shift (a multiply and a 16-bit saturation more per element; ``tm_hard_swish_s8_ref``): the
    shift follows from the input and output scales (:func:`tinymodel.requantization.hard_swish_params`)."""
    from tinymodel.requantization import hard_swish_params

    qi, qo = layer.input.quantization, layer.output.quantization
    if qi is None or qo is None or not qi.scale or not qo.scale:
        return False
    try:
        p = hard_swish_params(qi.scale[0], qi.zero_point[0], qo.scale[0], qo.zero_point[0])
    except TinymodelError:
        return False
    return p.reluish_shift > 0


#: int8 codes an activation takes.
INT8_CODES = 256
#: The spread (standard deviation, in int8 codes) of the codes an int8 LOGISTIC / TANH is
#: assumed to read when nothing else is known, around its input zero point: post-training
#: quantization sets a tensor's range from the minimum and maximum it observed, which for
#: bell-shaped activations lie near ±4 standard deviations, so the 256 codes span about 8 of
#: them (docs/prediction.md, "Data-dependent layers").
ACTIVATION_SPREAD_CODES = INT8_CODES / 8
#: ``Layer.options`` key by which a calibration record says what data a layer read (a
#: profile as ``calibration.context.DataProfile.as_dict`` writes it: ``name`` uniform / relu /
#: normal, ``zero_point``, ``spread``); prediction never sets it.
INPUT_CODES_OPTION = "input_codes"
#: The :data:`INPUT_CODES_OPTION` value of codes uniform over the int8 range.
UNIFORM_CODES: Mapping[str, str] = MappingProxyType({"name": "uniform"})
#: How a calibration network's data are drawn (:func:`_profile_weights`; the profiles of
#: ``calibration.context``).
CODE_PROFILES = ("uniform", "relu", "normal")


def _profile_weights(name: str, zero_point: float, spread: float) -> np.ndarray:
    """Probabilities of the int8 codes −128..127 for data drawn as ``name`` says: ``uniform``
    over all codes; ``normal`` ``round(N(zero_point, spread))`` and ``relu``
    ``round(zero_point + |N(0, spread)|)``, both clipped to the int8 range (the clipped mass on
    the end codes), as ``calibration.context`` draws a profile's data."""
    codes = np.arange(-128, 128, dtype=np.float64)
    if name == "uniform" or not spread > 0:
        return np.full(INT8_CODES, 1.0 / INT8_CODES)
    from scipy.stats import norm

    upper = norm.cdf((codes + 0.5 - zero_point) / spread)
    lower = norm.cdf((codes - 0.5 - zero_point) / spread)
    if name == "relu":
        # |N(0, s)| + zp: twice the normal's mass above zp, none below
        upper = np.clip(2.0 * upper - 1.0, 0.0, 1.0)
        lower = np.clip(2.0 * lower - 1.0, 0.0, 1.0)
    w = upper - lower
    w[0] += lower[0]
    w[-1] += 1.0 - upper[-1]
    return w / w.sum()


def input_code_weights(layer: Layer) -> np.ndarray:
    """Probabilities of the 256 int8 codes of ``layer``'s input: the profile a calibration
    record names (:data:`INPUT_CODES_OPTION`), else the assumption for activations of a
    converted model: normal around the input zero point with :data:`ACTIVATION_SPREAD_CODES`."""
    given = layer.options.get(INPUT_CODES_OPTION)
    if isinstance(given, Mapping):
        name = given.get("name", "uniform")
        try:
            zero_point, spread = float(given.get("zero_point", 0)), float(given.get("spread", 0))
        except (TypeError, ValueError):
            zero_point = spread = math.nan
        if name not in CODE_PROFILES or not (math.isfinite(zero_point) and math.isfinite(spread)):
            raise TinymodelError(f"input codes {dict(given)!r}: not a data profile (name one of "
                                 f"{', '.join(CODE_PROFILES)}, numeric zero_point and spread)")
        return _profile_weights(name, zero_point, spread)
    q = layer.input.quantization
    zp = int(q.zero_point[0]) if q is not None and len(q.zero_point) else 0
    return _profile_weights("normal", zp, ACTIVATION_SPREAD_CODES)


@lru_cache(maxsize=4096)
def _fixed_point_work(op: OpType, input_offset: int, multiplier: int, left_shift: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per int8 input code (−128..127) of an int8 LOGISTIC / TANH (``tm_logistic_s8_ref``,
    ``tm_tanh_s8_ref``): whether the kernel takes a fast path (``|x| ≥ radius`` saturates, a
    rescaled input of 0 returns at once) and how many ``exp(−2^k)`` factors its ``exp`` of the
    negative magnitude multiplies in (one per set bit of the magnitude's whole quarters below
    the integer bits: 4 for LOGISTIC's Q4.27, 5 for TANH's −2|a| read as Q5.26; shared/reference
    tflite-op-arithmetic.md 1.6)."""
    from tinymodel import requantization as rq

    x = np.arange(-128, 128, dtype=np.int64) + input_offset
    radius = (15 << 27) >> left_shift
    y = rq.multiply_by_quantized_multiplier(x, multiplier, left_shift)
    int_bits = rq.LOGISTIC_INPUT_INTEGER_BITS + (1 if op is OpType.TANH else 0)
    frac_bits = 31 - int_bits
    quarter = 1 << (frac_bits - 2)
    a = -np.abs(y)
    rest = ((a & (quarter - 1)) - quarter) - a          # the whole quarters of |a|, as bits
    factors = np.zeros_like(x)
    for k in range(int_bits + 2):
        factors += (rest >> (frac_bits - 2 + k)) & 1
    fast = (np.abs(x) >= radius) | (y == 0)
    return fast, np.where(fast, 0, factors)


def _fixed_point_expectations(layer: Layer) -> tuple[float, float]:
    """Expected fast-path elements and ``exp`` factors of an int8 LOGISTIC / TANH layer over
    :func:`input_code_weights`; (0, 0) without usable quantization."""
    from tinymodel import requantization as rq

    q = layer.input.quantization
    if q is None or not q.scale:
        return 0.0, 0.0
    try:
        p = rq.logistic_params(float(q.scale[0]), int(q.zero_point[0]))
    except TinymodelError:
        return 0.0, 0.0
    fast, factors = _fixed_point_work(layer.op, p.input_offset, p.input_multiplier,
                                      p.input_left_shift)
    w = input_code_weights(layer)
    n = layer.input.size
    return n * float(w @ fast), n * float(w @ factors)


def _softmax_active_taps(depth: int, radius: int) -> float:
    """Expected taps of a ``depth``-wide int8 SOFTMAX row within ``radius`` codes of the row's
    maximum (the ones the kernel evaluates; the others give −128 at once), for codes uniform
    over the int8 range (calibration networks feed SOFTMAX uniform codes):
    ``depth · Σ_m P(max of the others = m) · P(x ≥ m − radius)``."""
    if depth <= 1:
        return float(depth)
    n = INT8_CODES
    total = 0.0
    prev = 0.0
    for m in range(n):
        cdf = ((m + 1) / n) ** (depth - 1)
        p_m = cdf - prev
        prev = cdf
        total += p_m * min(1.0, (n - max(m - radius, 0)) / n)
    return depth * total


def _value_paths(layer: Layer) -> tuple[float, float]:
    """``(fast_elements, exp_factors)`` of ``layer``: the int8 LOGISTIC / TANH pair is one
    expectation over the input codes, so it is computed once for both."""
    from tinymodel import requantization as rq

    if layer.op not in (OpType.LOGISTIC, OpType.TANH, OpType.SOFTMAX) or layer.input.dtype != "int8":
        return 0.0, 0.0
    if layer.op is not OpType.SOFTMAX:
        return _fixed_point_expectations(layer)
    q = layer.input.quantization
    if q is None or not q.scale:
        return 0.0, 0.0
    try:
        radius = -rq.softmax_params(float(layer.options.get("beta", 1.0)),
                                    float(q.scale[0])).diff_min
    except TinymodelError:
        return 0.0, 0.0
    depth = layer.input.shape[-1] if layer.input.shape else 1
    rows = layer.input.size // max(depth, 1)
    return rows * (depth - _softmax_active_taps(depth, radius)), 0.0


def fast_elements(layer: Layer) -> float:
    """Elements an int8 LOGISTIC, TANH or SOFTMAX kernel takes its fast path for, expected over
    its input codes: LOGISTIC / TANH saturate ``|q − zp| ≥ radius`` and return at once for an
    input rescaled to 0 (``tm_logistic_s8_ref``, ``tm_tanh_s8_ref``; codes as
    :func:`input_code_weights` says), SOFTMAX skips the taps more than ``−diff_min`` codes
    below their row's maximum (``tm_softmax_s8_ref``; codes uniform); both bounds follow from
    the input scale (:mod:`tinymodel.requantization`), so a layer with a larger input scale
    takes the fast path more often.  0 for any other layer, a float layer, or missing
    quantization."""
    return _value_paths(layer)[0]


def exp_factors(layer: Layer) -> float:
    """``exp(−2^k)`` factors an int8 LOGISTIC or TANH multiplies in, expected over its input
    codes (:func:`input_code_weights`): each is one more fixed-point multiply per element, so
    inputs of larger magnitude cost more.  0 for any other layer."""
    return _value_paths(layer)[1]


def _other(layer: Layer, path: KernelPath) -> dict[str, float]:
    out = layer.output.size
    c: dict[str, float] = {"calls": 1, "outputs": out}
    if layer.op in (OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D):
        ch = layer.input.shape[-1]
        inside = inside_taps(layer)
        c["pixels"] = out // layer.output.shape[-1]     # window bounds computed per pixel
        c["elements"] = inside * ch
        if path is KernelPath.SIMD:
            # channels in groups of 4 (one word per valid tap), the c mod 4 rest one by one;
            # each group or leftover channel walks the window again
            groups, rest = divmod(ch, 4)
            c["taps"] = c["pixels"] * (groups + rest)
            c["simd_macs"] = inside * groups * 4
            c["tail_macs"] = inside * rest
    elif layer.op is OpType.HARD_SWISH and layer.input.dtype == "int8":
        c["elements"] = layer.input.size
        c["prescaled"] = layer.input.size if _hard_swish_prescales(layer) else 0
    elif layer.op is OpType.RESHAPE:
        c["elements"] = layer.output.nbytes
        c["runs"] = 1
    elif layer.op in (OpType.TRANSPOSE, OpType.PAD, OpType.RESIZE_NEAREST_NEIGHBOR):
        c["elements"] = layer.output.nbytes
        c["pixels"] = out // max(layer.output.shape[-1], 1) if layer.output.shape else 1
        if layer.op is OpType.TRANSPOSE:
            shape, perm = layer.input.shape, tuple(layer.options.get("perm", ()))
            if perm and perm[-1] % len(shape) != len(shape) - 1 and shape[-1] > 1:
                c["strided_reads"] = out
        elif layer.op is OpType.PAD:
            c["runs"] = _pad_runs(layer)
    elif layer.op is OpType.RESIZE_BILINEAR:
        c["pixels"] = out // max(layer.output.shape[-1], 1)
        c["elements"] = 4 * out
    elif path is KernelPath.COPY:
        c.update(_pieces(layer))
    elif path is KernelPath.BROADCAST:
        shape = layer.output.shape
        c["pixels"] = out // shape[-1] if shape and shape[-1] else out     # rows of the loop
    else:
        c["elements"] = sum(t.size for t in layer.activation_inputs)
        c["fast_elements"], c["exp_factors"] = _value_paths(layer)
    return c


#: int8 MAC operators whose requantization ends in the fused activation's clamp.
CLAMPING_OPS = frozenset({OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED,
                          OpType.TRANSPOSE_CONV})
#: Fused activations that cut a converted layer's output range inside the accumulators' range
#: (a ReLU at 0, a ReLU6 at 0 and 6): their clamp branch runs for a large share of the outputs,
#: interleaved with the unclamped path.  Without one, the converter's output range holds every
#: value of its representative data and the clamp rarely runs.
CLAMPING_ACTIVATIONS = frozenset({Activation.RELU, Activation.RELU6, Activation.RELU_N1_TO_1})


def _int8_mac(layer: Layer) -> bool:
    """Whether ``layer`` is an int8 layer of :data:`CLAMPING_OPS` (a requantizing MAC layer)."""
    return layer.op in CLAMPING_OPS and layer.input is not None and layer.input.dtype == "int8"


def clamps(layer: Layer) -> bool:
    """Whether ``layer`` is an int8 MAC layer whose fused activation clamps
    (:data:`CLAMPING_ACTIVATIONS`): its outputs then mix both paths of the requantization's
    clamp, which changes the code each micro-kernel call runs (``clamped_block_loops``)."""
    return _int8_mac(layer) and layer.activation in CLAMPING_ACTIVATIONS


def per_channel(layer: Layer) -> bool:
    """Whether ``layer`` is an int8 MAC layer with per-channel weight scales: each output then
    reads its own requantization multiplier and shift from the blob (per tensor: one pair for
    all; the MLPerf Tiny AD model's dense layer alone on the virtual L4 costs 53,573 cycles per
    tensor, 55,731 with the same scale per channel; docs/calibration.md "Data profiles")."""
    w = layer.weights
    return (_int8_mac(layer) and w is not None and w.quantization is not None
            and len(w.quantization.scale) > 1)


#: :class:`~tinymodel.graph.Layer` option: the share of exact zeros in the layer's data input.
#: The fit sets it from the record's data profile (:func:`profile_zero_share`), the estimator
#: for a layer whose input a ReLU produced (:data:`ZEROING_ACTIVATIONS`); unset, 0.
INPUT_ZEROS_OPTION = "input_zeros"
#: The share of exact zeros in a ReLU's output: ``max(0, x)`` of a value symmetric about 0 (what
#: the calibration's ``relu`` profile draws for float32 data).
RELU_ZERO_SHARE = 0.5
#: Activations (fused, or as operators) whose output is ``max(0, x)`` below their top.
ZEROING_ACTIVATIONS = frozenset({Activation.RELU, Activation.RELU6})
ZEROING_OPS = frozenset({OpType.RELU, OpType.RELU6})


def profile_zero_share(codes: Mapping | None) -> float:
    """The share of exact zeros in data drawn as the profile ``codes`` (a record's
    ``input_data``) says: :data:`RELU_ZERO_SHARE` for ``relu``, else 0."""
    return RELU_ZERO_SHARE if isinstance(codes, Mapping) and codes.get("name") == "relu" else 0.0


def layer_features(layer: Layer, variant: Variant | str,
                   cache: FlashCache | None = None) -> LayerFeatures:
    """Path, alignment class and feature counts of ``layer`` run by ``variant``'s kernels;
    ``cache`` (:func:`flash_data_cache` of the board) gives ``flash_lines``, which is 0 without
    it."""
    variant = Variant.parse(variant)
    path = kernel_path(layer, variant)
    alignment = None
    if path is KernelPath.NONE:
        counts: dict[str, float] = {}
    elif layer.op in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D):
        counts = _conv_like(layer, path)
        alignment = alignment_class(layer.input.shape[-1])
    elif layer.op is OpType.FULLY_CONNECTED:
        counts = _dense(layer, path)
        alignment = alignment_class(layer.weights.shape[1])
    elif layer.op is OpType.TRANSPOSE_CONV:
        counts = _transpose_conv(layer, path, cache)
        alignment = alignment_class(layer.input.shape[-1])
    elif layer.op is OpType.BATCH_MATMUL:
        counts = _batch_matmul(layer)
        adj_x = layer.options.get("adj_x")
        alignment = alignment_class(layer.input.shape[-2] if adj_x else layer.input.shape[-1])
    elif path is KernelPath.REDUCE:
        counts = _reduce(layer, variant)
    else:
        counts = _other(layer, path)
    if path is not KernelPath.NONE and per_channel(layer):
        counts["per_channel_outputs"] = float(layer.output.size)
    if path is KernelPath.F32 and variant is Variant.F32_SOFT:
        # the soft-float multiply returns early for a zero operand and adding a zero product is
        # cheap: a ResNet-20 convolution alone on the virtual F4 (f32-soft) took 247,329,675
        # cycles on inputs |N(0, 0.5)| and 199,557,262 on max(0, N(0, 0.5)) (half zeros;
        # benchmarks/context_features.py zeros)
        zm = float(layer.options.get(INPUT_ZEROS_OPTION) or 0.0) * counts.get("macs", 0.0)
        if zm and layer.op in CLAMPING_OPS:
            counts["zero_macs"] = zm
    return LayerFeatures(path, alignment, MappingProxyType(counts))
