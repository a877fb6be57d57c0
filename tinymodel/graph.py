"""The model graph: frozen tensor and layer records over a ``networkx`` DAG.

A :class:`ModelGraph` is what every reader produces and everything downstream consumes.  Layers
are nodes; an edge ``a -> b`` means that ``b`` reads a tensor that ``a`` writes (the edge's
``tensor`` attribute names it).  Skip connections, several inputs and several outputs are ordinary
DAG shapes.  Iteration is in a deterministic topological order that keeps the file's operator
order wherever the data dependencies allow.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from tinymodel.errors import InvalidModelError, ModelReadError
from tinymodel.ops import Activation, OpType, Padding
from tinymodel.text import counted

if TYPE_CHECKING:
    import networkx as nx

#: Bytes per element of every dtype the readers produce.
DTYPE_BYTES: Mapping[str, int] = MappingProxyType({
    "float32": 4, "float16": 2, "float64": 8,
    "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
    "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
    "bool": 1, "int4": 1,
})


@dataclass(frozen=True)
class Quantization:
    """Affine quantization ``real = scale * (q - zero_point)``.

    ``scale`` and ``zero_point`` have one entry for per-tensor quantization, or one entry per
    slice along ``axis`` for per-channel quantization.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        """True when there is more than one (scale, zero point) pair."""
        return len(self.scale) > 1


