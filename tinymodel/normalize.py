"""Normalisation: the converter's artefacts turned into the layers the cost model and firmware know.

Every reader's graph goes through :func:`normalize` before anyone else sees it
(:func:`tinymodel.readers.load_model`).  The stock TFLite converter writes patterns that describe
one ordinary layer in several operators, or that compute at run time what is static once the
batch size is 1.  Each rewrite below keeps the arithmetic of the model and records itself as a
:class:`Rewrite` on the result (:attr:`ModelGraph.rewrites`), which ``tinymodel analyze`` lists, so
a user can see why their graph looks shorter.  In order:

1. **Control flow with a static trip count** (``WHILE``, as a Keras ``LSTM``/``GRU`` converts):
   the loop's condition is evaluated on the loop variables whose values are known (the counters
   start as constants and the body adds constants to them); when it decides every iteration, the
   loop becomes its body subgraph repeated that many times (tensors renamed
   ``<while>/<i>/<name>``).  A loop whose trip count is not static stays one ``WHILE`` layer
   (listed as having no cost formula).
2. **Shape computations folded**: layers whose outputs are small integer or boolean tensors and
   whose inputs are all known — constants, or a ``SHAPE`` of a tensor with a static shape — are
   evaluated here (``SHAPE → STRIDED_SLICE → PACK`` of a Keras 3 ``Flatten``, the loop counters
   of an unrolled loop, their conditions).  Their consumers read the result as a constant; the
   folded layers are gone.
3. **``EXPAND_DIMS`` and ``SQUEEZE`` are reshapes** (``Conv1D`` and the 1-D poolings convert to
   them around 2-D operators), and so is a ``TRANSPOSE`` that only moves dimensions of size 1
   (``TimeDistributed`` swaps the batch and time axes): the layer becomes a ``RESHAPE`` with its
   target shape as a constant operand; ``source_op`` keeps the original operator's name.
4. **Shapes the file leaves open**: the converter stores a dimension it cannot know for an
   open batch size as 1, so a reshape whose target is computed at run time may claim a wrong
   shape (``1x1x16x32`` for ``1x16x16x32`` after an ``UpSampling2D``).  Once its target is a
   constant, a ``RESHAPE`` writes the shape the target gives; the layers after it read that.
5. **Nearest-neighbour upsampling**: ``RESHAPE → TILE → RESHAPE`` repeating the height and/or
   the width of an NHWC tensor (how the converter writes a Keras ``UpSampling2D``: an
   EXPAND_DIMS, a TILE and a merging reshape per axis) becomes one ``RESIZE_NEAREST_NEIGHBOR``
   to the repeated size, the operator TensorFlow Lite Micro runs for it (it has no TILE).
6. **Dilated convolutions**: ``SPACE_TO_BATCH_ND → CONV_2D / DEPTHWISE_CONV_2D →
   BATCH_TO_SPACE_ND`` (how the converter writes a dilated convolution) becomes one convolution
   with ``dilation`` = the block shape, on the original tensors — which also restores the batch
   dimension the reshuffled middle tensors lost in the file (the converter stores them with
   batch 1, so the convolution's MACs were a fraction of the truth).

Float ``QUANTIZE`` / ``DEQUANTIZE`` layers at the ends of a default post-training int8 model stay
as real layers: they run on the board.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from tinymodel.text import counted
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import OpType, Padding

#: Integer and boolean dtypes whose small tensors are shape / index / counter values.
FOLDABLE_DTYPES = frozenset({"int32", "int64", "bool", "int16", "uint8", "uint16", "uint32"})
#: Largest tensor (elements) a fold may produce: shape vectors and counters, not data.
MAX_FOLD_ELEMENTS = 1024
#: Largest tensor (elements) a ``FILL`` may be folded into (a recurrent layer's initial state).
MAX_FILL_ELEMENTS = 65536
#: Most iterations a loop may be unrolled to; a longer trip count is not treated as static.
MAX_UNROLLED_ITERATIONS = 4096


@dataclass(frozen=True)
class Rewrite:
    """One change the normalisation made.

    ``rule`` names it (``"unroll"``, ``"fold"``, ``"reshape"``, ``"shape"``, ``"upsample"``,
    ``"dilated-conv"``);
    ``layers`` are the layers of the input graph it replaced or removed; ``into`` the layer that
    now stands for them (``None`` when they are simply gone); ``detail`` one readable sentence.
    """

    rule: str
    layers: tuple[str, ...]
    into: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"rule": self.rule, "layers": list(self.layers), "into": self.into,
                "detail": self.detail}



def _replaced(layers: Sequence[Layer], replace: dict[str, Layer | None]) -> list[Layer]:
    """``layers`` with each named in ``replace`` swapped for its value (``None``: dropped)."""
    if not replace:
        return list(layers)
    return [new for layer in layers
            if (new := replace.get(layer.name, layer)) is not None]

def normalize(graph: ModelGraph) -> ModelGraph:
    """The normalised graph (see the module docstring); ``graph`` itself when nothing changed.

    The result's :attr:`~ModelGraph.rewrites` lists every change, in the order made."""
    rewrites: list[Rewrite] = []
    layers = list(graph.layers)
    layers = _unroll_loops(graph, layers, rewrites)
    layers = _fold_constants(layers, graph.outputs, rewrites)
    layers = _reshapes(layers, rewrites)
    layers = _static_shapes(layers, rewrites)
    layers = _upsamplings(layers, rewrites)
    layers = _dilated_convs(layers, rewrites)
    layers, closed = _closed(layers)
    if not rewrites and not closed:
        return graph
    written = {t.name: t for layer in layers for t in layer.outputs}
    outputs = [written.get(t.name, t) for t in graph.outputs]
    inputs = [dataclasses.replace(t, open_dims=()) if t.open_dims else t for t in graph.inputs]
    return ModelGraph(graph.name, layers, inputs, outputs, source=graph.source,
                      subgraphs=graph.subgraphs, rewrites=(*graph.rewrites, *rewrites))


