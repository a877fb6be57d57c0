"""The tensor-arena planner: where every activation and scratch buffer lives in RAM.

Buffers are the model's run-time tensors (inputs, intermediate activations, outputs) and the
per-layer scratch buffers of the kernels.  A buffer is live from the step of the layer that writes
it (step 0 for model inputs) to the last step that reads it (the last step for model outputs);
a scratch buffer is live during its own layer only.  A constant that a kernel reads from the
arena (:func:`tinymodel.descriptors.arena_constant`: the folded zero state of an open-batch
LSTM / GRU read by its recurrent dense layer) is a buffer live from the first step to the last,
so no layer ever writes over it and every inference reads the bytes the image starts with.  The
image's arena has at least :data:`MIN_ARENA_BYTES` (:func:`image_arena_bytes`).  Placement is
greedy: buffers are taken largest first and each goes to the lowest aligned offset where it overlaps no already placed
buffer whose lifetime intersects its own.

The firmware's tensor arena uses this very plan (the code generator writes these offsets into the
layer table), so the peak reported here is the arena size that runs.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from types import MappingProxyType

import numpy as np

from tinymodel.descriptors import arena_constant
from tinymodel.graph import DTYPE_BYTES, ModelGraph, TensorSpec


@dataclass(frozen=True)
class Buffer:
    """One planned buffer: ``[offset, offset + size_bytes)`` live during steps ``first..last``."""

    name: str
    size_bytes: int
    first: int
    last: int
    offset: int
    scratch: bool = False

    @property
    def end(self) -> int:
        """First byte past the buffer."""
        return self.offset + self.size_bytes


@dataclass(frozen=True)
class ArenaPlan:
    """Result of :func:`plan_arena`.

    ``peak_bytes`` is the arena size (highest buffer end, rounded up to ``alignment``);
    ``lower_bound_bytes`` is the largest sum of simultaneously live buffers, a bound no planner
    can beat.
    """

    buffers: Mapping[str, Buffer]
    peak_bytes: int
    lower_bound_bytes: int
    alignment: int
    steps: int

    def offset(self, name: str) -> int:
        """Arena offset of the tensor (or ``"<layer>:scratch"`` buffer) called ``name``."""
        return self.buffers[name].offset

    def live_bytes(self, step: int) -> int:
        """Sum of the sizes of buffers live at ``step``."""
        return sum(b.size_bytes for b in self.buffers.values() if b.first <= step <= b.last)


def scratch_name(layer_name: str) -> str:
    """Name of a layer's scratch buffer in an :class:`ArenaPlan`."""
    return f"{layer_name}:scratch"


def _lifetimes(graph: ModelGraph, scratch_bytes: Mapping[str, int] | None
               ) -> tuple[dict[str, list[int]], set[str]]:
    """Every buffer of ``graph`` as ``name -> [size_bytes, first, last]``, and the names of the
    scratch buffers (plain lists and ints: this runs once per candidate in a search)."""
    last_step = max(len(graph) - 1, 0)
    spans: dict[str, list[int]] = {}
    for t in graph.inputs:
        spans[t.name] = [t.nbytes, 0, 0]
    get = spans.get
    width = DTYPE_BYTES.get
    step = 0
    for layer in graph:
        for t in layer.inputs:
            if t is None or t.constant or t.data is not None:
                continue
            span = get(t.name)
            if span is None:
                spans[t.name] = [t.nbytes, step, step]
            elif span[2] < step:
                span[2] = step
        for t in layer.outputs:
            span = get(t.name)
            # t.nbytes, inline: this is the planner's hottest line
            if span is None:
                spans[t.name] = [prod(t.shape) * width(t.dtype, 4), step, step]
            else:
                span[0] = prod(t.shape) * width(t.dtype, 4)
        if (c := arena_constant(layer)) is not None:    # (a layer without run-time inputs)
            spans[c.name] = [c.nbytes, 0, last_step]
        step += 1
    for t in graph.outputs:
        span = get(t.name)
        if span is not None:
            span[2] = last_step
    scratch = set()
    if scratch_bytes:
        position = graph.position
        for layer_name, n in scratch_bytes.items():
            if n > 0:
                step = position(layer_name)
                name = scratch_name(layer_name)
                spans[name] = [n, step, step]
                scratch.add(name)
    return spans, scratch


