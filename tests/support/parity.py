"""Whether two graphs of one network are the same graph: the ``.keras`` reading and the
``.tflite`` reading of a model, both normalised.

Two graphs are equal when their *layer sequences* are equal.  A layer is described by its
:func:`signature` — operator, kernel, strides, padding, dilation, fused activation, the shapes of
its run-time inputs and of its outputs — and by where its run-time inputs come from.  Names,
dtypes, quantization and constant operands differ between the readings and are not compared.

The sequence is a *canonical* topological order, independent of the order a file or a Keras
model happens to list its operators in (the converter reorders independent branches and hoists
the input products of an unrolled recurrent layer).  Every layer gets a key that hashes

* its *upstream* key: its signature with the upstream keys of the layers whose outputs it reads
  (and which of their outputs), so equal upstream keys mean equal graphs above the layer, and
* its *downstream* key: its upstream key with the downstream keys of the layers that read its
  outputs (and which output each reads), so equal keys also mean equal graphs below it — the
  twelve identical input products of a recurrent layer's steps differ by the step they feed.

The order takes, among the layers whose inputs are ready, the one with the smallest key; layers
with equal keys are interchangeable.  For ``ADD``, ``MUL``, ``MAXIMUM`` and ``MINIMUM`` the
operand order does not matter.

``QUANTIZE`` and ``DEQUANTIZE`` layers are not part of the sequence; the layers after them read
through them.  At the ends of a default post-training int8 file they are the float I/O around
the int8 core, which the Keras model does not have.  Inside an int8 file they are
requantizations the converter inserts where calibration gives the readers of one tensor
different scales — and that TensorFlow 2.21's calibration does not insert deterministically
(the first step of an LSTM unrolled for a fixed batch has them in some conversions of the same
model and not in others): quantization, not layers of the network, which the Keras model
cannot have either.  This is the one deliberate exception to comparing every layer.
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
from dataclasses import dataclass

from tinymodel.graph import Layer, ModelGraph
from tinymodel.ops import OpType

#: Operators whose result does not depend on the order of their operands.
COMMUTATIVE = frozenset({OpType.ADD, OpType.MUL, OpType.MAXIMUM, OpType.MINIMUM})

Signature = tuple


def signature(layer: Layer) -> Signature:
    """``(op, kernel, strides, padding, dilation, activation, input shapes, output shapes)``
    with the shapes of the run-time (non-constant) inputs only, sorted for :data:`COMMUTATIVE`
    operators."""
    shapes = [t.shape for t in layer.activation_inputs]
    if layer.op in COMMUTATIVE:
        shapes.sort()
    return (layer.op.label, layer.kernel, layer.strides, layer.padding.value, layer.dilation,
            layer.activation.value, tuple(shapes), tuple(t.shape for t in layer.outputs))


@dataclass(frozen=True)
class Step:
    """One layer of a canonical sequence: its key, signature and name (for messages)."""

    key: str
    signature: Signature
    name: str


#: Type conversions the sequence reads through (see the module docstring).
QUANTIZATION = frozenset({OpType.QUANTIZE, OpType.DEQUANTIZE})


def core_layers(graph: ModelGraph) -> tuple[list[Layer], dict[str, int], dict[str, str]]:
    """The layers without ``QUANTIZE``/``DEQUANTIZE``, the tensors that stand for the model
    inputs (name → input index: the inputs themselves and what a quantization of them writes),
    and for every other quantization output the tensor it converts (name → name)."""
    sources = {t.name: i for i, t in enumerate(graph.inputs)}
    through: dict[str, str] = {}
    layers = []
    for layer in graph:
        if layer.op in QUANTIZATION and len(layer.activation_inputs) == 1:
            src = layer.activation_inputs[0].name
            src = through.get(src, src)
            if src in sources:
                sources[layer.output.name] = sources[src]
            else:
                through[layer.output.name] = src
            continue
        layers.append(layer)
    return layers, sources, through


def canonical_sequence(graph: ModelGraph) -> list[Step]:
    """The graph's layers (without the float-I/O quantization at its ends) in the canonical
    order described in the module docstring."""
    layers, sources, through = core_layers(graph)
    producer: dict[str, tuple[Layer, int]] = {}
    for layer in layers:
        for i, t in enumerate(layer.outputs):
            producer[t.name] = (layer, i)
    keys: dict[str, str] = {}
    reads: dict[str, list[str]] = {}
    for layer in layers:              # the graph's order is topological
        origins = []
        upstream = []
        for t in layer.activation_inputs:
            name = through.get(t.name, t.name)
            if name in producer:
                src, index = producer[name]
                origins.append((keys[src.name], index))
                upstream.append(src.name)
            elif name in sources:
                origins.append(("input", sources[name]))
            else:
                origins.append(("?", name))
        if layer.op in COMMUTATIVE:
            origins.sort()
        keys[layer.name] = _digest((signature(layer), origins))
        reads[layer.name] = upstream
    readers: dict[str, list[tuple[str, int]]] = {layer.name: [] for layer in layers}
    for layer in layers:
        for t in layer.activation_inputs:
            name = through.get(t.name, t.name)
            if name in producer:
                src, index = producer[name]
                readers[src.name].append((layer.name, index))
    below: dict[str, str] = {}
    for layer in reversed(layers):
        below[layer.name] = _digest((keys[layer.name], sorted(
            (below[user], index) for user, index in readers[layer.name])))
    keys = {name: _digest((up, below[name])) for name, up in keys.items()}
    waiting = {layer.name: len(set(reads[layer.name])) for layer in layers}
    users: dict[str, list[str]] = {layer.name: [] for layer in layers}
    for name, ups in reads.items():
        for up in set(ups):
            users[up].append(name)
    by_name = {layer.name: layer for layer in layers}
    ready = [(keys[n], n) for n, k in waiting.items() if k == 0]
    heapq.heapify(ready)
    steps: list[Step] = []
    while ready:
        key, name = heapq.heappop(ready)
        steps.append(Step(key, signature(by_name[name]), name))
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (keys[user], user))
    return steps


def _digest(value: object) -> str:
    return hashlib.sha1(repr(value).encode()).hexdigest()[:20]


def differences(a: ModelGraph, b: ModelGraph, context: int = 1) -> list[str]:
    """Readable differences between the canonical sequences of ``a`` and ``b`` (empty when the
    graphs are equal): the layers only one side has, or has with another signature or other
    inputs, with ``context`` equal layers around them."""
    sa, sb = canonical_sequence(a), canonical_sequence(b)
    ka, kb = [s.key for s in sa], [s.key for s in sb]
    if ka == kb:
        return []
    lines = [f"{a.name}: {len(sa)} layers, {b.name}: {len(sb)} layers"]
    matcher = difflib.SequenceMatcher(a=[s.signature for s in sa], b=[s.signature for s in sb],
                                      autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            wired = [(x, y) for x, y in zip(sa[i1:i2], sb[j1:j2]) if x.key != y.key]
            for x, y in wired[:3]:
                lines.append(f"  same layer, other inputs: {x.name} | {y.name} {x.signature}")
            continue
        for s in sa[max(0, i1 - context):i1]:
            lines.append(f"    {s.name} {s.signature}")
        for s in sa[i1:i2]:
            lines.append(f"  - {s.name} {s.signature}")
        for s in sb[j1:j2]:
            lines.append(f"  + {s.name} {s.signature}")
        lines.append("  ..")
    return lines