def _closed(layers: Sequence[Layer]) -> tuple[list[Layer], bool]:
    """``layers`` with every tensor still open (:attr:`TensorSpec.open_dims`) closed, and
    whether there was one: what normalisation could not resolve, the file's shape stands for,
    and the graph built from it is checked with the rules that waited for it."""
    tensors = {t.name: dataclasses.replace(t, open_dims=()) for layer in layers
               for t in (*layer.inputs, *layer.outputs) if t is not None and t.open_dims}
    if not tensors:
        return list(layers), False
    return [dataclasses.replace(_substitute(layer, tensors),
                                outputs=tuple(tensors.get(t.name, t) for t in layer.outputs))
            for layer in layers], True


# -- evaluating shape computations ---------------------------------------------------------------

Values = Mapping[str, np.ndarray]


def _value(t: TensorSpec | None, known: Values) -> np.ndarray | None:
    if t is None:
        return None
    v = known.get(t.name)
    if v is None and t.is_constant and t.data is not None:
        v = np.asarray(t.data)
    return v


def _strided_slice(layer: Layer, x: np.ndarray, begin: np.ndarray, end: np.ndarray,
                   strides: np.ndarray) -> np.ndarray | None:
    o = layer.options
    if o.get("ellipsis_mask") or o.get("new_axis_mask"):
        return None
    begin_mask, end_mask = int(o.get("begin_mask", 0)), int(o.get("end_mask", 0))
    shrink = int(o.get("shrink_axis_mask", 0))
    index: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin.tolist(), end.tolist(), strides.tolist())):
        if s == 0:
            return None
        if o.get("offset"):
            e = b + e
        if shrink >> i & 1:
            n = x.shape[i]
            b = b + n if b < 0 else b
            if not 0 <= b < n:
                return None
            index.append(b)
            continue
        index.append(slice(None if begin_mask >> i & 1 else b,
                           None if end_mask >> i & 1 else e, s))
    return np.asarray(x[tuple(index)])


