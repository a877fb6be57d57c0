"""The tensor-arena planner: where every activation and scratch buffer lives in RAM.

Buffers are the model's run-time tensors (inputs, intermediate activations, outputs) and the
per-layer scratch buffers of the kernels.  A buffer is live from the step of the layer that writes
it (step 0 for model inputs) to the last step that reads it (the last step for model outputs);
a scratch buffer is live during its own layer only.  Placement is greedy: buffers are taken
largest first and each goes to the lowest aligned offset where it overlaps no already placed
buffer whose lifetime intersects its own.

The firmware's tensor arena uses this very plan (the code generator writes these offsets into the
layer table), so the peak reported here is the arena size that runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tinymodel.graph import ModelGraph


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


def _round_up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def plan_arena(graph: ModelGraph, scratch_bytes: Mapping[str, int] | None = None,
               alignment: int = 16) -> ArenaPlan:
    """Plan the tensor arena of ``graph``.

    ``scratch_bytes`` maps layer names to the scratch size their kernel needs.  Offsets are
    multiples of ``alignment`` bytes.
    """
    last_step = max(len(graph) - 1, 0)
    output_names = {t.name for t in graph.outputs}
    spans: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}
    for t in graph.inputs:
        spans[t.name] = [0, 0]
        sizes[t.name] = t.nbytes
    for step, layer in enumerate(graph):
        for t in layer.inputs:
            if t is None or t.is_constant:
                continue
            span = spans.setdefault(t.name, [step, step])
            sizes.setdefault(t.name, t.nbytes)
            span[1] = max(span[1], step)
        for t in layer.outputs:
            spans.setdefault(t.name, [step, step])
            sizes[t.name] = t.nbytes
    for name in output_names & spans.keys():
        spans[name][1] = last_step
    scratch = {}
    for layer_name, n in (scratch_bytes or {}).items():
        if n > 0:
            step = graph.position(layer_name)
            scratch[scratch_name(layer_name)] = (n, step)
            spans[scratch_name(layer_name)] = [step, step]
            sizes[scratch_name(layer_name)] = n

    order = sorted((name for name in spans if sizes[name] > 0),
                   key=lambda name: (-sizes[name], spans[name][0], name))
    placed: list[Buffer] = []
    for name in order:
        first, last = spans[name]
        size = sizes[name]
        overlapping = sorted((b for b in placed if b.first <= last and first <= b.last),
                             key=lambda b: b.offset)
        offset = 0
        for b in overlapping:
            if offset + size <= b.offset:
                break
            offset = max(offset, _round_up(b.end, alignment))
        placed.append(Buffer(name, size, first, last, offset, name in scratch))

    buffers = {b.name: b for b in sorted(placed, key=lambda b: (b.first, b.name))}
    peak = _round_up(max((b.end for b in placed), default=0), alignment)
    lower = max((sum(b.size_bytes for b in placed if b.first <= s <= b.last)
                 for s in range(len(graph))), default=0)
    return ArenaPlan(MappingProxyType(buffers), peak, lower, alignment, len(graph))