#: The smallest tensor arena an image declares (a model whose tensors need less, or none).
MIN_ARENA_BYTES = 16


def image_arena_bytes(peak: int) -> int:
    """The arena an image declares for a plan whose peak is ``peak`` bytes."""
    return max(peak, MIN_ARENA_BYTES)


def arena_constants(graph: ModelGraph) -> tuple[TensorSpec, ...]:
    """The constants of ``graph`` that live in the arena (:func:`_lifetimes` plans them), once
    each, in the order their first reader runs."""
    seen: dict[str, TensorSpec] = {}
    for layer in graph:
        c = arena_constant(layer)
        if c is not None and c.name not in seen:
            seen[c.name] = c
    return tuple(seen.values())


def arena_image_bytes(graph: ModelGraph, arena_bytes: int) -> int:
    """Flash the arena's initial image takes: ``arena_bytes`` when a constant in it
    (:func:`arena_constants`) has a non-zero byte (the arena is then initialised data, copied
    from flash at reset), else 0 (zeroed at reset)."""
    return arena_bytes if any(any(constant_bytes(c)) for c in arena_constants(graph)) else 0


def constant_bytes(t: TensorSpec) -> bytes:
    """The bytes of constant ``t`` as the kernels read them from the arena (its dtype,
    little-endian, row-major)."""
    if t.data is None:
        raise ValueError(f"constant {t.name!r} has no values")
    return np.ascontiguousarray(t.data, dtype=np.dtype(t.dtype).newbyteorder("<")).tobytes()


def _place(spans: Mapping[str, list[int]], alignment: int) -> tuple[list[str], list[int], int]:
    """The greedy placement: buffers largest first (ties: earlier first step, then name), each at
    the lowest aligned offset clear of every placed buffer live at the same time.  Returns the
    names in placement order, their offsets, and the peak (highest end rounded up)."""
    todo = sorted([(-size, first, name, last) for name, (size, first, last) in spans.items()
                   if size > 0])
    placed: list[tuple[int, int, int, int]] = []    # (offset, aligned end, first, last), sorted
    offsets: list[int] = []
    peak = 0
    for neg_size, first, _, last in todo:
        offset = 0
        # placed buffers by offset; those of equal offset may come in any order, as the result
        # is the largest aligned end among them
        for b_offset, b_end, b_first, b_last in placed:
            if b_first <= last and first <= b_last:
                if offset - neg_size <= b_offset:
                    break
                if b_end > offset:
                    offset = b_end
        end = (offset - neg_size + alignment - 1) // alignment * alignment
        insort(placed, (offset, end, first, last))
        offsets.append(offset)
        if end > peak:
            peak = end
    return [t[2] for t in todo], offsets, peak


def plan_arena(graph: ModelGraph, scratch_bytes: Mapping[str, int] | None = None,
               alignment: int = 16) -> ArenaPlan:
    """Plan the tensor arena of ``graph``.

    ``scratch_bytes`` maps layer names to the scratch size their kernel needs.  Offsets are
    multiples of ``alignment`` bytes.
    """
    spans, scratch = _lifetimes(graph, scratch_bytes)
    order, offsets, peak = _place(spans, alignment)
    placed = [Buffer(name, spans[name][0], spans[name][1], spans[name][2], offset,
                     name in scratch) for name, offset in zip(order, offsets)]
    buffers = {b.name: b for b in sorted(placed, key=lambda b: (b.first, b.name))}
    live = [0] * len(graph)
    for b in placed:
        for s in range(b.first, min(b.last, len(live) - 1) + 1):
            live[s] += b.size_bytes
    lower = max(live, default=0)
    return ArenaPlan(MappingProxyType(buffers), peak, lower, alignment, len(graph))


def peak_bytes(graph: ModelGraph, scratch_bytes: Mapping[str, int] | None = None,
               alignment: int = 16) -> int:
    """``plan_arena(graph, scratch_bytes, alignment).peak_bytes``, without building the plan
    (the same placement; what the estimator needs per candidate)."""
    return _place(_lifetimes(graph, scratch_bytes)[0], alignment)[2]