def _elementwise(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda layer, *args: fn(*args)


#: Evaluators of the operators that shape computations use: ``(layer, *input values)`` → the
#: first output's value (``None``: cannot be evaluated statically).
_EVALUATE: Mapping[str, Callable[..., np.ndarray | None]] = MappingProxyType({
    "STRIDED_SLICE": _strided_slice,
    "SLICE": lambda layer, x, b, s: x[tuple(slice(int(i), None if int(n) < 0 else int(i + n))
                                            for i, n in zip(b, s))],
    "PACK": lambda layer, *xs: np.stack(xs, axis=int(layer.options.get("axis", 0))),
    "CONCATENATION": lambda layer, *xs: np.concatenate(
        [np.atleast_1d(x) for x in xs], axis=int(layer.options.get("axis", 0))),
    "GATHER": lambda layer, x, i: (np.take(x, i, axis=int(layer.options.get("axis", 0)))
                                   if not layer.options.get("batch_dims") else None),
    "RESHAPE": lambda layer, x, *shape: x.reshape(layer.output.shape),
    "SQUEEZE": lambda layer, x: x.reshape(layer.output.shape),
    "EXPAND_DIMS": lambda layer, x, axis: x.reshape(layer.output.shape),
    "CAST": lambda layer, x: x,
    "ADD": _elementwise(np.add),
    "SUB": _elementwise(np.subtract),
    "MUL": _elementwise(np.multiply),
    "FLOOR_DIV": _elementwise(lambda a, b: np.floor_divide(a, b) if np.all(b) else None),
    "MINIMUM": _elementwise(np.minimum),
    "MAXIMUM": _elementwise(np.maximum),
    "LESS": _elementwise(np.less),
    "LESS_EQUAL": _elementwise(np.less_equal),
    "GREATER": _elementwise(np.greater),
    "GREATER_EQUAL": _elementwise(np.greater_equal),
    "EQUAL": _elementwise(np.equal),
    "NOT_EQUAL": _elementwise(np.not_equal),
    "LOGICAL_AND": _elementwise(np.logical_and),
    "LOGICAL_OR": _elementwise(np.logical_or),
    "LOGICAL_NOT": _elementwise(np.logical_not),
    "FILL": lambda layer, dims, value: np.full(tuple(int(d) for d in dims), value),
    "RANGE": lambda layer, start, limit, delta: np.arange(start, limit, delta),
    "REDUCE_PROD": lambda layer, x, axes: np.prod(x, axis=tuple(np.atleast_1d(axes).tolist()),
                                                  keepdims=bool(layer.options.get("keep_dims"))),
})


def _foldable(layer: Layer) -> bool:
    return (layer.source_op in _EVALUATE or layer.source_op == "SHAPE") and all(
        t.dtype in FOLDABLE_DTYPES and t.size <= MAX_FOLD_ELEMENTS for t in layer.outputs)


def evaluate(layer: Layer, known: Values) -> tuple[np.ndarray, ...] | None:
    """The values of ``layer``'s outputs when its inputs are ``known`` (by tensor name, or
    constants) and the layer is a shape computation (:data:`FOLDABLE_DTYPES`, at most
    :data:`MAX_FOLD_ELEMENTS` elements); ``None`` when it cannot be evaluated statically."""
    if not _foldable(layer):
        return None
    if layer.source_op == "SHAPE":
        if not layer.inputs or layer.inputs[0] is None:
            return None
        values: list[np.ndarray | None] = [np.array(layer.inputs[0].shape, np.int64)]
    elif layer.source_op == "UNPACK":
        return None
    else:
        args = [_value(t, known) for t in layer.inputs if t is not None]
        if any(a is None for a in args):
            return None
        try:
            with np.errstate(all="raise"):
                out = _EVALUATE[layer.source_op](layer, *args)
        except (ValueError, IndexError, TypeError, FloatingPointError, ArithmeticError):
            return None
        values = [None if out is None else np.asarray(out)]
    result = []
    for v, t in zip(values, layer.outputs):
        if v is None or v.size != t.size:
            return None
        result.append(v.astype(np.dtype("bool") if t.dtype == "bool" else np.int64)
                      .reshape(t.shape))
    if len(result) != len(layer.outputs):
        return None
    return tuple(result)


def fill_value(layer: Layer, known: Values) -> np.ndarray | None:
    """The value of a ``FILL`` layer's output when its dims and value are ``known`` (by tensor
    name, or constants), in the output's dtype (an int8 value is the output's raw code: TFLite's
    ``FILL`` copies it, its quantization is the output's); ``None`` for any other layer, unknown
    inputs, a dims vector that does not give the output's shape, or more than
    :data:`MAX_FILL_ELEMENTS` elements."""
    if layer.op is not OpType.FILL or len(layer.inputs) != 2 or len(layer.outputs) != 1:
        return None
    dims, value = (_value(t, known) for t in layer.inputs)
    out = layer.outputs[0]
    if dims is None or value is None or value.size != 1 or out.dtype == "bool" \
            or out.size > MAX_FILL_ELEMENTS:
        return None
    shape = tuple(int(d) for d in np.atleast_1d(dims).ravel())
    if shape != tuple(out.shape):
        return None
    try:
        return np.full(shape, value.ravel()[0], dtype=np.dtype(out.dtype))
    except TypeError:
        return None


def _as_constant(t: TensorSpec, value: np.ndarray) -> TensorSpec:
    data = value.astype(np.dtype(t.dtype) if t.dtype != "bool" else np.bool_)
    data.flags.writeable = False
    return dataclasses.replace(t, constant=True, data=data)


def _substitute(layer: Layer, tensors: Mapping[str, TensorSpec]) -> Layer:
    """``layer`` with every input named in ``tensors`` replaced by that tensor."""
    if not any(t is not None and t.name in tensors for t in layer.inputs):
        return layer
    inputs = tuple(tensors.get(t.name, t) if t is not None else None for t in layer.inputs)
    layer = dataclasses.replace(layer, inputs=inputs)
    if layer.op is OpType.RESHAPE and len(inputs) > 1 and inputs[1] is not None \
            and inputs[1].data is not None and "new_shape" not in layer.options:
        options = dict(layer.options, new_shape=tuple(int(v) for v in inputs[1].data.ravel()))
        layer = dataclasses.replace(layer, options=MappingProxyType(options))
    return layer


# -- 2. folding ------------------------------------------------------------------------------

def _fold_constants(layers: Sequence[Layer], outputs: Sequence[TensorSpec],
                    rewrites: list[Rewrite]) -> list[Layer]:
    keep_names = {t.name for t in outputs}
    known: dict[str, np.ndarray] = {}
    constants: dict[str, TensorSpec] = {}
    folded: list[Layer] = []
    fills: list[Layer] = []
    kept: list[Layer] = []
    for layer in layers:
        layer = _substitute(layer, constants)
        if any(t.name in keep_names for t in layer.outputs):
            kept.append(layer)
            continue
        values = evaluate(layer, known)
        if values is None:
            fill = fill_value(layer, known)
            if fill is not None:
                # data (a shape-valued FILL folded above): a constant for its readers
                fills.append(layer)
                constants[layer.outputs[0].name] = _as_constant(layer.outputs[0], fill)
            else:
                kept.append(layer)
            continue
        folded.append(layer)
        for t, v in zip(layer.outputs, values):
            known[t.name] = v
            constants[t.name] = _as_constant(t, v)
    if folded:
        _record_folds(folded, [*kept, *fills], constants, rewrites)
        kept = _drop_shape_only(kept, folded, keep_names, rewrites)
    for layer in fills:
        _record_fill(layer, constants[layer.outputs[0].name], kept, rewrites)
    return kept


def _record_fill(layer: Layer, value: TensorSpec, kept: Sequence[Layer],
                 rewrites: list[Rewrite]) -> None:
    """The fold of one ``FILL`` as a :class:`Rewrite`: its shape, value and readers."""
    readers = [k.name for k in kept
               if any(t is not None and t.name == value.name for t in k.inputs)]
    assert value.data is not None
    code = value.data.ravel()[0].item() if value.data.size else 0
    q = value.quantization
    meaning = ""
    if value.dtype == "int8" and q is not None and q.scale:
        meaning = f" (= {(code - int(q.zero_point[0])) * float(q.scale[0]):g})"
    shown = ", ".join(readers[:3]) + (f" and {len(readers) - 3} more" if len(readers) > 3 else "")
    rewrites.append(Rewrite(
        "fold", (layer.name,), readers[0] if len(readers) == 1 else None,
        f"{layer.name} fills {'x'.join(map(str, value.shape))} with {code}{meaning} "
        f"({value.dtype}): a constant; "
        + (f"{shown} read{'s' if len(readers) == 1 else ''} it (still run as layers)"
           if readers else "nothing reads it")))


def _drop_shape_only(kept: Sequence[Layer], folded: Sequence[Layer], keep_names: set[str],
                     rewrites: list[Rewrite]) -> list[Layer]:
    """``kept`` without the layers whose outputs only folded layers read (a ``SHAPE`` of them,
    and nothing else: a Keras 3 ``Conv1D`` squeezes its output, then a ``Dense`` after it reads
    the shape of the squeezed tensor and reshapes the unsqueezed one); their value is never
    used.  A graph output, or a tensor no layer reads at all, keeps its layer."""
    shape_read = {t.name for layer in folded for t in layer.inputs if t is not None}
    dropped: list[str] = []
    layers = list(kept)
    while True:
        read = keep_names | {t.name for layer in layers for t in layer.inputs if t is not None}
        gone = [layer for layer in layers
                if all(t.name not in read and t.name in shape_read for t in layer.outputs)
                and layer.outputs]
        if not gone:
            break
        names = {layer.name for layer in gone}
        dropped += [layer.name for layer in gone]
        layers = [layer for layer in layers if layer.name not in names]
        shape_read |= {t.name for layer in gone for t in layer.inputs if t is not None}
    if dropped:
        rewrites.append(Rewrite("fold", tuple(dropped), None,
                                f"{', '.join(dropped)} computed only for the folded shape "
                                f"computations (nothing else reads it): removed"))
    return layers


def _record_folds(folded: Sequence[Layer], kept: Sequence[Layer],
                  constants: Mapping[str, TensorSpec], rewrites: list[Rewrite]) -> None:
    """The folds as :class:`Rewrite` records: inside an unrolled loop (layer names
    ``<loop>/<i>/...``) one record per loop — its counters —, elsewhere one per
    kept layer that reads a folded value, naming the folded layers behind it that no earlier
    record named (a fold nobody reads is reported on its own)."""
    producer = {t.name: layer for layer in folded for t in layer.outputs}
    loops: dict[str, list[str]] = {}
    for layer in folded:
        if "/" in layer.name:
            loops.setdefault(layer.name.split("/", 1)[0], []).append(layer.name)
    for loop, names in loops.items():
        rewrites.append(Rewrite("fold", tuple(names), None,
                                f"{counted(len(names), 'layer')} of the unrolled {loop} (its "
                                f"loop counters) computed statically"))
    reported = {name for names in loops.values() for name in names}

    def behind(name: str, into: list[str]) -> None:
        layer = producer.get(name)
        if layer is None or layer.name in into or layer.name in reported:
            return
        for t in layer.inputs:
            if t is not None:
                behind(t.name, into)
        into.append(layer.name)

    for layer in kept:
        names: list[str] = []
        for t in layer.inputs:
            if t is not None and t.name in constants:
                behind(t.name, names)
        if names:
            reported.update(names)
            rewrites.append(Rewrite("fold", tuple(names), layer.name,
                                    f"{', '.join(names)} computed statically: "
                                    f"{layer.name} reads the result as a constant"))
    rest = tuple(layer.name for layer in folded if layer.name not in reported)
    if rest:
        rewrites.append(Rewrite("fold", rest, None,
                                f"{', '.join(rest)} computed statically (nothing reads them)"))


# -- 3. reshapes -----------------------------------------------------------------------------

def _unit_transpose(layer: Layer) -> bool:
    """True for a ``TRANSPOSE`` that only moves dimensions of size 1 (the dimensions larger than
    1 keep their order, so the bytes do not move): how a Keras ``TimeDistributed`` layer swaps
    the batch (1) and time axes around its steps."""
    perm = layer.options.get("perm")
    x = layer.inputs[0] if layer.inputs else None
    if layer.op is not OpType.TRANSPOSE or perm is None or x is None \
            or sorted(int(p) for p in perm) != list(range(len(x.shape))):
        return False
    moved = [int(p) for p in perm if x.shape[int(p)] > 1]
    return moved == sorted(moved) and layer.output.size == x.size


def _reshapes(layers: Sequence[Layer], rewrites: list[Rewrite]) -> list[Layer]:
    out = []
    for layer in layers:
        if (layer.op in (OpType.EXPAND_DIMS, OpType.SQUEEZE) or _unit_transpose(layer)) \
                and layer.inputs and layer.inputs[0] is not None:
            shape = np.array(layer.output.shape, np.int32)
            shape.flags.writeable = False
            target = TensorSpec(f"{layer.name}/shape", (len(shape),), "int32", constant=True,
                                data=shape)
            layer = dataclasses.replace(
                layer, op=OpType.RESHAPE, inputs=(layer.inputs[0], target),
                options=MappingProxyType(dict(layer.options, new_shape=tuple(shape.tolist()))))
            rewrites.append(Rewrite("reshape", (layer.name,), layer.name,
                                    f"{layer.name} ({layer.source_op}) is a reshape to "
                                    f"{'x'.join(map(str, layer.output.shape))}"))
        out.append(layer)
    return out


# -- 4. shapes the file leaves open ---------------------------------------------------------

def _static_shapes(layers: Sequence[Layer], rewrites: list[Rewrite]) -> list[Layer]:
    """Reshape outputs with the shape their (now constant) target gives them.

    The converter stores a dimension it cannot know for an open batch size as 1 (its
    ``shape_signature`` says -1), so after an ``UpSampling2D`` the file may claim ``1x1x16x32``
    for a ``1x16x16x32`` tensor.  A ``RESHAPE`` whose target shape is known (``-1`` resolved
    from the input's size) and holds as many elements as its input writes that shape; the
    layers after it read the corrected tensor, and those whose output shape follows from their
    input's (:func:`_follow_shape`: convolutions, poolings, element-wise and activation layers,
    resizes, pads, transposes, dense layers) write the shape it implies, since the file's is the
    same artefact (a U-Net's ``UpSampling2D`` then a ``Conv2D``: ``1x1x24x8`` for
    ``1x24x24x8``; a Keras ``Dense`` on a 3-D or 4-D tensor, converted as a ``RESHAPE`` to
    ``(-1, features)`` with a run-time target, the dense layer and a ``RESHAPE`` back: the file
    says ``1x1`` and ``1xunits`` for the middle tensors).  A corrected tensor is no longer open
    (:attr:`TensorSpec.open_dims`)."""
    fixed: dict[str, TensorSpec] = {}
    out: list[Layer] = []
    for layer in layers:
        reads_fixed = any(t is not None and t.name in fixed for t in layer.inputs)
        layer = _substitute(layer, fixed)
        target = _reshape_target(layer)
        if target is None and reads_fixed:
            target = _follow_shape(layer)
        if target is not None and (target != layer.output.shape or layer.output.open_dims):
            new = dataclasses.replace(layer.output, shape=target, open_dims=())
            fixed[new.name] = new
            if target != layer.output.shape:
                rewrites.append(Rewrite(
                    "shape", (layer.name,), layer.name,
                    f"{layer.name} writes {'x'.join(map(str, target))} (the file says "
                    f"{'x'.join(map(str, layer.output.shape))})"))
            layer = dataclasses.replace(layer, outputs=(new, *layer.outputs[1:]))
        out.append(layer)
    return out


def _dense_output(layer: Layer) -> tuple[int, ...] | None:
    """The output shape a ``FULLY_CONNECTED`` computes from its input's shape (TFLite's rule:
    ``rows = input size / input length``; ``keep_num_dims`` keeps the input's leading
    dimensions, else ``(rows, units)``), ``None`` when the input does not split into rows."""
    x, w = layer.inputs[0], layer.weights
    if x is None or w is None or len(w.shape) != 2 or w.shape[1] <= 0 or x.size % w.shape[1]:
        return None
    if layer.options.get("keep_num_dims"):
        return (*x.shape[:-1], w.shape[0])
    return (x.size // w.shape[1], w.shape[0])


#: Operators whose output has their (first) activation input's shape.
_SAME_SHAPE_CATEGORIES = frozenset({"activation", "quant"})


def _follow_shape(layer: Layer) -> tuple[int, ...] | None:
    """The output shape ``layer`` computes from its inputs' shapes, for the operators whose
    shape rule is local and simple; ``None`` for the others (their file shape is kept)."""
    op = layer.op
    data = [t for t in layer.inputs if t is not None and not t.is_constant]
    if not data:
        return None
    if op is OpType.FULLY_CONNECTED:
        return _dense_output(layer)
    x = layer.input if op.operands.data < len(layer.inputs) else data[0]
    shape = tuple(x.shape)
    out_rank = len(layer.output.shape)
    if op in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.AVERAGE_POOL_2D,
              OpType.MAX_POOL_2D) and len(shape) == 4 and out_rank == 4:
        from tinymodel.formulas import conv_output_size

        k_h, k_w = layer.kernel or (1, 1)
        same = layer.padding is Padding.SAME
        oh = conv_output_size(shape[1], k_h, layer.strides[0], layer.dilation[0], same)
        ow = conv_output_size(shape[2], k_w, layer.strides[1], layer.dilation[1], same)
        return (shape[0], oh, ow, layer.output.shape[3]) if oh > 0 and ow > 0 else None
    if op.category.value in _SAME_SHAPE_CATEGORIES and out_rank == len(shape):
        return shape
    if op.category.value == "elementwise" and all(len(t.shape) <= out_rank for t in data):
        try:
            return tuple(int(d) for d in np.broadcast_shapes(
                *(tuple(t.shape) for t in layer.inputs if t is not None)))
        except ValueError:
            return None
    if op in (OpType.RESIZE_BILINEAR, OpType.RESIZE_NEAREST_NEIGHBOR) and len(shape) == 4:
        size = layer.options.get("size")
        return (shape[0], int(size[0]), int(size[1]), shape[3]) if size is not None else None
    if op is OpType.PAD and layer.options.get("paddings") is not None \
            and len(layer.options["paddings"]) == len(shape):
        return tuple(d + int(a) + int(b) for d, (a, b) in zip(shape, layer.options["paddings"]))
    if op is OpType.CONCATENATION and layer.options.get("axis") is not None \
            and all(len(t.shape) == len(shape) for t in data) and len(data) == len(layer.inputs):
        axis = int(layer.options["axis"]) % len(shape)
        return shape[:axis] + (sum(t.shape[axis] for t in data),) + shape[axis + 1:]
    if op is OpType.TRANSPOSE and layer.options.get("perm") is not None \
            and sorted(layer.options["perm"]) == list(range(len(shape))):
        return tuple(shape[int(p)] for p in layer.options["perm"])
    return None


def _reshape_target(layer: Layer) -> tuple[int, ...] | None:
    """The output shape a ``RESHAPE`` with a known target computes, ``None`` when unknown."""
    if layer.op is not OpType.RESHAPE or not layer.inputs or layer.inputs[0] is None:
        return None
    shape = layer.options.get("new_shape")
    if shape is None:
        return None
    dims = [int(d) for d in shape]
    size = layer.inputs[0].size
    if dims.count(-1) == 1:
        rest = int(np.prod([d for d in dims if d != -1]))
        if rest <= 0 or size % rest:
            return None
        dims[dims.index(-1)] = size // rest
    if any(d < 0 for d in dims) or int(np.prod(dims)) != size:
        return None
    return tuple(dims)


# -- 5. nearest-neighbour upsampling ---------------------------------------------------------

def _upsamplings(layers: Sequence[Layer], rewrites: list[Rewrite]) -> list[Layer]:
    """``RESHAPE → TILE → RESHAPE`` repeats along the height and/or width of an NHWC tensor
    (how the converter writes a Keras ``UpSampling2D``: each axis's ``ops.repeat`` is an
    EXPAND_DIMS, a TILE and a reshape merging the tiled axis) become one
    ``RESIZE_NEAREST_NEIGHBOR`` to the repeated size."""
    by_input: dict[str, list[Layer]] = {}
    for layer in layers:
        for t in layer.inputs:
            if t is not None:
                by_input.setdefault(t.name, []).append(layer)

    def only_reader(t: TensorSpec) -> Layer | None:
        readers = by_input.get(t.name, [])
        return readers[0] if len(readers) == 1 else None

    def repeat(first: Layer) -> tuple[int, int, list[Layer]] | None:
        """(axis, factor, the three layers) when ``first`` starts one repeat."""
        x = first.inputs[0] if first.inputs else None
        if first.op is not OpType.RESHAPE or x is None or len(x.shape) != 4:
            return None
        shape = first.output.shape
        tile = only_reader(first.output)
        if tile is None or tile.op is not OpType.TILE or len(shape) != 5:
            return None
        merge = only_reader(tile.output)
        if merge is None or merge.op is not OpType.RESHAPE:
            return None
        for axis in (1, 2):
            if shape != x.shape[:axis + 1] + (1,) + x.shape[axis + 1:]:
                continue
            factor = tile.output.shape[axis + 1]
            expected = x.shape[:axis] + (x.shape[axis] * factor,) + x.shape[axis + 1:]
            if tile.output.shape == shape[:axis + 1] + (factor,) + shape[axis + 2:] \
                    and merge.output.shape == expected:
                return axis, factor, [first, tile, merge]
        return None

    replace: dict[str, Layer | None] = {}
    for layer in layers:
        if layer.name in replace:
            continue
        unit = repeat(layer)
        if unit is None:
            continue
        x = layer.inputs[0]
        assert x is not None
        factors = {1: 1, 2: 1}
        chain: list[Layer] = []
        while unit is not None and factors[unit[0]] == 1:
            factors[unit[0]] = unit[1]
            chain += unit[2]
            nxt = only_reader(chain[-1].output)
            unit = repeat(nxt) if nxt is not None else None
        last = chain[-1]
        size = (x.shape[1] * factors[1], x.shape[2] * factors[2])
        operand = np.array(size, np.int32)
        operand.flags.writeable = False
        resize = dataclasses.replace(
            last, op=OpType.RESIZE_NEAREST_NEIGHBOR, source_op="TILE",
            inputs=(x, TensorSpec(f"{last.name}/size", (2,), "int32", constant=True,
                                  data=operand)),
            options=MappingProxyType({"size": size, "align_corners": False,
                                      "half_pixel_centers": False}))
        for part in chain:
            replace[part.name] = None
        replace[last.name] = resize
        rewrites.append(Rewrite(
            "upsample", tuple(part.name for part in chain), last.name,
            f"{', '.join(part.name for part in chain)} repeat "
            f"{'x'.join(map(str, x.shape))} {factors[1]}x{factors[2]} times: one "
            f"RESIZE_NEAREST_NEIGHBOR to {size[0]}x{size[1]}"))
    return _replaced(layers, replace)


# -- 6. dilated convolutions -----------------------------------------------------------------

def _dilated_convs(layers: Sequence[Layer], rewrites: list[Rewrite]) -> list[Layer]:
    by_input: dict[str, list[Layer]] = {}
    for layer in layers:
        for t in layer.inputs:
            if t is not None:
                by_input.setdefault(t.name, []).append(layer)
    replace: dict[str, Layer | None] = {}
    for stb in layers:
        if stb.op is not OpType.SPACE_TO_BATCH_ND:
            continue
        convs = by_input.get(stb.output.name, [])
        if len(convs) != 1 or convs[0].op not in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D):
            continue
        conv = convs[0]
        btss = by_input.get(conv.output.name, [])
        if len(btss) != 1 or btss[0].op is not OpType.BATCH_TO_SPACE_ND:
            continue
        bts = btss[0]
        new = _dilated(stb, conv, bts)
        if new is None:
            continue
        replace[stb.name] = None
        replace[conv.name] = new
        replace[bts.name] = None
        rewrites.append(Rewrite(
            "dilated-conv", (stb.name, conv.name, bts.name), conv.name,
            f"{stb.name}, {conv.name}, {bts.name} are one {conv.op.label} with dilation "
            f"{new.dilation[0]}x{new.dilation[1]} and {new.padding.value} padding on "
            f"{'x'.join(map(str, new.input.shape))}"))
    return _replaced(layers, replace)


