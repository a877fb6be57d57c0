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

from tinymodel import formulas as f
from tinymodel.arena import ArenaPlan, plan_arena
from tinymodel.dispatch import Variant, scratch_bytes
from tinymodel.errors import ModelReadError
from tinymodel.formulas import Alignment
from tinymodel.graph import ModelGraph, Layer
from tinymodel.ops import OpType


@dataclass(frozen=True)
class LayerCost:
    """Static costs of one layer.

    Attributes
    ----------
    macs, flops:
        Conventional counts (see :mod:`tinymodel.formulas`); ``flops = 2·macs`` for conv, depthwise
        and dense layers, one operation per element (or window element) for the others.
    paper_macs, paper_flops:
        The paper's Appendix A counts (bias terms included); equal to the conventional counts for
        operators the appendix does not cover.
    params:
        Elements of the weight and bias tensors.
    weight_bytes:
        Bytes of every constant input (weights, biases, shape operands): what goes to flash.
    weight_bytes_by_dtype:
        ``weight_bytes`` split by dtype, e.g. ``{"int8": 864, "int32": 128}``.
    input_bytes, output_bytes:
        Bytes of the run-time (non-constant) inputs and of the outputs.
    scratch_bytes:
        Working buffer of the layer's kernel (:func:`tinymodel.dispatch.scratch_bytes`): the int16
        im2col of the s8-opt kernels for int8 layers; 0 for float layers, whose kernels need none.
    reduction_length:
        Input length of a dense layer, input channels of a conv / depthwise layer, else ``None``.
    alignment:
        :func:`~tinymodel.formulas.alignment_class` of ``reduction_length``, else ``None``.
    supported:
        False for layers whose operator the reader could not map (their costs are zero).
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
    scratch_bytes: int = 0
    reduction_length: int | None = None
    alignment: Alignment | None = None
    supported: bool = True


Handler = Callable[[Layer], dict]

#: OpType → handler returning the operator-specific fields of a :class:`LayerCost`.
HANDLERS: dict[OpType, Handler] = {}


def _register(*ops: OpType) -> Callable[[Handler], Handler]:
    def decorate(fn: Handler) -> Handler:
        for op in ops:
            HANDLERS[op] = fn
        return fn
    return decorate


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


@_register(OpType.CONV_2D)
def _conv2d(layer: Layer) -> dict:
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


@_register(OpType.FULLY_CONNECTED)
def _dense(layer: Layer) -> dict:
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


@_register(OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D)
def _pool(layer: Layer) -> dict:
    k_h, k_w = layer.kernel or (1, 1)
    ops = f.pool2d_flops(layer.output.size, k_h, k_w)
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.ADD, OpType.SUB, OpType.MUL, OpType.RELU, OpType.RELU6, OpType.LOGISTIC,
           OpType.TANH, OpType.HARD_SWISH, OpType.QUANTIZE, OpType.DEQUANTIZE)
def _elementwise(layer: Layer) -> dict:
    ops = layer.output.size
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.SOFTMAX)
def _softmax(layer: Layer) -> dict:
    # max, subtract-and-exp, sum, scale: about four operations per element
    ops = 4 * layer.output.size
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.MEAN)
def _mean(layer: Layer) -> dict:
    ops = layer.input.size
    return dict(flops=ops, paper_flops=ops)


@_register(OpType.RESHAPE, OpType.PAD, OpType.CONCATENATION)
def _data_movement(layer: Layer) -> dict:
    return {}


@_register(OpType.UNSUPPORTED)
def _unsupported(layer: Layer) -> dict:
    return dict(supported=False)


def layer_cost(layer: Layer) -> LayerCost:
    """Static costs of ``layer`` (see :class:`LayerCost` for each field's definition)."""
    extra = HANDLERS[layer.op](layer)
    params = 0
    if layer.op.has_weights:
        params = sum(t.size for t in (layer.weights, layer.bias) if t is not None)
    by_dtype: dict[str, int] = {}
    for t in layer.constant_inputs:
        by_dtype[t.dtype] = by_dtype.get(t.dtype, 0) + t.nbytes
    reduction = extra.get("reduction_length")
    acts = layer.activation_inputs
    scratch = scratch_bytes(layer, Variant.S8_OPT) if acts and acts[0].dtype == "int8" else 0
    return LayerCost(
        scratch_bytes=scratch,
        params=params,
        weight_bytes=sum(by_dtype.values()),
        weight_bytes_by_dtype=MappingProxyType(by_dtype),
        input_bytes=sum(t.nbytes for t in layer.activation_inputs),
        output_bytes=sum(t.nbytes for t in layer.outputs),
        alignment=f.alignment_class(reduction) if reduction is not None else None,
        **extra,
    )


_SUMMED = ("macs", "paper_macs", "flops", "paper_flops", "params", "weight_bytes")


@dataclass(frozen=True)
class ModelCost:
    """Costs of a whole model: per layer, totals and memory.

    ``totals`` sums ``macs``, ``paper_macs``, ``flops``, ``paper_flops``, ``params`` and
    ``weight_bytes`` over all layers.  ``peak_activation_bytes`` is the arena size from the
    planner (activations and scratch buffers as the firmware lays them out);
    ``max_scratch_bytes`` is the largest single scratch buffer.
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
        """Layers with unmapped operators (costed as zero; listed in every report)."""
        return self.graph.unsupported

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

