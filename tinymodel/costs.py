"""Per-layer and per-model static costs.

A registry maps every :class:`~tinymodel.ops.OpType` to a small handler that pulls plain integers
out of a :class:`~tinymodel.graph.Layer` and calls the pure formulas in
:mod:`tinymodel.formulas`.  :func:`layer_cost` returns a frozen :class:`LayerCost`;
:func:`analyze` returns a :class:`ModelCost` with per-layer costs, totals and the peak activation
memory from the arena planner (:mod:`tinymodel.arena`).

Layout conventions (TFLite's, which both readers follow): activations NHWC, conv weights OHWI,
depthwise weights ``1·H·W·(C·M)``, dense weights ``(out, in)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NoReturn

from tinymodel import formulas as f
from tinymodel.arena import ArenaPlan, plan_arena
from tinymodel.dispatch import Variant, scratch_bytes
from tinymodel.errors import ModelReadError
from tinymodel.formulas import Alignment
from tinymodel.graph import ModelGraph, Layer
from tinymodel.ops import CostKind, OpType


@dataclass(frozen=True)
class LayerCost:
    """Static costs of one layer.

    Attributes
    ----------
    macs, flops:
        Conventional counts (see :mod:`tinymodel.formulas`); ``flops = 2·macs`` for the
        operators with weights (conv, depthwise, transposed conv, dense, batch matmul, SVDF; the
        LSTM adds its gate and cell arithmetic), one operation per element (or window element)
        for the others, ``TRANSCENDENTAL_FLOPS`` per element for transcendental functions.
    paper_macs, paper_flops:
        The paper's Appendix A counts (bias terms included) and their extension to transposed
        conv, SVDF and LSTM; equal to the conventional counts for operators the appendix does not
        cover.
    params:
        Elements of the constant inputs holding trained parameters (weights, biases, PReLU
        alphas, embedding tables, LSTM gate weights: :attr:`Layer.param_inputs`), **bias
        included everywhere**: an operator with a bias slot (conv, depthwise, transposed conv,
        dense, SVDF) whose file has no bias tensor — the converter drops an all-zero dense bias —
        is counted with one bias element per output channel, as the paper's ``N_in + 1`` does.
    weight_bytes:
        Bytes of every constant input (weights, biases, shape operands): what goes to flash.  An
        implied bias (see ``params``) has no bytes: it is not in the file.
    weight_bytes_by_dtype:
        ``weight_bytes`` split by dtype, e.g. ``{"int8": 864, "int32": 128}``.
    input_bytes, output_bytes:
        Bytes of the run-time (non-constant) inputs and of the outputs.
    bytes_moved:
        Bytes a data-movement operator (:attr:`CostKind.DATA_MOVEMENT`: reshape, pad, slices,
        gathers, concatenation, ...) moves: the bytes of its outputs
        (:func:`~tinymodel.formulas.moved_bytes`); 0 for the other operators.
    scratch_bytes:
        Working buffer of the layer's kernel (:func:`tinymodel.dispatch.scratch_bytes`): the int16
        im2col of the s8-opt kernels for int8 layers; 0 for float layers, whose kernels need none.
    reduction_length:
        Input length of a dense layer (``k`` of a batch matmul), input channels of a conv /
        depthwise / transposed conv layer, else ``None``.
    alignment:
        :func:`~tinymodel.formulas.alignment_class` of ``reduction_length``, else ``None``.
    cost_kind:
        The operator's :class:`~tinymodel.ops.CostKind`; with ``NO_FORMULA`` every count is 0
        because there is nothing to count statically, and reports list the layer as not costed.
    supported:
        False for layers whose operator the reader could not map (not costed; listed as
        unsupported).
    """

    macs: int = 0
    paper_macs: int = 0
    flops: int = 0
    paper_flops: int = 0
    params: int = 0
    weight_bytes: int = 0
    weight_bytes_by_dtype: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    input_bytes: int = 0
    output_bytes: int = 0
    bytes_moved: int = 0
    scratch_bytes: int = 0
    reduction_length: int | None = None
    alignment: Alignment | None = None
    cost_kind: CostKind = CostKind.COMPUTE
    supported: bool = True

    @property
    def costed(self) -> bool:
        """True when the operator has a cost formula (compute or data movement)."""
        return self.supported and self.cost_kind is not CostKind.NO_FORMULA


Handler = Callable[[Layer], dict]

#: OpType → handler returning the operator-specific fields of a :class:`LayerCost`.  The first
#: line of each handler's docstring states its formula (``docs/operators.md`` quotes it).
HANDLERS: dict[OpType, Handler] = {}


def _register(*ops: OpType) -> Callable[[Handler], Handler]:
    def decorate(fn: Handler) -> Handler:
        for op in ops:
            HANDLERS[op] = fn
        return fn
    return decorate


def _fail(layer: Layer, problem: str) -> NoReturn:
    raise ModelReadError(f"layer {layer.name!r} ({layer.op}): {problem}")


def _nhwc(layer: Layer, shape: tuple[int, ...], what: str) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise ModelReadError(f"layer {layer.name!r} ({layer.op}): {what} shape {list(shape)} is not NHWC")
    n, h, w, c = shape
    return n, h, w, c


def _weights_shape(layer: Layer) -> tuple[int, ...]:
    weights = layer.weights
    if weights is None:
        raise ModelReadError(f"layer {layer.name!r} ({layer.op}) has no weight tensor")
    return weights.shape


def _input_shape(layer: Layer, position: int, rank: int | None = None) -> tuple[int, ...]:
    t = layer.inputs[position] if position < len(layer.inputs) else None
    if t is None:
        _fail(layer, f"has no input {position}")
    if rank is not None and len(t.shape) != rank:
        _fail(layer, f"input {position} has shape {list(t.shape)}, expected rank {rank}")
    return t.shape


def _out_elements(layer: Layer) -> int:
    return sum(t.size for t in layer.outputs)


# -- operators with weights ----------------------------------------------------------------------

@_register(OpType.CONV_2D)
def _conv2d(layer: Layer) -> dict:
    """MACs ``out_h·out_w·out_c·k_h·k_w·c_in/groups``; paper eqs. (4), (3); FLOPs ``2·MACs``."""
    n, _, _, in_c = _nhwc(layer, layer.input.shape, "input")
    _, out_h, out_w, out_c = _nhwc(layer, layer.output.shape, "output")
    w = _weights_shape(layer)
    if len(w) != 4:
        raise ModelReadError(f"layer {layer.name!r} (CONV_2D): weight shape {list(w)} is not OHWI")
    _, k_h, k_w, in_c_per_group = w
    macs = f.conv2d_macs(out_h, out_w, out_c, k_h, k_w, in_c_per_group, n)
    return dict(macs=macs, flops=2 * macs,
                paper_macs=f.paper_conv2d_macs(out_h, out_w, in_c_per_group, k_h, k_w, out_c, n),
                paper_flops=f.paper_conv2d_flops(out_h, out_w, in_c_per_group, k_h, k_w, out_c, n),
                reduction_length=in_c)


@_register(OpType.DEPTHWISE_CONV_2D)
def _depthwise(layer: Layer) -> dict:
    """MACs ``out_h·out_w·out_c·k_h·k_w``; paper eqs. (7), (6); FLOPs ``2·MACs``."""
    n, _, _, in_c = _nhwc(layer, layer.input.shape, "input")
    _, out_h, out_w, out_c = _nhwc(layer, layer.output.shape, "output")
    w = _weights_shape(layer)
    if len(w) != 4:
        raise ModelReadError(f"layer {layer.name!r} (DEPTHWISE_CONV_2D): weight shape {list(w)} is not 1HWC")
    _, k_h, k_w, _ = w
    macs = f.depthwise_conv2d_macs(out_h, out_w, out_c, k_h, k_w, n)
    return dict(macs=macs, flops=2 * macs,
                paper_macs=f.paper_depthwise_conv2d_macs(out_h, out_w, out_c, k_h, k_w, n),
                paper_flops=f.paper_depthwise_conv2d_flops(out_h, out_w, out_c, k_h, k_w, n),
                reduction_length=in_c)


@_register(OpType.TRANSPOSE_CONV)
def _transpose_conv(layer: Layer) -> dict:
    """MACs ``in_h·in_w·c_in·k_h·k_w·out_c``; paper eqs. (4), (3) over the input grid; FLOPs ``2·MACs``."""
    n, in_h, in_w, in_c = _nhwc(layer, layer.input.shape, "input")
    _nhwc(layer, layer.output.shape, "output")
    w = _weights_shape(layer)
    if len(w) != 4:
        _fail(layer, f"weight shape {list(w)} is not OHWI")
    out_c, k_h, k_w, w_in = w
    if w_in != in_c:
        _fail(layer, f"weights {list(w)} do not take the input's {in_c} channels")
    macs = f.transpose_conv2d_macs(in_h, in_w, in_c, k_h, k_w, out_c, n)
    return dict(macs=macs, flops=2 * macs,
                paper_macs=f.paper_transpose_conv2d_macs(in_h, in_w, in_c, k_h, k_w, out_c, n),
                paper_flops=f.paper_transpose_conv2d_flops(in_h, in_w, in_c, k_h, k_w, out_c, n),
                reduction_length=in_c)


@_register(OpType.FULLY_CONNECTED)
def _dense(layer: Layer) -> dict:
    """MACs ``rows·n_in·n_out``; paper eqs. (2), (1) (``N_out·(N_in+1)``); FLOPs ``2·MACs``."""
    w = _weights_shape(layer)
    if len(w) != 2:
        raise ModelReadError(f"layer {layer.name!r} (FULLY_CONNECTED): weight shape {list(w)} is not (out, in)")
    n_out, n_in = w
    if n_in <= 0 or layer.input.size % n_in:
        raise ModelReadError(f"layer {layer.name!r} (FULLY_CONNECTED): input {list(layer.input.shape)} "
                             f"does not split into rows of {n_in}")
    rows = layer.input.size // n_in
    macs = f.dense_macs(n_in, n_out, rows)
    return dict(macs=macs, flops=2 * macs,
                paper_macs=f.paper_dense_macs(n_in, n_out, rows),
                paper_flops=f.paper_dense_flops(n_in, n_out, rows),
                reduction_length=n_in)


@_register(OpType.BATCH_MATMUL)
def _batch_matmul(layer: Layer) -> dict:
    """MACs ``batch·m·k·n`` of ``(…, m, k) × (…, k, n)`` (``adj_x``/``adj_y`` transpose); FLOPs ``2·MACs``; no bias."""
    x = _input_shape(layer, 0)
    _input_shape(layer, 1)
    out = layer.output.shape
    if len(x) < 2 or len(out) < 2:
        _fail(layer, f"needs operands of rank >= 2, got {list(x)} -> {list(out)}")
    k = x[-2] if layer.options.get("adj_x") else x[-1]
    m, n = out[-2], out[-1]
    if m * n == 0:
        return {}
    macs = f.batch_matmul_macs(layer.output.size // (m * n), m, k, n)
    return dict(macs=macs, flops=2 * macs, paper_macs=macs, paper_flops=2 * macs,
                reduction_length=k)


@_register(OpType.SVDF)
def _svdf(layer: Layer) -> dict:
    """MACs ``batch·num_filters·(input_size + memory_size)`` per step; paper adds ``batch·num_units`` (bias); FLOPs ``2·MACs``."""
    x = _input_shape(layer, 0, 2)
    feature = _input_shape(layer, 1, 2)
    time = _input_shape(layer, 2, 2)
    batch, input_size = x
    num_filters, memory_size = time
    if feature != (num_filters, input_size):
        _fail(layer, f"feature weights {list(feature)} do not match input {list(x)} and time "
                     f"weights {list(time)}")
    num_units = layer.output.shape[-1]
    macs = f.svdf_macs(input_size, num_filters, memory_size, batch)
    return dict(macs=macs, flops=2 * macs,
                paper_macs=f.paper_svdf_macs(input_size, num_filters, memory_size, num_units,
                                             batch),
                paper_flops=2 * macs)


@_register(OpType.UNIDIRECTIONAL_SEQUENCE_LSTM)
def _lstm(layer: Layer) -> dict:
    """MACs ``steps·batch·(gates·n_cell·(n_input + n_output) + peepholes·n_cell + projection)``; paper adds the gate biases; FLOPs add the cell arithmetic."""
    x = _input_shape(layer, 0, 3)
    time_major = bool(layer.options.get("time_major", False))
    steps, batch = (x[0], x[1]) if time_major else (x[1], x[0])
    n_input = x[2]
    forget = _input_shape(layer, 2, 2)            # input-to-forget weights (n_cell, n_input)
    recurrent = _input_shape(layer, 6, 2)         # recurrent-to-forget weights (n_cell, n_output)
    n_cell, n_output = recurrent
    if forget != (n_cell, n_input):
        _fail(layer, f"input weights {list(forget)} do not match input {list(x)} and recurrent "
                     f"weights {list(recurrent)}")

    def present(position: int) -> bool:
        return position < len(layer.inputs) and layer.inputs[position] is not None

    gates = 4 if present(1) else 3               # no input-to-input weights: coupled gates
    peepholes = sum(present(p) for p in (9, 10, 11))
    projection = present(16)
    args = (steps, batch, n_input, n_cell, n_output, gates, peepholes, projection)
    macs = f.lstm_macs(*args)
    flops = f.lstm_flops(*args)
    return dict(macs=macs, flops=flops,
                paper_macs=f.paper_lstm_macs(*args, projection_bias=present(17)),
                paper_flops=flops)


# -- pooling, elementwise and activations --------------------------------------------------------

@_register(OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D)
def _pool(layer: Layer) -> dict:
    """FLOPs ``out_elements·k_h·k_w`` (one add or compare per window element)."""
    k_h, k_w = layer.kernel or (1, 1)
    ops = f.pool2d_flops(layer.output.size, k_h, k_w)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.L2_POOL_2D)
def _l2_pool(layer: Layer) -> dict:
    """FLOPs ``out_elements·(2·k_h·k_w + TRANSCENDENTAL_FLOPS)`` (square and add per window element, one sqrt)."""
    k_h, k_w = layer.kernel or (1, 1)
    ops = f.l2_pool2d_flops(layer.output.size, k_h, k_w)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.ADD, OpType.SUB, OpType.MUL, OpType.DIV, OpType.MAXIMUM, OpType.MINIMUM,
           OpType.FLOOR_DIV, OpType.FLOOR_MOD, OpType.ABS, OpType.NEG, OpType.CEIL, OpType.FLOOR,
           OpType.ROUND, OpType.SQUARE, OpType.EQUAL, OpType.NOT_EQUAL, OpType.GREATER,
           OpType.GREATER_EQUAL, OpType.LESS, OpType.LESS_EQUAL, OpType.LOGICAL_AND,
           OpType.LOGICAL_OR, OpType.LOGICAL_NOT, OpType.SELECT, OpType.SELECT_V2, OpType.RELU,
           OpType.RELU6, OpType.RELU_N1_TO_1, OpType.LEAKY_RELU, OpType.PRELU, OpType.LOGISTIC,
           OpType.TANH, OpType.HARD_SWISH, OpType.QUANTIZE, OpType.DEQUANTIZE, OpType.CAST)
def _elementwise(layer: Layer) -> dict:
    """FLOPs ``out_elements`` (one operation per output element)."""
    ops = f.elementwise_flops(layer.output.size)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.SQUARED_DIFFERENCE)
def _squared_difference(layer: Layer) -> dict:
    """FLOPs ``2·out_elements`` (a subtraction and a multiplication per element)."""
    ops = f.elementwise_flops(layer.output.size, 2)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.EXP, OpType.LOG, OpType.SIN, OpType.COS, OpType.SQRT, OpType.RSQRT, OpType.ELU)
def _transcendental(layer: Layer) -> dict:
    """FLOPs ``TRANSCENDENTAL_FLOPS·out_elements`` (a transcendental function per element)."""
    ops = f.transcendental_flops(layer.output.size)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.ADD_N)
def _add_n(layer: Layer) -> dict:
    """FLOPs ``out_elements·(operands − 1)``."""
    ops = f.add_n_flops(layer.output.size, len(layer.activation_inputs) + len(layer.constant_inputs))
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.SOFTMAX, OpType.LOG_SOFTMAX)
def _softmax(layer: Layer) -> dict:
    """FLOPs ``4·out_elements`` (max, subtract-and-exp, sum, scale)."""
    ops = f.softmax_flops(layer.output.size)
    return dict(flops=ops, paper_flops=ops)


# -- reductions and resampling -------------------------------------------------------------------

@_register(OpType.MEAN, OpType.SUM, OpType.REDUCE_MAX, OpType.REDUCE_MIN, OpType.ARG_MAX,
           OpType.ARG_MIN, OpType.CUMSUM)
def _reduce(layer: Layer) -> dict:
    """FLOPs ``in_elements`` (one add or compare per input element)."""
    ops = f.reduce_flops(layer.input.size)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.L2_NORMALIZATION)
def _l2_normalization(layer: Layer) -> dict:
    """FLOPs ``3·elements + TRANSCENDENTAL_FLOPS·rows`` over the last axis (square, add, scale; one rsqrt per row)."""
    shape = layer.input.shape
    rows = layer.input.size // shape[-1] if shape and shape[-1] else 0
    ops = f.l2_normalization_flops(layer.input.size, rows)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.RESIZE_BILINEAR)
def _resize_bilinear(layer: Layer) -> dict:
    """FLOPs ``4·out_elements`` (one weighted tap per corner of the 2×2 window)."""
    ops = f.resize_bilinear_flops(layer.output.size)
    return dict(flops=ops, paper_flops=ops)


# -- data movement and operators without a formula -----------------------------------------------

@_register(*(op for op in OpType if op.cost_kind is CostKind.DATA_MOVEMENT))
def _data_movement(layer: Layer) -> dict:
    """Bytes moved = output bytes (each output byte written once); no arithmetic."""
    return dict(bytes_moved=f.moved_bytes(sum(t.nbytes for t in layer.outputs)))


@_register(*(op for op in OpType if op.cost_kind is CostKind.NO_FORMULA
             and op is not OpType.UNSUPPORTED))
def _no_formula(layer: Layer) -> dict:
    """No formula: control flow runs other subgraphs, variables are state; listed as not costed."""
    return {}


@_register(OpType.UNSUPPORTED)
def _unsupported(layer: Layer) -> dict:
    """Not mapped by the reader (a custom op or an unknown code); listed as unsupported, not costed."""
    return dict(supported=False)


def _params(layer: Layer) -> int:
    """Trained parameters of ``layer``, an implied bias included (see :class:`LayerCost`)."""
    params = sum(t.size for t in layer.param_inputs)
    if layer.op.operands.bias is not None and layer.bias is None and layer.outputs:
        shape = layer.output.shape
        params += shape[-1] if shape else 1
    return params


def layer_cost(layer: Layer) -> LayerCost:
    """Static costs of ``layer`` (see :class:`LayerCost` for each field's definition)."""
    extra = HANDLERS[layer.op](layer)
    by_dtype: dict[str, int] = {}
    for t in layer.constant_inputs:
        by_dtype[t.dtype] = by_dtype.get(t.dtype, 0) + t.nbytes
    reduction = extra.get("reduction_length")
    acts = layer.activation_inputs
    scratch = scratch_bytes(layer, Variant.S8_OPT) if acts and acts[0].dtype == "int8" else 0
    return LayerCost(
        scratch_bytes=scratch,
        params=_params(layer),
        weight_bytes=sum(by_dtype.values()),
        weight_bytes_by_dtype=MappingProxyType(by_dtype),
        input_bytes=sum(t.nbytes for t in layer.activation_inputs),
        output_bytes=sum(t.nbytes for t in layer.outputs),
        alignment=f.alignment_class(reduction) if reduction is not None else None,
        cost_kind=layer.op.cost_kind,
        **extra,
    )


_SUMMED = ("macs", "paper_macs", "flops", "paper_flops", "params", "weight_bytes",
           "bytes_moved")


@dataclass(frozen=True)
class ModelCost:
    """Costs of a whole model: per layer, totals and memory.

    ``totals`` sums ``macs``, ``paper_macs``, ``flops``, ``paper_flops``, ``params``,
    ``weight_bytes`` and ``bytes_moved`` over all layers (a constant tensor read by several
    layers is counted once per layer).  ``peak_activation_bytes`` is the arena size from the
    planner (activations and scratch buffers as the firmware lays them out).  Layers that are
    not costed are listed: :attr:`no_formula` (mapped operators without a cost formula) and
    :attr:`unsupported` (operators the reader could not map).
    """

    graph: ModelGraph
    layers: tuple[tuple[Layer, LayerCost], ...]
    totals: Mapping[str, int]
    weight_bytes_by_dtype: Mapping[str, int]
    arena: ArenaPlan

    @property
    def peak_activation_bytes(self) -> int:
        """Size of the tensor arena the planner needs (activations and scratch)."""
        return self.arena.peak_bytes

    @property
    def unsupported(self) -> tuple[Layer, ...]:
        """Layers with unmapped operators (not costed; listed in every report)."""
        return self.graph.unsupported

    @property
    def no_formula(self) -> tuple[Layer, ...]:
        """Layers whose operator is mapped but has no cost formula (:attr:`CostKind.NO_FORMULA`:
        control flow and variables), in execution order; not costed, listed in every report."""
        return tuple(layer for layer, _ in self.layers
                     if layer.supported and not layer.op.has_formula)

    def cost(self, layer: Layer | str) -> LayerCost:
        """The :class:`LayerCost` of one layer."""
        return self.layers[self.graph.position(layer)][1]


def analyze(graph: ModelGraph) -> ModelCost:
    """Per-layer costs, totals and the arena plan of ``graph``."""
    per_layer = tuple((layer, layer_cost(layer)) for layer in graph)
    totals = {name: sum(getattr(c, name) for _, c in per_layer) for name in _SUMMED}
    by_dtype: dict[str, int] = {}
    for _, c in per_layer:
        for dtype, n in c.weight_bytes_by_dtype.items():
            by_dtype[dtype] = by_dtype.get(dtype, 0) + n
    scratch = {layer.name: c.scratch_bytes for layer, c in per_layer if c.scratch_bytes}
    arena = plan_arena(graph, scratch)
    return ModelCost(graph=graph, layers=per_layer, totals=MappingProxyType(totals),
                     weight_bytes_by_dtype=MappingProxyType(by_dtype), arena=arena)