def _dilated(stb: Layer, conv: Layer, bts: Layer) -> Layer | None:
    """The dilated convolution the three layers compute, or ``None`` when they are not one
    (strides, an explicit padding no ``SAME``/``VALID`` convolution has, other shapes)."""
    block = tuple(stb.options.get("block_shape") or ())
    pads = tuple(stb.options.get("paddings") or ())
    crops = tuple(bts.options.get("crops") or ())
    if (len(block) != 2 or block != tuple(bts.options.get("block_shape") or ()) or len(pads) != 2
            or len(crops) != 2 or conv.strides != (1, 1) or conv.dilation != (1, 1)
            or conv.padding is not Padding.VALID or conv.kernel is None):
        return None
    x, y = stb.input, bts.output
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != y.shape[0]:
        return None
    padding = None
    for axis in (0, 1):
        k = conv.kernel[axis]
        effective = (k - 1) * block[axis] + 1
        total = pads[axis][0] + pads[axis][1] - crops[axis][0] - crops[axis][1]
        before = pads[axis][0] - crops[axis][0]
        size_in, size_out = x.shape[1 + axis], y.shape[1 + axis]
        if total == 0 and before == 0 and size_out == size_in - effective + 1:
            mode = Padding.VALID
        elif total == effective - 1 and before == total // 2 and size_out == size_in:
            mode = Padding.SAME
        else:
            return None
        if padding not in (None, mode):
            return None
        padding = mode
    assert padding is not None
    inputs = (x, *conv.inputs[1:])
    return dataclasses.replace(conv, inputs=inputs, outputs=bts.outputs, dilation=block,
                               padding=padding)