@dataclass(frozen=True)
class TensorSpec:
    """A tensor: name, static shape, dtype and optional quantization.

    ``constant`` marks tensors whose values are stored in the model (weights, biases, shape
    operands).  ``data`` holds those values as a read-only numpy array when they are known; graphs
    built for cost estimation alone may leave it ``None``.  ``data`` does not take part in equality.

    ``open_dims`` lists the dimensions (other than the first, the batch) whose size the file
    does not know: a ``.tflite`` tensor whose ``shape_signature`` says -1 there, computed by a
    reshape with a run-time target, stores 1 as a placeholder.  Normalisation
    (:mod:`tinymodel.normalize`, rule ``shape``) replaces such a shape with the one the folded
    target gives, and the tensor is then closed (``()``); a tensor it cannot resolve is closed
    with the file's shape, and the rules that waited for it apply.  It does not take part in
    equality.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None = None
    constant: bool = False
    data: np.ndarray | None = field(default=None, compare=False, repr=False)
    open_dims: tuple[int, ...] = field(default=(), compare=False, repr=False)

    @property
    def is_constant(self) -> bool:
        """True for tensors whose values are stored in the model (weights, biases, ...)."""
        return self.constant or self.data is not None

    @property
    def size(self) -> int:
        """Number of elements (product of the shape; 1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        """Bytes the tensor occupies: ``size`` × bytes per element of ``dtype``."""
        return self.size * DTYPE_BYTES.get(self.dtype, 4)


@dataclass(frozen=True)
class Layer:
    """One operator application.

    ``inputs`` keeps the operator's positional convention (TFLite's): for conv, depthwise and
    dense layers ``inputs[0]`` is the activation, ``inputs[1]`` the weights and ``inputs[2]`` the
    bias, which may be ``None`` when the model has no bias; other operators' positions are in
    their :class:`~tinymodel.ops.Operands` (``op.operands``).  ``kernel`` is (height, width) for
    conv, transposed conv and pooling layers; ``strides`` and ``dilation`` are (height, width).
    ``source_op`` is the operator's name in the file it came from, kept for unsupported layers.

    ``options`` holds operator-specific extras; the readers set these keys (each only when the
    file gives the value, e.g. from a constant operand):

    ====================================== ===================================================
    operators                              keys
    ====================================== ===================================================
    CONCATENATION, PACK, UNPACK, SPLIT,    ``axis`` (int, as stored: may be negative)
    SPLIT_V, GATHER, CUMSUM, ARG_MAX,
    ARG_MIN, EXPAND_DIMS
    MEAN, SUM, REDUCE_MAX, REDUCE_MIN      ``axes`` (ints), ``keep_dims`` (bool)
    RESHAPE                                ``new_shape`` (ints)
    PAD, MIRROR_PAD                        ``paddings`` (``((before, after), ...)``);
                                           MIRROR_PAD also ``mode`` (``reflect``/``symmetric``)
    SOFTMAX                                ``beta`` (float)
    FULLY_CONNECTED                        ``keep_num_dims`` (bool), ``weights_format`` (int)
    LEAKY_RELU                             ``alpha`` (float)
    TRANSPOSE_CONV                         ``output_shape`` (ints)
    RESIZE_BILINEAR,                       ``size`` (``(h, w)``), ``align_corners``,
    RESIZE_NEAREST_NEIGHBOR                ``half_pixel_centers`` (bool)
    SPLIT, SPLIT_V                         ``num_splits`` (int); SPLIT_V ``size_splits`` (ints)
    GATHER                                 ``batch_dims`` (int)
    STRIDED_SLICE                          ``begin``, ``end``, ``strides`` (ints),
                                           ``begin_mask``, ``end_mask``, ``ellipsis_mask``,
                                           ``new_axis_mask``, ``shrink_axis_mask`` (int bit sets)
    SLICE                                  ``begin``, ``size`` (ints)
    TRANSPOSE                              ``perm`` (ints)
    TILE                                   ``multiples`` (ints)
    SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND   ``block_shape`` (ints); ``paddings`` / ``crops``
    SPACE_TO_DEPTH, DEPTH_TO_SPACE         ``block_size`` (int)
    SQUEEZE                                ``squeeze_dims`` (ints)
    PACK, UNPACK                           ``values_count`` / ``num`` (int)
    BATCH_MATMUL                           ``adj_x``, ``adj_y`` (bool)
    CUMSUM                                 ``exclusive``, ``reverse`` (bool)
    SVDF                                   ``rank``, ``memory_size``, ``num_filters``,
                                           ``num_units`` (int)
    UNIDIRECTIONAL_SEQUENCE_LSTM           ``time_major`` (bool), ``cell_clip``, ``proj_clip``
                                           (float), ``n_cell``, ``n_output`` (int)
    WHILE, IF, CALL_ONCE                   ``cond_subgraph``, ``body_subgraph`` /
                                           ``then_subgraph``, ``else_subgraph`` /
                                           ``init_subgraph`` (subgraph indices)
    VAR_HANDLE                             ``container``, ``shared_name`` (str)
    BROADCAST_TO, FILL                     ``shape`` / ``dims`` (ints)
    ====================================== ===================================================

    The Keras reader also sets ``folded`` (the Keras layers a layer stands for); the .tflite
    reader sets ``tensor_name`` (the file's name of the first output).
    """

    name: str
    op: OpType
    inputs: tuple[TensorSpec | None, ...]
    outputs: tuple[TensorSpec, ...]
    kernel: tuple[int, int] | None = None
    strides: tuple[int, int] = (1, 1)
    padding: Padding = Padding.VALID
    dilation: tuple[int, int] = (1, 1)
    depth_multiplier: int = 1
    groups: int = 1
    activation: Activation = Activation.NONE
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source_op: str = ""

    @property
    def input(self) -> TensorSpec:
        """The activation input: ``inputs[op.operands.data]`` (the first input for almost every
        operator; the third for ``TRANSPOSE_CONV``, the second for ``SPLIT``)."""
        position = self.op.operands.data
        first = self.inputs[position] if position < len(self.inputs) else None
        if first is None:
            raise ModelReadError(f"layer {self.name!r} ({self.source_op or self.op}) has no "
                                 f"{'first' if position == 0 else f'activation (#{position})'} input")
        return first

    @property
    def output(self) -> TensorSpec:
        """The first output."""
        return self.outputs[0]

    @property
    def weights(self) -> TensorSpec | None:
        """The weight tensor (``inputs[op.operands.weights]``: conv, depthwise, transposed conv,
        dense, SVDF feature weights, PReLU alpha, embedding table), else ``None``."""
        return self._operand(self.op.operands.weights)

    @property
    def bias(self) -> TensorSpec | None:
        """The bias tensor (``inputs[op.operands.bias]``), else ``None`` (also when the file
        omits an optional bias)."""
        return self._operand(self.op.operands.bias)

    def _operand(self, position: int | None) -> TensorSpec | None:
        if position is None or position >= len(self.inputs):
            return None
        return self.inputs[position]

    @property
    def param_inputs(self) -> tuple[TensorSpec, ...]:
        """Constant inputs holding trained parameters (:attr:`Operands.param_positions`)."""
        return tuple(t for t in (self._operand(p) for p in self.op.operands.param_positions)
                     if t is not None and t.is_constant)

    @property
    def activation_inputs(self) -> tuple[TensorSpec, ...]:
        """Inputs that are computed at run time (not constants)."""
        return tuple(t for t in self.inputs if t is not None and not t.is_constant)

    @property
    def constant_inputs(self) -> tuple[TensorSpec, ...]:
        """Inputs whose values are stored in the model."""
        return tuple(t for t in self.inputs if t is not None and t.is_constant)

    @property
    def supported(self) -> bool:
        """False for layers whose operator the reader could not map."""
        return self.op is not OpType.UNSUPPORTED


def per_tensor_weights(layer: Layer) -> Layer:
    """``layer`` with one weight scale (its first, zero point 0) instead of one per output
    channel, as a converter that quantizes per tensor would write it."""
    w = layer.weights
    q = w.quantization
    one = replace(w, quantization=Quantization((float(q.scale[0]),), (0,), q.axis))
    return replace(layer, inputs=tuple(one if t is w else t for t in layer.inputs))


class ModelGraph:
    """A model as a DAG of :class:`Layer` nodes.

    Parameters
    ----------
    name:
        A display name (usually the file stem).
    layers:
        The layers in file order; names must be unique.
    inputs, outputs:
        The model's input and output tensors.
    source:
        Where the model came from (a path or a description), for messages.
    subgraphs:
        The file's other subgraphs by index (the conditions and bodies of control-flow layers
        such as ``WHILE``, whose options name them), each a graph of its own.
    rewrites:
        What the normalisation pass (:mod:`tinymodel.normalize`) changed to reach this graph.
    """

    def __init__(self, name: str, layers: Sequence[Layer], inputs: Sequence[TensorSpec],
                 outputs: Sequence[TensorSpec], source: str = "",
                 subgraphs: Mapping[int, ModelGraph] | None = None,
                 rewrites: Sequence[Any] = ()) -> None:
        self.name = name
        self.source = source or name
        self.subgraphs: Mapping[int, ModelGraph] = MappingProxyType(dict(subgraphs or {}))
        self.rewrites: tuple[Any, ...] = tuple(rewrites)
        self.inputs: tuple[TensorSpec, ...] = tuple(inputs)
        self.outputs: tuple[TensorSpec, ...] = tuple(outputs)
        self._layers_by_name: dict[str, Layer] = {}
        self._producer: dict[str, Layer] = {}
        self._consumers: dict[str, list[Layer]] = {}
        self._tensors: dict[str, TensorSpec] = {t.name: t for t in self.inputs}
        self._succ: dict[str, dict[str, str]] = {}
        self._pred: dict[str, dict[str, str]] = {}
        self._nx: nx.DiGraph | None = None
        index: dict[str, int] = {}
        for i, layer in enumerate(layers):
            if layer.name in index:
                raise ModelReadError(f"{self.source}: duplicate layer name {layer.name!r}")
            index[layer.name] = i
            self._layers_by_name[layer.name] = layer
            self._succ[layer.name] = {}
            self._pred[layer.name] = {}
            for t in layer.outputs:
                if t.name in self._producer:
                    raise ModelReadError(
                        f"{self.source}: tensor {t.name!r} is written by both "
                        f"{self._producer[t.name].name!r} and {layer.name!r}")
                self._producer[t.name] = layer
                self._tensors[t.name] = t
        for layer in layers:
            check_layer(layer, self.source)
            for t in layer.inputs:
                if t is None:
                    continue
                self._tensors.setdefault(t.name, t)
                self._consumers.setdefault(t.name, []).append(layer)
                src = self._producer.get(t.name)
                if src is layer:
                    _invalid(self.source, layer, f"reads its own output {t.name!r}", "self-loop")
                if src is not None:
                    self._succ[src.name].setdefault(layer.name, t.name)
                    self._pred[layer.name].setdefault(src.name, t.name)
        for t in (*self.inputs, *self.outputs):
            check_tensor(t, self.source)
        # Kahn's algorithm, always taking the ready layer that comes first in the file: the
        # lexicographical topological order keyed by file position.
        missing = {n: len(p) for n, p in self._pred.items()}
        ready = [index[n] for n, k in missing.items() if k == 0]
        heapq.heapify(ready)
        order: list[Layer] = []
        while ready:
            layer = layers[heapq.heappop(ready)]
            order.append(layer)
            for succ in self._succ[layer.name]:
                missing[succ] -= 1
                if missing[succ] == 0:
                    heapq.heappush(ready, index[succ])
        if len(order) != len(layers):
            raise ModelReadError(f"{self.source}: the operator graph has a cycle")
        self._order: tuple[Layer, ...] = tuple(order)
        self._position = {layer.name: i for i, layer in enumerate(self._order)}

    # -- iteration -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Layer]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return f"ModelGraph({self.name!r}, {counted(len(self), 'layer')})"

    @property
    def layers(self) -> tuple[Layer, ...]:
        """All layers in execution (topological) order."""
        return self._order

    @property
    def dag(self) -> nx.DiGraph:
        """The ``networkx`` view of the graph: nodes are layer names with attribute ``layer``; an
        edge ``a -> b`` has attribute ``tensor``, the first tensor ``b`` reads from ``a``.

        Built on first use (networkx is imported then), so that code which only iterates layers
        pays neither the import nor the construction.
        """
        if self._nx is None:
            import networkx

            dag = networkx.DiGraph(name=self.name)
            for layer in self._order:
                dag.add_node(layer.name, layer=layer)
            for src, succs in self._succ.items():
                for dst, tensor in succs.items():
                    dag.add_edge(src, dst, tensor=tensor)
            self._nx = dag
        return self._nx

    @property
    def tensors(self) -> Mapping[str, TensorSpec]:
        """Every tensor the model mentions, by name."""
        return MappingProxyType(self._tensors)

    @property
    def unsupported(self) -> tuple[Layer, ...]:
        """Layers whose operator the reader could not map, in execution order."""
        return tuple(layer for layer in self._order if not layer.supported)

    # -- navigation ------------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        try:
            return self._layers_by_name[name]
        except KeyError:
            raise KeyError(f"no layer named {name!r} in {self.name}") from None

    def position(self, layer: Layer | str) -> int:
        """Index of a layer in :attr:`layers`."""
        return self._position[layer if isinstance(layer, str) else layer.name]

    def producer(self, tensor: TensorSpec | str) -> Layer | None:
        """The layer that writes ``tensor``, or ``None`` for model inputs and constants."""
        return self._producer.get(tensor if isinstance(tensor, str) else tensor.name)

    def consumers(self, tensor: TensorSpec | str) -> tuple[Layer, ...]:
        """Layers that read ``tensor``, in file order."""
        return tuple(self._consumers.get(tensor if isinstance(tensor, str) else tensor.name, ()))

    def predecessors(self, layer: Layer | str) -> tuple[Layer, ...]:
        """Layers whose outputs ``layer`` reads."""
        name = layer if isinstance(layer, str) else layer.name
        return tuple(sorted((self._layers_by_name[n] for n in self._pred[name]), key=self.position))

    def successors(self, layer: Layer | str) -> tuple[Layer, ...]:
        """Layers that read an output of ``layer``."""
        name = layer if isinstance(layer, str) else layer.name
        return tuple(sorted((self._layers_by_name[n] for n in self._succ[name]), key=self.position))


# -- the rules every graph is checked against when it is built ---------------------------------
#
# Every reader builds a ModelGraph, and so does the normalisation pass after it, so these rules
# hold for whatever analyze, predict, advise and deploy see: code downstream may unpack a conv's
# shapes as NHWC, divide by a dense layer's input length, and loop over a dimension without
# checking again.  docs/reliability.md ("Model files") lists them.

#: Largest tensor dimension, kernel size, stride and dilation (2**24 = 16,777,216): far above
#: any tensor a microcontroller holds, small enough that no count derived from a layer's
#: geometry gets out of hand.
MAX_DIM = 1 << 24
#: Most elements in one tensor (2**31 - 1: TensorFlow Lite's sizes are int32).
MAX_ELEMENTS = (1 << 31) - 1
#: Highest tensor rank accepted: a generous bound (the firmware's kernels take rank <= 4).
MAX_RANK = 8
#: Every dtype a reader may give a tensor (those with a size in :data:`DTYPE_BYTES`, plus the
#: ones a file may hold that no kernel runs).
KNOWN_DTYPES = frozenset(DTYPE_BYTES) | {"string", "complex64", "complex128", "bfloat16",
                                         "resource", "variant"}

#: Operators over an NHWC window: 4-D input and output with positive dimensions, a kernel, strides
#: and dilation in ``1 .. MAX_DIM``.
_WINDOW_OPS = frozenset({OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.TRANSPOSE_CONV,
                         OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.L2_POOL_2D})
#: Of those, the ones whose weights are a 4-D tensor matching the kernel.
_CONV_OPS = frozenset({OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.TRANSPOSE_CONV})


def _where(layer: Layer) -> str:
    return f"layer {layer.name!r} ({layer.source_op or layer.op.label})"


def _invalid(source: str, layer: Layer | None, problem: str, rule: str) -> None:
    """Raise :class:`InvalidModelError` ``SOURCE: layer 'NAME' (OP): PROBLEM (rule: RULE)``."""
    where = f"{_where(layer)}: " if layer is not None else "model input or output "
    raise InvalidModelError(f"{source}: {where}{problem} (rule: {rule})",
                            layer=None if layer is None else layer.name, rule=rule)


def check_tensor(t: TensorSpec, source: str, layer: Layer | None = None) -> None:
    """The rules for every tensor: a known dtype (``dtype``), rank at most :data:`MAX_RANK`,
    every dimension an integer in ``0 .. MAX_DIM`` and at most :data:`MAX_ELEMENTS` elements
    (``limit``, ``dims``)."""
    if t.dtype not in KNOWN_DTYPES:
        _invalid(source, layer, f"tensor {t.name!r} has unknown dtype {t.dtype!r}", "dtype")
    shape = t.shape
    if len(shape) > MAX_RANK:
        _invalid(source, layer, f"tensor {t.name!r} has rank {len(shape)} (shape "
                                f"{list(shape)}); at most {MAX_RANK} is allowed", "limit")
    for d in shape:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 0:
            _invalid(source, layer, f"tensor {t.name!r} has shape {list(shape)}; dimensions "
                                    f"must be integers >= 0", "dims")
        if d > MAX_DIM:
            _invalid(source, layer, f"tensor {t.name!r} has shape {list(shape)}; a dimension "
                                    f"is at most {MAX_DIM:,}", "limit")
    if t.size > MAX_ELEMENTS:
        _invalid(source, layer, f"tensor {t.name!r} of shape {list(shape)} has {t.size:,} "
                                f"elements; at most {MAX_ELEMENTS:,} are allowed", "limit")


def _positive(source: str, layer: Layer, t: TensorSpec, what: str, rank: int | None) -> None:
    if rank is not None and len(t.shape) != rank:
        _invalid(source, layer, f"{what} shape {list(t.shape)} is not {rank}-D", "rank")
    if any(d < 1 for d in t.shape):
        _invalid(source, layer, f"{what} shape {list(t.shape)} has a zero dimension", "dims")


def _in_range(source: str, layer: Layer, what: str, pair: tuple[int, ...] | None) -> None:
    if pair is None or len(pair) != 2 or any(not 1 <= v <= MAX_DIM for v in pair):
        _invalid(source, layer, f"{what} {pair} is not two integers in 1 .. {MAX_DIM:,}",
                 "limit")


def check_layer(layer: Layer, source: str = "") -> None:
    """Check ``layer`` against the rules (raising :class:`InvalidModelError` naming the layer
    and the rule):

    * every tensor: :func:`check_tensor`;
    * ``operand``: an operator with a cost formula has its activation input and an output;
    * conv, depthwise, transposed conv and the 2-D pools (``rank``, ``dims``, ``limit``,
      ``kernel``): 4-D input and output with no zero dimension; kernel, strides and dilation in
      ``1 .. MAX_DIM``; the convolutions' weights 4-D with no zero dimension, their (height,
      width) equal to the kernel; with ``valid`` padding the dilated kernel
      ``(k - 1)·d + 1`` is not larger than the input; a conv's input channels a multiple of
      its weights' (``groups`` at least 1), a transposed conv's weights taking the input's
      channels;
    * fully connected (``rank``, ``dims``): 2-D weights with no zero dimension, an input and
      output with no zero dimension, the input's size a multiple of the weights' input length
      (unless the file leaves the input's shape open, :attr:`TensorSpec.open_dims`: the
      normalised graph, whose shape is closed, is checked again);
    * batch matmul, SVDF and LSTM (``rank``, ``operand``): the ranks and matching weight shapes
      their cost formulas read.
    """
    for t in (*layer.inputs, *layer.outputs):
        if t is not None:
            check_tensor(t, source, layer)
    op = layer.op
    if not op.has_formula or op is OpType.UNSUPPORTED:
        return
    data = op.operands.data
    if data >= len(layer.inputs) or layer.inputs[data] is None:
        _invalid(source, layer, f"has no activation input (input {data})", "operand")
    if not layer.outputs:
        _invalid(source, layer, "has no output", "operand")
    x, y = layer.input, layer.output
    if op in _WINDOW_OPS:
        _positive(source, layer, x, "input", 4)
        if len(y.shape) != 4:
            _invalid(source, layer, f"output shape {list(y.shape)} is not 4-D", "rank")
        _in_range(source, layer, "kernel", layer.kernel)
        _in_range(source, layer, "strides", layer.strides)
        _in_range(source, layer, "dilation", layer.dilation)
        if op in _CONV_OPS:
            w = layer.weights
            if w is None:
                _invalid(source, layer, "has no weight tensor (input 1)", "operand")
            _positive(source, layer, w, "weight", 4)
            if tuple(w.shape[1:3]) != tuple(layer.kernel):
                _invalid(source, layer, f"kernel {tuple(layer.kernel)} differs from the weights' "
                                        f"{list(w.shape)}", "kernel")
            if op is OpType.CONV_2D and (layer.groups < 1 or x.shape[3] % w.shape[3]):
                _invalid(source, layer, f"input has {counted(x.shape[3], 'channel')}, not a "
                                        f"multiple of the weights' {w.shape[3]}", "kernel")
            if op is OpType.TRANSPOSE_CONV and w.shape[3] != x.shape[3]:
                _invalid(source, layer, f"weights {list(w.shape)} do not take the input's "
                                        f"{counted(x.shape[3], 'channel')}", "kernel")
        if layer.padding is Padding.VALID and op is not OpType.TRANSPOSE_CONV:
            for axis, size in ((0, x.shape[1]), (1, x.shape[2])):
                span = (layer.kernel[axis] - 1) * layer.dilation[axis] + 1
                if span > size:
                    _invalid(source, layer, f"{'height' if axis == 0 else 'width'} window of "
                                            f"{span} (kernel {layer.kernel[axis]}, dilation "
                                            f"{layer.dilation[axis]}) is larger than the input's "
                                            f"{size} with valid padding", "kernel")
        _positive(source, layer, y, "output", 4)
    elif op is OpType.FULLY_CONNECTED:
        w = layer.weights
        if w is None:
            _invalid(source, layer, "has no weight tensor (input 1)", "operand")
        _positive(source, layer, w, "weight", 2)
        _positive(source, layer, x, "input", None)
        _positive(source, layer, y, "output", None)
        if x.size % w.shape[1] and not x.open_dims:
            _invalid(source, layer, f"input {list(x.shape)} does not split into rows of "
                                    f"{w.shape[1]}", "rank")
    elif op is OpType.BATCH_MATMUL:
        other = layer.inputs[1] if len(layer.inputs) > 1 else None
        if other is None:
            _invalid(source, layer, "has no second operand (input 1)", "operand")
        if len(x.shape) < 2 or len(other.shape) < 2 or len(y.shape) < 2:
            _invalid(source, layer, f"needs operands of rank >= 2, got {list(x.shape)} x "
                                    f"{list(other.shape)} -> {list(y.shape)}", "rank")
    elif op is OpType.SVDF:
        feature, time = _ranked(source, layer, 1, 2), _ranked(source, layer, 2, 2)
        _ranked(source, layer, 0, 2)
        if feature != (time[0], x.shape[1]):
            _invalid(source, layer, f"feature weights {list(feature)} do not match input "
                                    f"{list(x.shape)} and time weights {list(time)}", "rank")
    elif op is OpType.UNIDIRECTIONAL_SEQUENCE_LSTM:
        _ranked(source, layer, 0, 3)
        forget, recurrent = _ranked(source, layer, 2, 2), _ranked(source, layer, 6, 2)
        if forget != (recurrent[0], x.shape[2]):
            _invalid(source, layer, f"input weights {list(forget)} do not match input "
                                    f"{list(x.shape)} and recurrent weights {list(recurrent)}",
                     "rank")


def _ranked(source: str, layer: Layer, position: int, rank: int) -> tuple[int, ...]:
    t = layer.inputs[position] if position < len(layer.inputs) else None
    if t is None:
        _invalid(source, layer, f"has no input {position}", "operand")
    if len(t.shape) != rank:
        _invalid(source, layer, f"input {position} has shape {list(t.shape)}, expected rank "
                                f"{rank}", "rank")
    return tuple(t.shape)