# -- 1. loops --------------------------------------------------------------------------------

def _unroll_loops(graph: ModelGraph, layers: Sequence[Layer],
                  rewrites: list[Rewrite]) -> list[Layer]:
    if not any(layer.op is OpType.WHILE for layer in layers):
        return list(layers)
    out: list[Layer] = []
    renamed: dict[str, TensorSpec] = {}
    for layer in layers:
        layer = _substitute(layer, renamed)
        if layer.op is not OpType.WHILE:
            out.append(layer)
            continue
        unrolled = _unroll(graph, layer)
        if unrolled is None:
            out.append(layer)
            continue
        body_layers, results, trips = unrolled
        out += body_layers
        for t, r in zip(layer.outputs, results):
            if r.name != t.name:
                renamed[t.name] = r
        rewrites.append(Rewrite(
            "unroll", (layer.name,), None,
            f"{layer.name} runs its body (subgraph {layer.options.get('body_subgraph')}, "
            f"{counted(len(graph.subgraphs[layer.options['body_subgraph']]), 'layer')}) "
            f"{counted(trips, 'time')}: unrolled into {counted(len(body_layers), 'layer')}"))
    return out


def _unroll(graph: ModelGraph, loop: Layer) -> tuple[list[Layer], list[TensorSpec], int] | None:
    """The loop's body repeated for every iteration, the tensors that carry the loop's results
    and the trip count; ``None`` unless the condition decides every iteration statically."""
    cond = graph.subgraphs.get(loop.options.get("cond_subgraph", -1))
    body = graph.subgraphs.get(loop.options.get("body_subgraph", -1))
    if cond is None or body is None:
        return None
    n = len(loop.inputs)
    if len(cond.inputs) != n or len(body.inputs) != n or len(body.outputs) != n \
            or len(loop.outputs) != n or any(t is None for t in loop.inputs):
        return None
    state: list[TensorSpec] = [t for t in loop.inputs if t is not None]
    values: list[np.ndarray | None] = [_value(t, {}) if t.dtype in FOLDABLE_DTYPES else None
                                       for t in state]
    produced: list[Layer] = []
    for i in range(MAX_UNROLLED_ITERATIONS + 1):
        go = _run_values(cond, values)
        if go is None or go[0] is None or go[0].size != 1:
            return None
        if not bool(go[0].ravel()[0]):
            break
        if i == MAX_UNROLLED_ITERATIONS:
            return None
        prefix = f"{loop.name}/{i}/"
        mapping: dict[str, TensorSpec] = {}
        for arg, current, v in zip(body.inputs, state, values):
            mapping[arg.name] = _as_constant(current, v) if v is not None else current
        for layer in body:
            outs = tuple(dataclasses.replace(t, name=prefix + t.name) for t in layer.outputs)
            copy = dataclasses.replace(
                _substitute(layer, mapping), name=prefix + layer.name, outputs=outs)
            for t, new in zip(layer.outputs, outs):
                mapping[t.name] = new
            produced.append(copy)
        state = [mapping.get(t.name, t) for t in body.outputs]
        values = _run_values(body, values)
        if values is None:
            return None
    else:  # pragma: no cover - the loop always breaks or returns
        return None
    trips = i
    # the last iteration's results carry the loop's output names for the layers after it; a
    # result that is one of the loop's inputs (a variable the body passes through) stays that
    loop_inputs = {t.name for t in loop.inputs if t is not None}
    rename: dict[str, str] = {}
    for t, out in zip(state, loop.outputs):
        if t.name not in loop_inputs and t.name not in rename:
            rename[t.name] = out.name
    results = [dataclasses.replace(t, name=rename[t.name]) if t.name in rename else t
               for t in state]

    def renamed(t: TensorSpec | None) -> TensorSpec | None:
        return dataclasses.replace(t, name=rename[t.name]) if t is not None \
            and t.name in rename else t

    if rename:
        produced = [dataclasses.replace(layer, inputs=tuple(map(renamed, layer.inputs)),
                                        outputs=tuple(map(renamed, layer.outputs)))
                    for layer in produced]
    return produced, results, trips


def _run_values(graph: ModelGraph, inputs: Sequence[np.ndarray | None]
                ) -> list[np.ndarray | None] | None:
    """The values of ``graph``'s outputs that follow from the known ``inputs`` (``None`` for
    the ones that do not), evaluating only shape computations."""
    known: dict[str, np.ndarray] = {t.name: v for t, v in zip(graph.inputs, inputs)
                                    if v is not None}
    for layer in graph:
        values = evaluate(layer, known)
        if values is not None:
            for t, v in zip(layer.outputs, values):
                known[t.name] = v
    return [known.get(t.name, _value(t, {}) if t.is_constant else None) for t in graph.outputs]


__all__ = ["FOLDABLE_DTYPES", "MAX_FILL_ELEMENTS", "MAX_FOLD_ELEMENTS", "MAX_UNROLLED_ITERATIONS",
           "Rewrite", "evaluate", "fill_value", "normalize"]
