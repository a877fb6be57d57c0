"""What the firmware runs: one layer descriptor per layer, and the rules that decide whether a
model can be deployed at all.

This is the one place that says what ``tinymodel deploy`` accepts.  The code generator
(:mod:`calibration.codegen`: C sources, arena offsets, the constant blob), RUN_LAYER requests
(:mod:`calibration.requests`) and the estimator's deployability line (:func:`deployability`,
shown by ``tinymodel predict``) all call it.

**Per layer.**  :data:`DESCRIBERS` holds a builder for every operator the firmware has a kernel
for (the keys are :data:`tinymodel.firmware_interface.OP_CODES`'s; a test checks they agree).
:func:`describe_layer` turns a layer into its ``tm_layer_desc``
(:class:`~tinymodel.firmware_interface.LayerDescriptor`): shapes, the ``geom[]`` and ``quant[]``
slots filled by name through :mod:`tinymodel.firmware_interface`'s slot families, flags, and the
constants appended to a :class:`ConstantBlob`.  Quantization parameters come from
:mod:`tinymodel.requantization` (TFLite's arithmetic).  A layer the kernels cannot run raises a
:class:`DeployError` naming the layer and the rule (:attr:`DeployError.rule`):

=================== ====================================================================
rule                when
=================== ====================================================================
``no-kernel``       the operator has no firmware kernel (:class:`NoKernelError`)
``rank``            a tensor of rank > 4
``grouped-conv``    a grouped convolution
``activation``      a fused activation the kernels lack (tanh, sign bit)
``pool-quantization`` int8 pooling whose input and output quantization differ
``same-scale``      an int8 CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK, SLICE or
                    STRIDED_SLICE whose inputs and outputs do not share one scale and zero
                    point (they copy bytes; TFLite's converter equalises them)
``constant-input``  a constant input of one of those (the copies read the arena only)
``axis``            an axis outside the tensor's rank
``shapes``          windows that do not match the output shapes (or a stride of 0)
``slice-mask``      a STRIDED_SLICE with an ellipsis or new-axis mask, or ``offset`` (TFLM
                    does not run them; the converter removes the masks)
``pieces``          :func:`describe_layer` of a layer that runs as several firmware layers
                    (use :func:`describe_pieces`)
``reduce-axes``     a MEAN / SUM without axes or with an axis outside the tensor's rank
``convert-dtypes``  a QUANTIZE / DEQUANTIZE between other dtypes than float32 / int8 (or of
                    a constant, e.g. float16 weights)
``binary-shapes``   a binary element-wise op (ADD, SUB, MUL, MAXIMUM, MINIMUM) whose
                    operands do not broadcast onto its output (NumPy rules, rank <= 4),
                    or of two constants
``minmax-quantization`` int8 MAXIMUM / MINIMUM whose inputs and output do not share one
                    scale and zero point (TFLite's converter guarantees it; the kernel
                    compares raw codes)
``transpose-perm``  a TRANSPOSE without a constant permutation of its rank
``pad-amounts``     a PAD without constant, non-negative paddings that give its output shape
``pad-value``       an int8 PADV2 whose constant is not quantized like the output (TFLM's
                    PadPrepare refuses it too)
``resize-options``  a RESIZE of a tensor that is not 4-D, or a RESIZE_BILINEAR with both
                    align_corners and half_pixel_centers (TFLite refuses it)
``fixed-output``    an int8 LOGISTIC / TANH whose output quantization is not the one the
                    converter fixes and the kernels assume (1/256, -128 / 1/128, 0)
``prelu-alpha``     a PRELU whose alpha does not broadcast onto the input dim by dim, or
                    has per-channel quantization
``transpose-conv-shape`` a TRANSPOSE_CONV whose output size does not come from its input
                    size, kernel and stride under its padding (TFLite's check)
``bmm-operands``    a BATCH_MATMUL with a constant first operand, or a constant second one
                    with per-channel scales
``quantization``    an int8 tensor without quantization parameters
``channels``        per-channel weight scales that do not match the output channels
``values``          constants without values (a graph built without data)
``hybrid``          int8 weights in a float32 layer (dynamic-range quantization)
``weight-zero-point`` int8 weights with a non-zero zero point (the kernels subtract none)
``loop``            a recurrent layer converted as a loop: a ``WHILE`` (Keras ``LSTM`` / ``GRU``
                    with ``unroll=False``; also when the normalisation unrolled it, whose
                    body needs GATHER) or a fused ``UNIDIRECTIONAL_SEQUENCE_LSTM``
                    (:func:`check_loops`); the fix is converting with ``unroll=True``
``quant-range``     a quantization parameter outside the range TFLite allows, which the
                    firmware refuses (:data:`tinymodel.firmware_interface.QUANT_RULES`), or
                    scales TFLite's integer arithmetic cannot turn into multipliers and shifts
                    at all (e.g. an int8 softmax whose ``beta · input scale · 2^26`` is not
                    above 1, TFLite's ``PreprocessSoftmaxScaling``, or whose ``beta`` is NaN; a
                    zero or non-finite scale; a fused tanh on an int8 layer)
=================== ====================================================================

**Several firmware layers per graph layer.**  The descriptor has one input (and ``in2``) and
one output, so a CONCATENATION or PACK of n inputs runs as n firmware CONCATENATION layers (each
copies one input into its axis window of the output) and a SPLIT, SPLIT_V or UNPACK of n outputs
as n firmware STRIDED_SLICE layers (each reads one strided window); SLICE and STRIDED_SLICE are
one.  :func:`piece_geometry` computes them from shapes (the features of the cost model use it
too), :func:`describe_pieces` gives every layer's firmware layers with the tensors each reads and
writes (one for every other operator), which is what the code generator lays out.

**Per model.**  :func:`firmware_dtype` is the one dtype the firmware would run the model in:
it runs full-integer (int8) or float32 networks; a model with float32 input and output around
an int8 core (the TFLite converter's default post-training quantization, ``QUANTIZE`` /
``DEQUANTIZE`` at the ends) runs in int8, its ``QUANTIZE`` / ``DEQUANTIZE`` kernels converting
at the ends; a dynamic-range model (``hybrid``: float32 activations, int8 weights) or any other
mix (``mixed-dtypes``) is refused.
:func:`check_variant` adds that the variant must run that dtype (``variant-dtype``).
:func:`deployability` applies every rule to every layer and returns all the problems at once
(with ``oversized`` when a predicted image does not fit); ``tinymodel deploy`` refuses a model
with its list, ``tinymodel predict`` prints it.

:func:`compute_dtype` and :func:`default_variant` are the lenient reading the estimator uses: the
dtype a model computes in (int8 when any layer writes an int8 tensor, else float32) and the
variant that runs it (``s8-opt`` or ``f32``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import tinymodel.firmware_interface as fi
from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError, UnsupportedError
from tinymodel.firmware_interface import LayerDescriptor
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import Activation, OpType, Padding

_F32_MAX = 3.4028234663852886e38
#: The dtypes the firmware's kernels compute in.
FIRMWARE_DTYPES: tuple[str, ...] = ("int8", "float32")


class DeployError(TinymodelError):
    """The firmware cannot run a layer or a model as given (what ``tinymodel deploy`` refuses).

    ``reason`` says why without naming the layer, ``layer`` names it (``None`` for a rule about
    the whole model), ``rule`` is the short name of the rule (module docstring).  The message is
    ``layer 'NAME': REASON``, or the reason alone.
    """

    def __init__(self, reason: str, *, layer: str | None = None, rule: str = "other",
                 op: str | None = None) -> None:
        super().__init__(f"layer {layer!r}: {reason}" if layer is not None else reason)
        self.reason = reason
        self.layer = layer
        self.rule = rule
        #: the operator, when the layer is not in the graph (a loop the normalisation unrolled)
        self.op = op


class NoKernelError(DeployError, UnsupportedError):
    """The layer's operator has no firmware kernel (rule ``no-kernel``)."""

    def __init__(self, reason: str, *, layer: str | None = None) -> None:
        super().__init__(reason, layer=layer, rule="no-kernel")


def op_name(layer: Layer) -> str:
    """The operator as reports name it: the label, ``UNSUPPORTED(<file's name>)`` for an
    operator no reader could map."""
    return layer.op.label if layer.op is not OpType.UNSUPPORTED else f"UNSUPPORTED({layer.source_op})"


def dims4(shape: Sequence[int], layer: str | None = None) -> tuple[int, int, int, int]:
    """``shape`` padded to 4 dims with leading 1s (the kernels' NHWC); rank > 4 is a
    :class:`DeployError` (rule ``rank``)."""
    s = tuple(int(d) for d in shape)
    if len(s) > 4:
        raise DeployError(f"tensor of rank {len(s)} (shape {list(s)}); the kernels take rank <= 4",
                          layer=layer, rule="rank")
    return (1,) * (4 - len(s)) + s  # type: ignore[return-value]


@dataclass
class ConstantBlob:
    """The constant blob being laid out: every item starts on a
    :data:`~tinymodel.firmware_interface.BLOB_ALIGN` boundary (zero padding in between)."""

    data: bytearray = field(default_factory=bytearray)

    def add(self, raw: bytes) -> int:
        """Append ``raw`` at the next aligned offset and return that offset."""
        pad = (-len(self.data)) % fi.BLOB_ALIGN
        self.data += b"\0" * pad
        offset = len(self.data)
        self.data += raw
        return offset


# -- per-layer description -------------------------------------------------------------------------

def _quant(t: TensorSpec, what: str, layer: str) -> tuple[float, int]:
    q = t.quantization
    if q is None or not q.scale:
        raise DeployError(f"{what} {t.name!r} has no quantization parameters", layer=layer,
                          rule="quantization")
    return float(q.scale[0]), int(q.zero_point[0])


def _same_pads(in_size: int, k: int, stride: int, dilation: int, out_size: int) -> int:
    eff = (k - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2


def _const_data(t: TensorSpec | None, layer: Layer, what: str) -> np.ndarray:
    if t is None or t.data is None:
        raise DeployError(f"{what} has no values (a graph built without data cannot be deployed)",
                          layer=layer.name, rule="values")
    return np.asarray(t.data)


def _act_f32(act: Activation, layer: Layer) -> tuple[float, float]:
    if act is Activation.NONE:
        return -_F32_MAX, _F32_MAX
    if act is Activation.RELU:
        return 0.0, _F32_MAX
    if act is Activation.RELU6:
        return 0.0, 6.0
    if act is Activation.RELU_N1_TO_1:
        return -1.0, 1.0
    raise DeployError(f"fused activation {act.value!r} is not supported by the kernels",
                      layer=layer.name, rule="activation")


@dataclass(frozen=True)
class LayerContext:
    """What every descriptor builder starts from: the layer, the variant's dtype, the blob its
    constants go to, its shapes padded to 4-D and (int8) its input and output quantization."""

    layer: Layer
    int8: bool
    blob: ConstantBlob
    code: fi.Op
    in4: tuple[int, int, int, int]
    out4: tuple[int, int, int, int]
    s_in: float = 1.0
    zp_in: int = 0
    s_out: float = 1.0
    zp_out: int = 0

    def descriptor(self, geom: tuple[int, ...] | None = None, quant: tuple[int, ...] | None = None,
                   **fields: object) -> LayerDescriptor:
        """A descriptor of this layer: its op code and shapes, unset arrays at their defaults,
        no filter, no constants; ``fields`` override any of :class:`LayerDescriptor`'s."""
        values: dict[str, object] = dict(
            op=int(self.code), flags=0, input=tuple(self.in4), filter=(0, 0, 0, 0),
            output=tuple(self.out4), geom=fi.default_geom() if geom is None else geom,
            quant=fi.default_quant() if quant is None else quant)
        values.update(fields)
        return LayerDescriptor(**values)  # type: ignore[arg-type]


def _s8_slots(quant: tuple[int, ...]) -> dict[str, int]:
    return {name: quant[slot] for name, slot in fi.S8_QUANT.slots.items()}


def _check_quant(op: int, f32: bool, layer: str, quant: tuple[int, ...], where: str = "") -> None:
    """Raise :class:`DeployError` (rule ``quant-range``) when ``quant`` breaks one of the
    firmware's quantization rules (:func:`tinymodel.firmware_interface.quant_violations`)."""
    bad = fi.quant_violations(op, f32, quant)
    if bad:
        raise DeployError(f"{bad[0].describe(quant)}{where}; the firmware refuses it",
                          layer=layer, rule="quant-range")


def _describe_weighted(c: LayerContext) -> LayerDescriptor:
    """CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV: weights, optional bias,
    per-tensor or per-channel requantization; conv-style geometry
    (:data:`~tinymodel.firmware_interface.CONV_GEOM`; TRANSPOSE_CONV's padding is TFLite's
    "as if convolving the output", :func:`_transpose_conv_pads`)."""
    from tinymodel import requantization as rq

    layer, x = c.layer, c.layer.input
    if layer.op is OpType.CONV_2D and layer.groups != 1:
        raise DeployError(f"grouped convolution ({layer.groups} groups) has no kernel",
                          layer=layer.name, rule="grouped-conv")
    w = layer.weights
    if not c.int8 and w is not None and w.dtype != "float32":
        raise DeployError(f"{w.dtype} weights in a float32 layer (dynamic-range quantization); "
                          f"the firmware runs full-integer (int8) or float32 models only",
                          layer=layer.name, rule="hybrid")
    wdata = _const_data(w, layer, "weights")
    filt = dims4(w.shape, layer.name)
    in4, out4 = c.in4, c.out4
    geom = fi.default_geom()
    if c.code is fi.Op.FULLY_CONNECTED:
        n_out, n_in = int(w.shape[0]), int(w.shape[-1])
        batches = x.size // n_in
        in4, out4 = (batches, 1, 1, n_in), (batches, 1, 1, n_out)
        filt = (n_out, n_in, 1, 1)
        channels = n_out
    else:
        k_h, k_w = filt[1], filt[2]
        (stride_h, stride_w), (dil_h, dil_w) = layer.strides, layer.dilation
        pad_h = pad_w = 0
        if c.code is fi.Op.TRANSPOSE_CONV:
            pad_h = _transpose_conv_pads(layer, in4[1], out4[1], k_h, stride_h)
            pad_w = _transpose_conv_pads(layer, in4[2], out4[2], k_w, stride_w)
        elif layer.padding is Padding.SAME:
            pad_h = _same_pads(in4[1], k_h, stride_h, dil_h, out4[1])
            pad_w = _same_pads(in4[2], k_w, stride_w, dil_w, out4[2])
        depthwise = {"ch_mult": int(layer.depth_multiplier)} \
            if c.code is fi.Op.DEPTHWISE_CONV_2D else {}
        geom = fi.CONV_GEOM.words(stride_h=stride_h, stride_w=stride_w, pad_h=pad_h, pad_w=pad_w,
                                  dilation_h=dil_h, dilation_w=dil_w, **depthwise)
        channels = out4[3]
    flags = fi.LayerFlag(0)
    bias_off = mult_off = shift_off = fi.NO_OFFSET
    weights_off = c.blob.add(wdata.astype(np.int8 if c.int8 else np.float32).tobytes())
    b = layer.bias
    if b is not None:
        bdata = _const_data(b, layer, "bias")
        bias_off = c.blob.add(bdata.astype(np.int32 if c.int8 else np.float32).tobytes())
        flags |= fi.LayerFlag.BIAS
    if c.int8:
        wq = w.quantization
        if wq is None or not wq.scale:
            raise DeployError("weights have no quantization", layer=layer.name,
                              rule="quantization")
        if any(int(z) != 0 for z in (wq.zero_point or ())):
            # TFLite's int8 weights are symmetric, zero point 0 (the converter's rule); the kernels
            # never subtract a weight zero point, so there is no slot for one
            raise DeployError(f"int8 weights with zero point {list(wq.zero_point)[:4]}; the "
                              f"kernels take symmetric weights (zero point 0)", layer=layer.name,
                              rule="weight-zero-point")
        mult, shift = rq.conv_multipliers(c.s_in, wq.scale, c.s_out)
        lo, hi = rq.activation_range(layer.activation, c.s_out, c.zp_out)
        if len(mult) > 1:
            if len(mult) != channels:
                raise DeployError(f"{len(mult)} weight scales for {channels} output channels",
                                  layer=layer.name, rule="channels")
            flags |= fi.LayerFlag.PER_CHANNEL
            mult_off = c.blob.add(mult.astype("<i4").tobytes())
            shift_off = c.blob.add(shift.astype("<i4").tobytes())
        quant = fi.S8_QUANT.words(input_offset=-c.zp_in, output_offset=c.zp_out, act_min=lo,
                                  act_max=hi, multiplier=int(mult[0]), shift=int(shift[0]))
        for ch, (m, e) in enumerate(zip(mult.tolist(), shift.tolist())):
            if ch > 0 and (m, e) == (mult[0], shift[0]):
                continue
            _check_quant(int(c.code), False, layer.name,
                         fi.S8_QUANT.words(**{**_s8_slots(quant), "multiplier": m, "shift": e}),
                         f" (output channel {ch})")
    else:
        lo_f, hi_f = _act_f32(layer.activation, layer)
        quant = fi.F32_ACT_QUANT.words(act_min=lo_f, act_max=hi_f)
    return c.descriptor(geom, quant, flags=int(flags), input=tuple(in4), filter=tuple(filt),
                        output=tuple(out4), weights_offset=weights_off, bias_offset=bias_off,
                        mult_offset=mult_off, shift_offset=shift_off)


def _transpose_conv_pads(layer: Layer, in_size: int, out_size: int, k: int, stride: int) -> int:
    """Top (left) padding of a TRANSPOSE_CONV along one axis
    (:func:`tinymodel.formulas.transpose_conv_padding`); an output size that does not follow from
    the input size is a :class:`DeployError` (rule ``transpose-conv-shape``)."""
    from tinymodel.formulas import transpose_conv_padding

    pad, n = transpose_conv_padding(out_size, k, stride, layer.padding is Padding.SAME)
    if n != in_size:
        raise DeployError(f"output size {out_size} does not follow from input size {in_size}, "
                          f"kernel {k} and stride {stride} with {layer.padding.value} padding "
                          f"(TFLite requires {n} == {in_size})", layer=layer.name,
                          rule="transpose-conv-shape")
    return pad


def _describe_batch_matmul(c: LayerContext) -> LayerDescriptor:
    """BATCH_MATMUL: LHS in ``input``, RHS (padded to 4-D) in ``filter``, ``adj_x`` / ``adj_y``
    in :data:`~tinymodel.firmware_interface.BMM_GEOM`; the RHS is the second runtime input, or a
    constant in the blob (:attr:`~tinymodel.firmware_interface.LayerFlag.CONST_OPERAND`); int8
    requantization in :data:`~tinymodel.firmware_interface.BMM_S8_QUANT` (no fused activation:
    the full int8 range)."""
    from tinymodel import requantization as rq

    layer = c.layer
    lhs, rhs = layer.inputs[0], layer.inputs[1]
    if lhs is None or rhs is None or lhs.is_constant:
        raise DeployError("BATCH_MATMUL needs a run-time first operand", layer=layer.name,
                          rule="bmm-operands")
    rhs4 = dims4(rhs.shape, layer.name)
    geom = fi.BMM_GEOM.words(adj_x=int(bool(layer.options.get("adj_x"))),
                             adj_y=int(bool(layer.options.get("adj_y"))))
    flags = fi.LayerFlag(0)
    weights_off = fi.NO_OFFSET
    if rhs.is_constant:
        q = rhs.quantization
        if c.int8 and q is not None and len(q.scale or ()) > 1:
            raise DeployError(f"a constant second operand with {len(q.scale)} scales; the kernel "
                              f"takes one", layer=layer.name, rule="bmm-operands")
        data = _const_data(rhs, layer, "second operand")
        weights_off = c.blob.add(data.astype(np.int8 if c.int8 else np.float32).tobytes())
        flags |= fi.LayerFlag.CONST_OPERAND
    if c.int8:
        s_r, z_r = _quant(rhs, "second operand", layer.name)
        m, e = rq.batch_matmul_multiplier(c.s_in, s_r, c.s_out)
        quant = fi.BMM_S8_QUANT.words(lhs_offset=-c.zp_in, rhs_offset=-z_r,
                                      output_offset=c.zp_out, multiplier=m, shift=e,
                                      act_min=-128, act_max=127)
    else:
        quant = fi.F32_ACT_QUANT.words(act_min=-_F32_MAX, act_max=_F32_MAX)
    return c.descriptor(geom, quant, flags=int(flags), filter=rhs4, weights_offset=weights_off)


def _describe_pool(c: LayerContext) -> LayerDescriptor:
    """AVERAGE_POOL_2D, MAX_POOL_2D: window and strides
    (:data:`~tinymodel.firmware_interface.POOL_GEOM`) and the output clamp."""
    from tinymodel import requantization as rq

    layer, in4, out4 = c.layer, c.in4, c.out4
    k_h, k_w = layer.kernel or (1, 1)
    stride_h, stride_w = layer.strides
    pad_h = pad_w = 0
    if layer.padding is Padding.SAME:
        pad_h = _same_pads(in4[1], k_h, stride_h, 1, out4[1])
        pad_w = _same_pads(in4[2], k_w, stride_w, 1, out4[2])
    geom = fi.POOL_GEOM.words(stride_h=stride_h, stride_w=stride_w, pad_h=pad_h, pad_w=pad_w,
                              filter_h=k_h, filter_w=k_w)
    if c.int8:
        if (c.s_in, c.zp_in) != (c.s_out, c.zp_out):
            raise DeployError(f"int8 pooling needs equal input and output quantization (input "
                              f"scale {c.s_in:g}, zero point {c.zp_in}; output scale "
                              f"{c.s_out:g}, zero point {c.zp_out})", layer=layer.name,
                              rule="pool-quantization")
        lo, hi = rq.activation_range(layer.activation, c.s_out, c.zp_out)
        quant = fi.S8_QUANT.words(act_min=lo, act_max=hi)
    else:
        lo_f, hi_f = _act_f32(layer.activation, layer)
        quant = fi.F32_ACT_QUANT.words(act_min=lo_f, act_max=hi_f)
    return c.descriptor(geom, quant)


def _broadcasts_to(shape: tuple[int, ...], out: tuple[int, ...]) -> bool:
    """NumPy's rule for one operand: right-aligned, every dim equal to the output's or 1."""
    return len(shape) <= len(out) and all(
        d in (1, o) for d, o in zip(reversed(shape), reversed(out)))


def _describe_binary(c: LayerContext) -> LayerDescriptor:
    """ADD, SUB, MUL, MAXIMUM, MINIMUM of two operands with NumPy broadcasting (rank <= 4).

    ``input`` is the run-time input at ``in_offset`` (padded to 4-D), ``filter`` the other
    operand's shape (all 0 for two run-time inputs of the output's shape, the form generated
    tables have always had), ``output`` the layer's; the other operand is the second run-time input
    (``in2_offset``, filled in by the code generator) or a constant appended to the blob at
    ``weights_offset`` with :attr:`~tinymodel.firmware_interface.LayerFlag.CONST_OPERAND`;
    :attr:`~tinymodel.firmware_interface.LayerFlag.SWAPPED` when the run-time input is TFLite's
    second operand (``1 - z``).  Quantization: ADD and SUB
    :data:`~tinymodel.firmware_interface.ADD_S8_QUANT`, MUL
    :data:`~tinymodel.firmware_interface.MUL_S8_QUANT`, MAXIMUM / MINIMUM none (equal
    quantization required); float ADD / SUB / MUL the activation clamp.
    """
    from tinymodel import requantization as rq

    layer = c.layer
    op = layer.op
    a, b = (tuple(layer.inputs) + (None, None))[:2]
    out_shape = tuple(int(d) for d in layer.output.shape)
    if a is None or b is None:
        raise DeployError(f"{op.label} needs two operands; this one has one", layer=layer.name,
                          rule="binary-shapes")
    if a.is_constant and b.is_constant:
        raise DeployError(f"{op.label} of two constants (constant folding left it in the graph)",
                          layer=layer.name, rule="binary-shapes")
    for t in (a, b):
        if not _broadcasts_to(tuple(int(d) for d in t.shape), out_shape):
            raise DeployError(f"{op.label} operands {list(a.shape)} and {list(b.shape)} do not "
                              f"broadcast onto the output {list(out_shape)}", layer=layer.name,
                              rule="binary-shapes")
    swapped = a.is_constant
    run, other = (b, a) if swapped else (a, b)
    flags = fi.LayerFlag(0)
    if swapped:
        flags |= fi.LayerFlag.SWAPPED
    weights_off = fi.NO_OFFSET
    if other.is_constant:
        data = _const_data(other, layer, f"constant operand {other.name!r}")
        if c.int8 and data.dtype != np.int8:
            raise DeployError(f"{data.dtype} constant operand {other.name!r} in an int8 layer",
                              layer=layer.name, rule="quantization")
        flags |= fi.LayerFlag.CONST_OPERAND
        weights_off = c.blob.add(data.astype(np.int8 if c.int8 else np.float32).tobytes())
    in4 = dims4(run.shape, layer.name)
    other4 = dims4(other.shape, layer.name)
    out4 = dims4(out_shape, layer.name)
    if c.int8:
        s1, z1 = _quant(a, "input", layer.name)
        s2, z2 = _quant(b, "input", layer.name)
        if op in (OpType.MAXIMUM, OpType.MINIMUM):
            for s, z in ((s1, z1), (s2, z2)):
                if (float(np.float32(s)), z) != (float(np.float32(c.s_out)), c.zp_out):
                    raise DeployError(
                        f"int8 {op.label} needs its inputs and output to share one quantization "
                        f"(inputs scale {s1:g}, zero point {z1} and scale {s2:g}, zero point "
                        f"{z2}; output scale {c.s_out:g}, zero point {c.zp_out})",
                        layer=layer.name, rule="minmax-quantization")
            quant = fi.default_quant()
        else:
            lo, hi = rq.activation_range(layer.activation, c.s_out, c.zp_out)
            if op is OpType.MUL:
                mp = rq.mul_params(s1, z1, s2, z2, c.s_out, c.zp_out)
                quant = fi.MUL_S8_QUANT.words(**asdict(mp), act_min=lo, act_max=hi)
            else:
                ap = (rq.add_params if op is OpType.ADD else rq.sub_params)(
                    s1, z1, s2, z2, c.s_out, c.zp_out)
                quant = fi.ADD_S8_QUANT.words(**asdict(ap), act_min=lo, act_max=hi)
    elif op in (OpType.MAXIMUM, OpType.MINIMUM):
        quant = fi.default_quant()
    else:
        lo_f, hi_f = _act_f32(layer.activation, layer)
        quant = fi.F32_ACT_QUANT.words(act_min=lo_f, act_max=hi_f)
    if not other.is_constant and other4 == in4 == out4:
        other4 = (0, 0, 0, 0)   # the equal-shape form (what the code generator always wrote)
    return c.descriptor(quant=quant, flags=int(flags), input=in4, filter=other4, output=out4,
                        weights_offset=weights_off)


def _describe_softmax(c: LayerContext) -> LayerDescriptor:
    """SOFTMAX over the last axis (:data:`~tinymodel.firmware_interface.SOFTMAX_S8_QUANT` /
    :data:`~tinymodel.firmware_interface.SOFTMAX_F32_QUANT`)."""
    from tinymodel import requantization as rq

    beta = float(c.layer.options.get("beta", 1.0))
    if c.int8:
        try:
            p = rq.softmax_params(beta, c.s_in)
        except TinymodelError as e:     # the reason names TFLite's rule itself
            raise DeployError(str(e), layer=c.layer.name, rule="quant-range") from e
        quant = fi.SOFTMAX_S8_QUANT.words(input_multiplier=p.input_multiplier,
                                          input_left_shift=p.input_left_shift,
                                          diff_min=p.diff_min)
    else:
        quant = fi.SOFTMAX_F32_QUANT.words(beta=beta)
    return c.descriptor(quant=quant)


def _describe_relu(c: LayerContext) -> LayerDescriptor:
    """RELU and RELU6, both the firmware's RELU: the clamp (and for int8 the rescaling) in quant."""
    from tinymodel import requantization as rq

    act = Activation.RELU if c.layer.op is OpType.RELU else Activation.RELU6
    if c.int8:
        m, e = rq.requantize_multiplier(c.s_in, c.s_out)
        lo, hi = rq.activation_range(act, c.s_out, c.zp_out)
        quant = fi.S8_QUANT.words(input_offset=-c.zp_in, output_offset=c.zp_out, act_min=lo,
                                  act_max=hi, multiplier=m, shift=e)
    else:
        lo_f, hi_f = _act_f32(act, c.layer)
        quant = fi.F32_ACT_QUANT.words(act_min=lo_f, act_max=hi_f)
    return c.descriptor(quant=quant)


def _describe_reshape(c: LayerContext) -> LayerDescriptor:
    """RESHAPE: a copy, shapes only; a float32 tensor in an int8 image as its bytes
    (:func:`byte_view`)."""
    if c.int8 and c.layer.input.dtype == "float32":
        return c.descriptor(input=byte_view(c.in4, c.layer), output=byte_view(c.out4, c.layer))
    return c.descriptor()


#: Operators that only copy their tensors' bytes (a RESHAPE, and the pieces of
#: :data:`PIECE_OPS`): in an int8 image they also copy float32 tensors, described as bytes.
BYTE_COPY_OPS: frozenset[OpType] = frozenset({
    OpType.RESHAPE, OpType.CONCATENATION, OpType.PACK, OpType.STRIDED_SLICE, OpType.SLICE,
    OpType.SPLIT, OpType.SPLIT_V, OpType.UNPACK})


def byte_view(shape4: Sequence[int], layer: Layer) -> tuple[int, int, int, int]:
    """The 4-D shape of a float32 tensor's bytes as an int8 image's copy kernels see them: its
    innermost dimension times 4.  The TFLite converter leaves a few copies in float32 between a
    DEQUANTIZE and a QUANTIZE in full-int8 models (e.g. the first SPLIT of an unrolled Keras LSTM,
    whose cell state starts at zero); an int8 image copies them as bytes."""
    n, h, w, c = (int(d) for d in shape4)
    if c * 4 > 65535:
        raise DeployError(f"a float32 copy of {c} innermost elements in an int8 image (at most "
                          f"16383)", layer=layer.name, rule="mixed-dtypes")
    return (n, h, w, c * 4)


def reduce_axes_mask(layer: Layer) -> int:
    """The dimensions a MEAN / SUM reduces, as the firmware's bit mask over the input padded to
    4-D (bit ``i``: dimension ``i``): the ``axes`` option (negative entries count from the end,
    duplicates are ignored, as TFLite's ``ResolveAxis``) shifted by the leading 1s of the padding.
    :class:`DeployError` (rule ``reduce-axes``) for an axis outside the rank or no axis at all."""
    rank = len(layer.input.shape)
    axes = tuple(int(a) for a in layer.options.get("axes", (1, 2)))
    if not axes or any(not -rank <= a < rank for a in axes):
        raise DeployError(f"{layer.op.label} over axes {list(axes)} of a rank-{rank} tensor; the "
                          f"kernels reduce one or more of its axes", layer=layer.name,
                          rule="reduce-axes")
    mask = 0
    for a in axes:
        mask |= 1 << (a % rank + 4 - rank)
    return mask


#: The reduction mask of MEAN's original form, the spatial axes (1, 2) of a 4-D tensor, which
#: the descriptor writes as geom[] left at its defaults (``REDUCE_GEOM`` ``axes`` = 0).
SPATIAL_AXES_MASK = 0b0110


def _describe_reduce(c: LayerContext) -> LayerDescriptor:
    """MEAN and SUM over any axes of a tensor of rank <= 4
    (:data:`~tinymodel.firmware_interface.REDUCE_GEOM`; the output is the input with the reduced
    dimensions 1, whatever ``keep_dims`` says, which only changes the shape's rank).  MEAN over
    the spatial axes keeps geom[] at its defaults (the original global-average-pooling form)."""
    from tinymodel import requantization as rq

    layer, in4 = c.layer, c.in4
    mask = reduce_axes_mask(layer)
    out4 = tuple(1 if mask >> i & 1 else d for i, d in enumerate(in4))
    n = int(np.prod([d for i, d in enumerate(in4) if mask >> i & 1]))
    spatial = layer.op is OpType.MEAN and mask == SPATIAL_AXES_MASK
    geom = None if spatial else fi.REDUCE_GEOM.words(axes=mask)
    if c.int8:
        if layer.op is OpType.MEAN:
            # TFLite's folding of 1/n into the s_in/s_out multiplier (not the quantized
            # s_in/(s_out·n), which is off by one for many n), see rq.mean_multiplier.
            m, e = rq.mean_multiplier(c.s_in, c.s_out, n)
        else:
            m, e = rq.requantize_multiplier(c.s_in, c.s_out)
        quant = fi.S8_QUANT.words(input_offset=-c.zp_in, output_offset=c.zp_out, act_min=-128,
                                  act_max=127, multiplier=m, shift=e)
    else:
        quant = fi.F32_ACT_QUANT.words(act_min=-_F32_MAX, act_max=_F32_MAX)
    return c.descriptor(geom, quant, output=out4)


#: Ops that convert between dtypes; their kernels run in every variant, driven by the dtypes of
#: their own tensors rather than by the variant's.
CONVERT_OPS = frozenset({OpType.QUANTIZE, OpType.DEQUANTIZE})


def _describe_convert(c: LayerContext) -> LayerDescriptor:
    """QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32)
    (:data:`~tinymodel.firmware_interface.CONVERT_GEOM`,
    :data:`~tinymodel.firmware_interface.CONVERT_QUANT`), from the layer's own tensors in every
    variant.  Any other pair of dtypes (float16 constants, int16, uint8) is rule
    ``convert-dtypes``."""
    from tinymodel import requantization as rq

    layer = c.layer
    x, y = layer.input, layer.output
    pair = (x.dtype, y.dtype)
    allowed = ({("float32", "int8"), ("int8", "int8")} if layer.op is OpType.QUANTIZE
               else {("int8", "float32")})
    if pair not in allowed or x.is_constant:
        what = "a constant" if x.is_constant else f"{x.dtype} to {y.dtype}"
        raise DeployError(f"{layer.op.label} of {what}; the kernels convert "
                          + " or ".join(f"{a} to {b}" for a, b in sorted(allowed)),
                          layer=layer.name, rule="convert-dtypes")
    geom = fi.CONVERT_GEOM.words(in_dtype=fi.dtype_code(x.dtype), out_dtype=fi.dtype_code(y.dtype))
    if pair == ("float32", "int8"):
        s_out, zp_out = _quant(y, "output", layer.name)
        _positive_scale(s_out, layer)
        quant = fi.CONVERT_QUANT.words(output_offset=zp_out, scale=fi.f32_bits(s_out))
    elif pair == ("int8", "int8"):
        s_in, zp_in = _quant(x, "input", layer.name)
        s_out, zp_out = _quant(y, "output", layer.name)
        m, e = rq.requantize_multiplier(s_in, s_out)
        quant = fi.CONVERT_QUANT.words(input_offset=-zp_in, output_offset=zp_out, multiplier=m,
                                       shift=e)
    else:
        s_in, zp_in = _quant(x, "input", layer.name)
        quant = fi.CONVERT_QUANT.words(input_offset=-zp_in, scale=fi.f32_bits(s_in))
    return c.descriptor(geom, quant)


def _positive_scale(scale: float, layer: Layer) -> None:
    if not 0.0 < scale <= _F32_MAX:
        raise DeployError(f"scale {scale!r}; quantizing needs a positive finite scale",
                          layer=layer.name, rule="quant-range")


# -- layers that run as several firmware layers (pieces) -------------------------------------------

#: Operators whose graph layer runs as one firmware layer per input (CONCATENATION, PACK: the
#: firmware op CONCATENATION copies one input into its axis window of the output) or per output
#: (SPLIT, SPLIT_V, UNPACK; SLICE and STRIDED_SLICE have one: the firmware op STRIDED_SLICE reads
#: one strided window of the input).
PIECE_OPS: frozenset[OpType] = frozenset({
    OpType.CONCATENATION, OpType.PACK, OpType.STRIDED_SLICE, OpType.SLICE, OpType.SPLIT,
    OpType.SPLIT_V, OpType.UNPACK})


@dataclass(frozen=True)
class PieceGeometry:
    """One firmware layer of a graph layer, shapes only: its op code, the graph layer's input it
    reads and output it writes (positions in ``layer.inputs`` / ``layer.outputs``), its 4-D input
    and output shapes and its ``geom[]`` words."""

    code: fi.Op
    input: int
    output: int
    in4: tuple[int, int, int, int]
    out4: tuple[int, int, int, int]
    geom: tuple[int, ...]

    def _slice_counts(self) -> list[int]:
        """STRIDED_SLICE's loop counts over ``n, h, w, c``: the trailing dims read with stride 1
        merge into the run (count 1), each only while the dims after it are read whole
        (``tm_strided_slice.c``)."""
        strides = self.geom[fi.SliceGeomSlot.STRIDE_N:fi.SliceGeomSlot.STRIDE_C + 1]
        count = list(self.out4)
        for k in range(3, -1, -1):
            if strides[k] != 1:
                break
            count[k] = 1
            if self.out4[k] != self.in4[k]:
                break
        return count

    def outer_loops(self) -> int:
        """STRIDED_SLICE: entries of the kernel's loops around its ``memcpy`` calls,
        ``1 + c_n + c_n·c_h + c_n·c_h·c_w`` for the loop counts ``c``; 0 for CONCATENATION
        (one loop over its runs, counted by :meth:`runs`)."""
        if self.code is fi.Op.CONCATENATION:
            return 0
        c = self._slice_counts()
        return 1 + c[0] + c[0] * c[1] + c[0] * c[1] * c[2]

    def runs(self) -> int:
        """Contiguous runs the kernel copies (one ``memcpy`` each; docs/kernels.md).

        CONCATENATION: the product of the dims before the axis.  STRIDED_SLICE: the output's
        elements divided by the run (:meth:`_slice_counts`)."""
        if self.code is fi.Op.CONCATENATION:
            axis = self.geom[fi.ConcatGeomSlot.AXIS]
            n = 1
            for d in self.out4[:axis]:
                n *= d
            return n
        n = 1
        for c in self._slice_counts():
            n *= c
        return n

    def elements(self) -> int:
        """Elements copied: the input's (CONCATENATION) or the output's (STRIDED_SLICE)."""
        shape = self.in4 if self.code is fi.Op.CONCATENATION else self.out4
        n = 1
        for d in shape:
            n *= d
        return n


def _axis(layer: Layer, rank: int) -> int:
    axis = int(layer.options.get("axis", 0))
    if not -rank <= axis < rank:
        raise DeployError(f"axis {axis} outside a rank-{rank} tensor", layer=layer.name,
                          rule="axis")
    return axis % rank


def _concat_pieces(layer: Layer) -> list[PieceGeometry]:
    if layer.activation is not Activation.NONE:
        # TFLite requires NONE too (tflite-op-arithmetic section 2 (a)); the copy has no clamp
        raise DeployError(f"CONCATENATION with fused activation {layer.activation.value!r}",
                          layer=layer.name, rule="activation")
    out4 = dims4(layer.output.shape, layer.name)
    rank = len(layer.output.shape)
    axis = _axis(layer, rank) + 4 - rank
    pieces, offset = [], 0
    for i, t in enumerate(layer.inputs):
        if t is None:
            continue
        shape = [int(d) for d in t.shape]
        if layer.op is OpType.PACK:
            shape.insert(axis - (4 - rank), 1)
        want = list(layer.output.shape)
        if len(shape) != rank or any(d != w for k, (d, w) in enumerate(zip(shape, want))
                                     if k != axis - (4 - rank)):
            raise DeployError(f"input {list(t.shape)} does not fit output {want} along axis "
                              f"{axis - (4 - rank)}", layer=layer.name, rule="shapes")
        in4 = dims4(shape, layer.name)
        pieces.append(PieceGeometry(fi.Op.CONCATENATION, i, 0, in4, out4,
                                    fi.CONCAT_GEOM.words(axis=axis, offset=offset)))
        offset += in4[axis]
    if offset != out4[axis]:
        raise DeployError(f"inputs fill {offset} of the output's {out4[axis]} along axis "
                          f"{axis - (4 - rank)}", layer=layer.name, rule="shapes")
    return pieces


def _window(begin: Sequence[int], strides: Sequence[int], out: Sequence[int], rank: int
            ) -> tuple[tuple[int, int, int, int], tuple[int, ...]]:
    """4-D counts and SLICE_GEOM words of a window of a rank-``rank`` input."""
    pad = 4 - rank
    b = [0] * pad + [int(v) for v in begin]
    st = [1] * pad + [int(v) for v in strides]
    o = (1,) * pad + tuple(int(v) for v in out)
    words = {f"begin_{d}": b[k] for k, d in enumerate("nhwc")}
    words.update({f"stride_{d}": st[k] for k, d in enumerate("nhwc")})
    return o, fi.SLICE_GEOM.words(**words)  # type: ignore[return-value]


def _strided_slice_axes(layer: Layer, shape: tuple[int, ...]) -> tuple[list[int], list[int], list[int]]:
    """First index, stride and count per input axis of a STRIDED_SLICE (tflite-op-arithmetic
    section 18 (d): TFLite's StridedSliceStartForAxis / EndForAxis; shrink axes count 1)."""
    o = layer.options
    name = layer.name
    for mask in ("ellipsis_mask", "new_axis_mask"):
        if int(o.get(mask, 0)):
            raise DeployError(f"STRIDED_SLICE with {mask} {o[mask]} (TFLM forces it to 0; the "
                              f"converter normally removes it)", layer=name, rule="slice-mask")
    if o.get("offset"):
        raise DeployError("STRIDED_SLICE with offset = true (TFLM ignores it, TFLite adds begin "
                          "to end)", layer=name, rule="slice-mask")
    rank = len(shape)
    try:
        begin, end, strides = (tuple(int(v) for v in o[k]) for k in ("begin", "end", "strides"))
    except KeyError as e:
        raise DeployError(f"STRIDED_SLICE without constant {e.args[0]}", layer=name,
                          rule="values") from None
    if not len(begin) == len(end) == len(strides) == rank:
        raise DeployError(f"begin/end/strides of {len(begin)}/{len(end)}/{len(strides)} values "
                          f"for a rank-{rank} input", layer=name, rule="shapes")
    bmask, emask, smask = (int(o.get(k, 0)) for k in ("begin_mask", "end_mask",
                                                      "shrink_axis_mask"))
    starts, steps, counts = [], [], []
    for k, d in enumerate(shape):
        st = strides[k]
        if st == 0:
            raise DeployError(f"stride 0 on axis {k}", layer=name, rule="shapes")
        lo, hi = (0, d) if st > 0 else (-1, d - 1)
        start = begin[k] + d if begin[k] < 0 else begin[k]
        start = min(max(start, lo), hi)
        if bmask >> k & 1:
            start = 0 if st > 0 else d - 1
        if smask >> k & 1:
            starts.append(start)
            steps.append(1)
            counts.append(1 if start < d else 0)
            continue
        stop = end[k] + d if end[k] < 0 else end[k]
        stop = min(max(stop, lo), hi)
        if emask >> k & 1:
            stop = d if st > 0 else -1
        starts.append(start)
        steps.append(st)
        counts.append(max(0, -(-(stop - start) // st)))
    return starts, steps, counts


def _slice_pieces(layer: Layer) -> list[PieceGeometry]:
    op, x = layer.op, layer.input
    shape = tuple(int(d) for d in x.shape)
    rank = len(shape)
    in4 = dims4(shape, layer.name)
    position = layer.op.operands.data
    windows: list[tuple[list[int], list[int], list[int]]] = []
    if op in (OpType.SPLIT, OpType.SPLIT_V, OpType.UNPACK):
        axis = _axis(layer, rank)
        start = 0
        for t in layer.outputs:
            shape_t = [int(d) for d in t.shape]
            if op is OpType.UNPACK:
                shape_t.insert(axis, 1)
            if len(shape_t) != rank or any(d != w for k, (d, w) in enumerate(zip(shape_t, shape))
                                           if k != axis):
                raise DeployError(f"output {list(t.shape)} is not a part of input {list(shape)} "
                                  f"along axis {axis}", layer=layer.name, rule="shapes")
            size = shape_t[axis]
            begin, counts = [0] * rank, list(shape)
            begin[axis], counts[axis] = start, size
            windows.append((begin, [1] * rank, counts))
            start += size
        if start != shape[axis]:
            raise DeployError(f"outputs take {start} of the input's {shape[axis]} along axis "
                              f"{axis}", layer=layer.name, rule="shapes")
    elif op is OpType.SLICE:
        if "begin" not in layer.options:
            raise DeployError("SLICE without constant begin", layer=layer.name, rule="values")
        begin = [int(v) for v in layer.options["begin"]]
        out = list(layer.output.shape)
        if len(begin) != rank or len(out) != rank:
            raise DeployError(f"SLICE of a rank-{rank} input with {len(begin)} begins and a "
                              f"rank-{len(out)} output", layer=layer.name, rule="shapes")
        windows.append((begin, [1] * rank, out))
    else:
        windows.append(_strided_slice_axes(layer, shape))
    pieces = []
    for j, (begin, strides, counts) in enumerate(windows):
        out_t = layer.outputs[j]
        n = 1
        for c in counts:
            n *= c
        if n == 0 or n != out_t.size:
            raise DeployError(f"a window of {counts} elements per axis does not match output "
                              f"{list(out_t.shape)}", layer=layer.name, rule="shapes")
        for k, (b, st, c) in enumerate(zip(begin, strides, counts)):
            if not (0 <= b < shape[k] and 0 <= b + (c - 1) * st < shape[k]):
                raise DeployError(f"window {begin} step {strides} count {counts} leaves the "
                                  f"input {list(shape)}", layer=layer.name, rule="shapes")
        out4, geom = _window(begin, strides, counts, rank)
        pieces.append(PieceGeometry(fi.Op.STRIDED_SLICE, position, j, in4, out4, geom))
    return pieces


def piece_geometry(layer: Layer) -> tuple[PieceGeometry, ...]:
    """The firmware layers a CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK, SLICE or STRIDED_SLICE
    graph layer runs as (:data:`PIECE_OPS`), shapes only: one per input for the first two, one
    per output for the others.  :class:`DeployError` when the layer's options cannot be turned
    into windows (rules ``rank``, ``axis``, ``shapes``, ``slice-mask``, ``values``)."""
    if layer.op not in PIECE_OPS:
        raise TinymodelError(f"layer {layer.name!r}: {layer.op.label} runs as one firmware layer")
    if layer.op in (OpType.CONCATENATION, OpType.PACK):
        return tuple(_concat_pieces(layer))
    return tuple(_slice_pieces(layer))


def firmware_layers(layers: Iterable[Layer]) -> int:
    """Entries of the image's layer table for ``layers``: one per layer, one per firmware layer
    (:func:`piece_geometry`) of a layer of :data:`PIECE_OPS` (one when its windows are refused)."""
    n = 0
    for layer in layers:
        if layer.op in PIECE_OPS:
            try:
                n += len(piece_geometry(layer))
            except TinymodelError:
                n += 1
        else:
            n += 1
    return n


@dataclass(frozen=True)
class Piece:
    """One firmware layer of a graph layer: its descriptor (arena offsets unset), and the graph
    layer's tensors it reads (``input``) and writes (``output``)."""

    descriptor: LayerDescriptor
    input: TensorSpec
    output: TensorSpec


def _describe_piece_layer(c: LayerContext) -> LayerDescriptor:
    """CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK, SLICE, STRIDED_SLICE of one piece (the first
    of :func:`describe_pieces`; :func:`describe_layer` refuses a layer of several)."""
    pieces = describe_pieces(c.layer, Variant.S8_REF if c.int8 else Variant.F32, c.blob)
    if len(pieces) != 1:
        raise DeployError(f"{c.layer.op.label} runs as {len(pieces)} firmware layers (one per "
                          f"{'input' if c.code is fi.Op.CONCATENATION else 'output'}); describe "
                          f"it with describe_pieces", layer=c.layer.name, rule="pieces")
    return pieces[0].descriptor
def _describe_transpose(c: LayerContext) -> LayerDescriptor:
    """TRANSPOSE: the permutation padded to 4-D (:data:`~tinymodel.firmware_interface.TRANSPOSE_GEOM`;
    a rank-r permutation moves to the last r dims, leading dims of 1 stay in place)."""
    layer = c.layer
    rank = len(layer.input.shape)
    perm = layer.options.get("perm")
    if perm is None or sorted(int(p) % max(rank, 1) for p in perm) != list(range(rank)) \
            or len(perm) != rank:
        raise DeployError(f"TRANSPOSE needs a constant permutation of 0..{rank - 1}; this one has "
                          f"{None if perm is None else list(perm)}", layer=layer.name,
                          rule="transpose-perm")
    lead = 4 - rank
    perm4 = tuple(range(lead)) + tuple(int(p) % rank + lead for p in perm)
    if tuple(c.in4[p] for p in perm4) != tuple(c.out4):
        raise DeployError(f"TRANSPOSE of {list(layer.input.shape)} by {list(perm)} does not give "
                          f"its output shape {list(layer.output.shape)}", layer=layer.name,
                          rule="transpose-perm")
    geom = fi.TRANSPOSE_GEOM.words(perm0=perm4[0], perm1=perm4[1], perm2=perm4[2],
                                   perm3=perm4[3])
    return c.descriptor(geom)


def _describe_pad(c: LayerContext) -> LayerDescriptor:
    """PAD and PADV2: elements before each dim padded to 4-D
    (:data:`~tinymodel.firmware_interface.PAD_GEOM`) and the fill
    (:data:`~tinymodel.firmware_interface.PAD_QUANT`): int8 zp_out for PAD, the constant's code
    for PADV2 (whose quantization must be the output's, as TFLM's PadPrepare checks); float 0.0
    for PAD, the constant for PADV2."""
    layer = c.layer
    rank = len(layer.input.shape)
    pads = layer.options.get("paddings")
    if pads is None or len(pads) != rank or any(int(a) < 0 or int(b) < 0 for a, b in pads):
        raise DeployError(f"PAD needs constant non-negative paddings, one (before, after) pair per "
                          f"dim of its rank-{rank} input; this one has "
                          f"{None if pads is None else [list(p) for p in pads]}",
                          layer=layer.name, rule="pad-amounts")
    lead = 4 - rank
    before = (0,) * lead + tuple(int(a) for a, _ in pads)
    after = (0,) * lead + tuple(int(b) for _, b in pads)
    if tuple(i + a + b for i, a, b in zip(c.in4, before, after)) != tuple(c.out4):
        raise DeployError(f"PAD of {list(layer.input.shape)} by {[list(p) for p in pads]} does "
                          f"not give its output shape {list(layer.output.shape)}",
                          layer=layer.name, rule="pad-amounts")
    constant = layer.inputs[2] if len(layer.inputs) > 2 else None
    if constant is not None:
        value = _const_data(constant, layer, "the PADV2 constant").reshape(-1)
        if value.size != 1:
            raise DeployError(f"PADV2 constant has {value.size} values, not one",
                              layer=layer.name, rule="pad-value")
    if c.int8:
        if constant is None:
            fill = c.zp_out
        else:
            s_k, zp_k = _quant(constant, "PADV2 constant", layer.name)
            if (s_k, zp_k) != (c.s_out, c.zp_out):
                raise DeployError(f"int8 PADV2 constant quantized with scale {s_k:g}, zero point "
                                  f"{zp_k}, the output with scale {c.s_out:g}, zero point "
                                  f"{c.zp_out}; they must be equal", layer=layer.name,
                                  rule="pad-value")
            fill = int(value[0])
        quant = fi.PAD_QUANT.words(value=fill)
    else:
        fill_f = 0.0 if constant is None else float(value[0])
        quant = fi.PAD_QUANT.words(value=fi.f32_bits(fill_f))
    geom = fi.PAD_GEOM.words(before_n=before[0], before_h=before[1], before_w=before[2],
                             before_c=before[3])
    return c.descriptor(geom, quant)


def _describe_resize(c: LayerContext) -> LayerDescriptor:
    """RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of a 4-D NHWC tensor: align_corners and
    half_pixel_centers (:data:`~tinymodel.firmware_interface.RESIZE_GEOM`); the output size is
    the output's shape.  Input and output share quantization (the converter's rule), so int8
    needs no quant slot."""
    layer = c.layer
    align = bool(layer.options.get("align_corners", False))
    half = bool(layer.options.get("half_pixel_centers", False))
    if len(layer.input.shape) != 4 or len(layer.output.shape) != 4:
        raise DeployError(f"{layer.op.label} needs 4-D NHWC tensors; this one has "
                          f"{list(layer.input.shape)}", layer=layer.name, rule="resize-options")
    if layer.op is OpType.RESIZE_BILINEAR and align and half:
        raise DeployError("RESIZE_BILINEAR with both align_corners and half_pixel_centers "
                          "(TFLite refuses it)", layer=layer.name, rule="resize-options")
    return c.descriptor(fi.RESIZE_GEOM.words(align_corners=int(align),
                                             half_pixel_centers=int(half)))


def _describe_logistic(c: LayerContext) -> LayerDescriptor:
    """LOGISTIC and TANH: int8 rescale into Q4.27
    (:data:`~tinymodel.firmware_interface.LOGISTIC_S8_QUANT`); the output quantization is the
    fixed one of the converter, which the kernels assume; float has no parameters."""
    from tinymodel import requantization as rq

    if not c.int8:
        return c.descriptor()
    fixed = (rq.LOGISTIC_OUTPUT_QUANTIZATION if c.layer.op is OpType.LOGISTIC
             else rq.TANH_OUTPUT_QUANTIZATION)
    if (np.float32(c.s_out), c.zp_out) != (np.float32(fixed[0]), fixed[1]):
        raise DeployError(f"int8 {c.layer.op.label} needs output scale 1/{round(1 / fixed[0])} "
                          f"and zero point {fixed[1]} (the converter's fixed output "
                          f"quantization); this one has scale {c.s_out:g}, zero point "
                          f"{c.zp_out}", layer=c.layer.name, rule="fixed-output")
    p = rq.logistic_params(c.s_in, c.zp_in)
    return c.descriptor(quant=fi.LOGISTIC_S8_QUANT.words(**asdict(p)))


def _describe_hard_swish(c: LayerContext) -> LayerDescriptor:
    """HARD_SWISH: int16 fixed-point multipliers
    (:data:`~tinymodel.firmware_interface.HARD_SWISH_S8_QUANT`); float has no parameters."""
    from tinymodel import requantization as rq

    if not c.int8:
        return c.descriptor()
    p = rq.hard_swish_params(c.s_in, c.zp_in, c.s_out, c.zp_out)
    return c.descriptor(quant=fi.HARD_SWISH_S8_QUANT.words(**asdict(p)))


def _describe_leaky_relu(c: LayerContext) -> LayerDescriptor:
    """LEAKY_RELU: the two rescales (:data:`~tinymodel.firmware_interface.LEAKY_RELU_S8_QUANT`)
    or the float alpha (:data:`~tinymodel.firmware_interface.LEAKY_RELU_F32_QUANT`)."""
    from tinymodel import requantization as rq

    alpha = float(c.layer.options.get("alpha", 0.2))
    if not c.int8:
        return c.descriptor(quant=fi.LEAKY_RELU_F32_QUANT.words(alpha=alpha))
    p = rq.leaky_relu_params(c.s_in, c.zp_in, alpha, c.s_out, c.zp_out)
    return c.descriptor(quant=fi.LEAKY_RELU_S8_QUANT.words(**asdict(p)))


def _describe_prelu(c: LayerContext) -> LayerDescriptor:
    """PRELU: the constant alpha in the blob, its shape right-aligned to 4-D in ``filter[]``
    (each dim 1, broadcast, or the input's); int8 rescales in
    :data:`~tinymodel.firmware_interface.PRELU_S8_QUANT`."""
    from tinymodel import requantization as rq

    layer = c.layer
    inputs = tuple(layer.inputs) + (None,)
    alpha = inputs[1]
    if alpha is None or not alpha.is_constant:
        raise DeployError("PRELU needs a constant alpha", layer=layer.name, rule="prelu-alpha")
    a4 = dims4(alpha.shape, layer.name)
    if len(alpha.shape) > len(layer.input.shape) or any(
            a not in (1, x) for a, x in zip(a4, c.in4)):
        raise DeployError(f"PRELU alpha of shape {list(alpha.shape)} does not broadcast onto the "
                          f"input {list(layer.input.shape)} dim by dim", layer=layer.name,
                          rule="prelu-alpha")
    data = _const_data(alpha, layer, "alpha")
    if not c.int8:
        if alpha.dtype != "float32":
            raise DeployError(f"{alpha.dtype} alpha in a float32 PRELU", layer=layer.name,
                              rule="hybrid")
        off = c.blob.add(data.astype("<f4").tobytes())
        return c.descriptor(filter=a4, weights_offset=off)
    aq = alpha.quantization
    if aq is None or not aq.scale:
        raise DeployError("PRELU alpha has no quantization", layer=layer.name,
                          rule="quantization")
    if len(aq.scale) > 1:
        raise DeployError(f"PRELU alpha with {len(aq.scale)} per-channel scales; the kernel "
                          f"takes one", layer=layer.name, rule="prelu-alpha")
    p = rq.prelu_params(c.s_in, c.zp_in, float(aq.scale[0]), int(aq.zero_point[0]), c.s_out,
                        c.zp_out)
    off = c.blob.add(data.astype(np.int8).tobytes())
    return c.descriptor(quant=fi.PRELU_S8_QUANT.words(**asdict(p)), filter=a4,
                        weights_offset=off)


#: The descriptor builder of every operator the firmware runs (the keys are
#: :data:`tinymodel.firmware_interface.OP_CODES`'s; a test checks they agree).
DESCRIBERS: Mapping[OpType, Callable[[LayerContext], LayerDescriptor]] = {
    OpType.CONV_2D: _describe_weighted,
    OpType.DEPTHWISE_CONV_2D: _describe_weighted,
    OpType.FULLY_CONNECTED: _describe_weighted,
    OpType.AVERAGE_POOL_2D: _describe_pool,
    OpType.MAX_POOL_2D: _describe_pool,
    OpType.ADD: _describe_binary,
    OpType.SUB: _describe_binary,
    OpType.MUL: _describe_binary,
    OpType.MAXIMUM: _describe_binary,
    OpType.MINIMUM: _describe_binary,
    OpType.SOFTMAX: _describe_softmax,
    OpType.RELU: _describe_relu,
    OpType.RELU6: _describe_relu,
    OpType.RESHAPE: _describe_reshape,
    OpType.MEAN: _describe_reduce,
    OpType.SUM: _describe_reduce,
    OpType.QUANTIZE: _describe_convert,
    OpType.DEQUANTIZE: _describe_convert,
    OpType.CONCATENATION: _describe_piece_layer,
    OpType.PACK: _describe_piece_layer,
    OpType.STRIDED_SLICE: _describe_piece_layer,
    OpType.SLICE: _describe_piece_layer,
    OpType.SPLIT: _describe_piece_layer,
    OpType.SPLIT_V: _describe_piece_layer,
    OpType.UNPACK: _describe_piece_layer,
    OpType.TRANSPOSE: _describe_transpose,
    OpType.PAD: _describe_pad,
    OpType.RESIZE_NEAREST_NEIGHBOR: _describe_resize,
    OpType.RESIZE_BILINEAR: _describe_resize,
    OpType.LOGISTIC: _describe_logistic,
    OpType.TANH: _describe_logistic,
    OpType.HARD_SWISH: _describe_hard_swish,
    OpType.LEAKY_RELU: _describe_leaky_relu,
    OpType.PRELU: _describe_prelu,
    OpType.TRANSPOSE_CONV: _describe_weighted,
    OpType.BATCH_MATMUL: _describe_batch_matmul,
}


def describe_layer(layer: Layer, variant: Variant | str,
                   blob: ConstantBlob | None = None) -> LayerDescriptor:
    """The ``tm_layer_desc`` of one layer run with ``variant``'s kernels; its constants (weights,
    bias, per-channel tables) are appended to ``blob`` (a throw-away one when ``None``).

    Arena offsets are left at their defaults (the code generator fills them in); blob offsets
    are ``blob``'s.  :class:`NoKernelError` (also an :class:`~tinymodel.errors.UnsupportedError`)
    for an operator without a firmware kernel, :class:`DeployError` for an option the kernels
    lack, missing quantization / data, or quantization parameters the firmware's rules refuse
    (rule ``quant-range``).
    """
    int8 = Variant.parse(variant).dtype == "int8"
    build = DESCRIBERS.get(layer.op)
    if build is None:
        raise NoKernelError(f"operator {op_name(layer)} has no firmware kernel", layer=layer.name)
    x, y = layer.input, layer.output
    in4, out4 = dims4(x.shape, layer.name), dims4(y.shape, layer.name)
    quant: dict[str, float | int] = {}
    float_copy = layer.op in BYTE_COPY_OPS and x.dtype == "float32"     # copied as bytes
    if int8 and layer.op not in CONVERT_OPS and not float_copy:
        # (QUANTIZE / DEQUANTIZE read their own tensors' quantization)
        quant["s_in"], quant["zp_in"] = _quant(x, "input", layer.name)
        quant["s_out"], quant["zp_out"] = _quant(y, "output", layer.name)
    ctx = LayerContext(layer, int8, ConstantBlob() if blob is None else blob,
                       fi.OP_CODES[layer.op], in4, out4, **quant)  # type: ignore[arg-type]
    try:
        desc = build(ctx)
    except DeployError:
        raise
    except TinymodelError as e:     # TFLite's integer arithmetic has no parameters for it
        raise DeployError(f"its quantization is outside what the integer kernels can represent "
                          f"({e})", layer=layer.name, rule="quant-range") from e
    _check_quant(desc.op, not int8, layer.name, desc.quant)
    return desc


def arena_constant(layer: Layer) -> TensorSpec | None:
    """The constant ``layer``'s kernel reads from the tensor arena, or ``None``.

    A kernel reads its (first) input from the arena.  When that input is a constant with
    values and the layer has no run-time input at all — the zero initial state ``h0`` of an
    open-batch Keras ``LSTM`` / ``GRU``, which the normalisation folds from the converter's
    ``FILL`` and the recurrent ``FULLY_CONNECTED`` reads — TFLite still runs the layer on it,
    and so does the firmware: the arena planner gives the constant a buffer live for the whole
    inference (:func:`tinymodel.arena.plan_arena`) and the generated model's initial arena image
    holds its bytes (:mod:`calibration.codegen`; zero bytes need none, the arena is zeroed at
    reset).  Binary element-wise operators and BATCH_MATMUL take a constant operand from the
    blob instead (:attr:`~tinymodel.firmware_interface.LayerFlag.CONST_OPERAND`), and the
    copies of :data:`PIECE_OPS` refuse one (rule ``constant-input``): ``None`` for those."""
    if layer.op not in DESCRIBERS or layer.op in PIECE_OPS \
            or fi.OP_CODES[layer.op] in fi.TWO_INPUT_OPS or layer.activation_inputs:
        return None
    position = layer.op.operands.data
    x = layer.inputs[position] if position < len(layer.inputs) else None
    return x if x is not None and x.is_constant and x.data is not None else None


def describe_pieces(layer: Layer, variant: Variant | str,
                    blob: ConstantBlob | None = None) -> tuple[Piece, ...]:
    """The firmware layers ``layer`` runs as with ``variant``'s kernels, in execution order.

    One for every operator but those of :data:`PIECE_OPS` (:func:`describe_layer`, reading the
    first run-time input and writing the output); for those, one per input or output
    (:func:`piece_geometry`).  Their data is only copied, so int8 inputs and outputs must share
    one scale and zero point (TFLite's same-scale rule, tflite-op-arithmetic section 1.9; the
    converter inserts an int8 QUANTIZE where they differ): rule ``same-scale`` otherwise; an
    input that is a constant is refused (rule ``constant-input``).  The code generator gives
    every piece the arena offsets of its ``input`` and ``output``; the graph layer's buffers
    are all live at its step, so no piece overwrites what another reads.
    """
    if layer.op not in PIECE_OPS:
        d = describe_layer(layer, variant, blob)
        return (Piece(d, layer.activation_inputs[0] if layer.activation_inputs else layer.input,
                      layer.output),)
    int8 = Variant.parse(variant).dtype == "int8"
    geometry = piece_geometry(layer)
    data = [layer.inputs[g.input] for g in geometry] + list(layer.outputs)
    for t in data:
        if t is not None and t.is_constant:
            raise DeployError(f"input {t.name!r} is a constant; the firmware copies run-time "
                              f"tensors only", layer=layer.name, rule="constant-input")
    as_bytes = int8 and all(t is None or t.dtype == "float32" for t in data)
    if as_bytes:
        return tuple(_byte_piece(g, layer) for g in geometry)
    if int8:
        ref = _quant(layer.outputs[0], "output", layer.name)
        for t in data:
            q = _quant(t, "tensor", layer.name)
            if q != ref:
                raise DeployError(f"tensor {t.name!r} has scale {q[0]:.6g} and zero point "
                                  f"{q[1]} but output {layer.outputs[0].name!r} has {ref[0]:.6g} "
                                  f"and {ref[1]}: int8 {layer.op.label} copies bytes, so all "
                                  f"must share one (TFLite's same-scale rule)", layer=layer.name,
                                  rule="same-scale")
    out = []
    for g in geometry:
        d = LayerDescriptor(op=int(g.code), flags=0, input=g.in4, filter=(0, 0, 0, 0),
                            output=g.out4, geom=g.geom, quant=fi.default_quant())
        out.append(Piece(d, layer.inputs[g.input], layer.outputs[g.output]))
    return tuple(out)


def _byte_piece(g: PieceGeometry, layer: Layer) -> Piece:
    """A piece of a float32 copy in an int8 image, over the tensors' bytes (:func:`byte_view`):
    the innermost dimension and, along it, the window's offset or first index times 4; a
    strided read of the innermost dimension has no byte view (rule ``mixed-dtypes``)."""
    geom = list(g.geom)
    if g.code is fi.Op.CONCATENATION:
        if geom[fi.ConcatGeomSlot.AXIS] == 3:
            geom[fi.ConcatGeomSlot.OFFSET] *= 4
    else:
        if geom[fi.SliceGeomSlot.STRIDE_C] != 1:
            raise DeployError(f"a float32 {layer.op.label} with stride "
                              f"{geom[fi.SliceGeomSlot.STRIDE_C]} along the innermost axis in an "
                              f"int8 image (it copies float32 tensors as bytes, innermost stride "
                              f"1 only)", layer=layer.name, rule="mixed-dtypes")
        geom[fi.SliceGeomSlot.BEGIN_C] *= 4
    d = LayerDescriptor(op=int(g.code), flags=0, input=byte_view(g.in4, layer), filter=(0, 0, 0, 0),
                        output=byte_view(g.out4, layer), geom=tuple(geom), quant=fi.default_quant())
    return Piece(d, layer.inputs[g.input], layer.outputs[g.output])


# -- per-model rules ------------------------------------------------------------------------------

def _layer_dtypes(layer: Layer) -> set[str]:
    """Dtypes of the tensors a layer computes on: for an operator with a kernel its data inputs
    (both of a binary element-wise op, the activation input of the others — not RESHAPE's run-time shape operand)
    and outputs; for any other operator every run-time input and output."""
    if layer.op not in DESCRIBERS or layer.op in (OpType.CONCATENATION, OpType.PACK):
        data = layer.activation_inputs
    else:
        first = layer.op.operands.data
        two = fi.OP_CODES.get(layer.op) in fi.TWO_INPUT_OPS
        data = tuple(t for t in layer.inputs[first:first + (2 if two else 1)]
                     if t is not None and not t.is_constant)
    return {t.dtype for t in (*data, *layer.outputs)}


def _names(layers: Iterable[Layer], limit: int = 3) -> str:
    names = [layer.name for layer in layers]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


_FULL_OR_FLOAT = "the firmware runs full-integer (int8) or float32 models only"


def firmware_dtype(graph: ModelGraph) -> str:
    """The one dtype (``"int8"`` or ``"float32"``) the firmware would run ``graph`` in, from the
    run-time tensors of the layers it has kernels for (the others are refused layer by layer).

    QUANTIZE / DEQUANTIZE layers (:data:`CONVERT_OPS`) do not count: their kernels convert
    between their own tensors' dtypes in every variant, so a model with float32 input and output
    around an int8 core (the TFLite converter's default post-training quantization) runs in int8.
    Nor do float32 byte copies (:data:`BYTE_COPY_OPS`) in a model whose other layers are int8:
    an int8 image copies their bytes (:func:`byte_view`).
    :class:`DeployError` when there is none: float32 activations with int8 weights (``hybrid``),
    or any other mix (``mixed-dtypes``).
    """
    kernel_layers = [layer for layer in graph if layer.op in DESCRIBERS] or list(graph)
    converters = [layer for layer in kernel_layers if layer.op in CONVERT_OPS]
    kernel_layers = [layer for layer in kernel_layers if layer.op not in CONVERT_OPS]
    core: set[str] = set()
    for layer in kernel_layers:
        if layer.op not in BYTE_COPY_OPS:
            core |= _layer_dtypes(layer)
    if not core:
        for layer in kernel_layers:
            core |= _layer_dtypes(layer)
    elif core == {"int8"}:
        # float32 byte copies (between a DEQUANTIZE and a QUANTIZE) run in int8 images as bytes
        core |= {d for layer in kernel_layers if layer.op in BYTE_COPY_OPS
                 for d in _layer_dtypes(layer) if d != "float32"}
    if not core and converters:
        # only QUANTIZE / DEQUANTIZE: their kernels run in every variant; int8 is their arithmetic
        core = {"int8"}
    hybrid = [layer for layer in kernel_layers if _layer_dtypes(layer) == {"float32"}
              and any(t.dtype not in ("float32",) for t in layer.param_inputs)]
    if hybrid:
        raise DeployError(
            f"{graph.name} is a dynamic-range (hybrid) quantized model: float32 activations with "
            f"int8 weights ({_names(hybrid)}); {_FULL_OR_FLOAT}: quantize it fully (a "
            f"representative dataset and tf.int8 input and output) or keep it float32",
            rule="hybrid")
    if len(core) == 1 and core <= set(FIRMWARE_DTYPES):
        return next(iter(core))
    if not core:
        raise DeployError(f"{graph.name} has no run-time tensors", rule="mixed-dtypes")
    by_dtype = {d: next(layer.name for layer in kernel_layers if d in _layer_dtypes(layer))
                for d in sorted(core)}
    raise DeployError(
        f"{graph.name} computes in {', '.join(f'{d} ({n})' for d, n in by_dtype.items())}; the "
        f"firmware runs networks that are all int8 or all float32", rule="mixed-dtypes")


def check_variant(graph: ModelGraph, variant: Variant | str) -> None:
    """Raise :class:`DeployError` unless ``variant`` runs the graph's dtype
    (:func:`firmware_dtype`; rule ``variant-dtype`` when only the variant is wrong)."""
    names = [v.value for v in Variant]
    try:
        v = Variant.parse(variant)
    except TinymodelError:
        raise DeployError(f"unknown variant {variant!r}; one of {', '.join(names)}",
                          rule="variant") from None
    dtype = firmware_dtype(graph)
    if v.dtype != dtype:
        want = " or ".join(x.value for x in Variant if x.dtype == dtype)
        raise DeployError(f"{graph.name} is {'an' if dtype == 'int8' else 'a'} {dtype} model; "
                          f"variant {v.value} cannot run it (use {want})", rule="variant-dtype")


#: What to do about a recurrent loop (rule ``loop``).
LOOP_FIX = "convert the Keras model with unroll=True (keras.layers.LSTM/GRU(..., unroll=True))"


def check_loops(graph: ModelGraph) -> None:
    """Raise :class:`DeployError` (rule ``loop``, ``op`` set) for the first recurrent loop of
    ``graph``: a ``WHILE`` layer, a ``WHILE`` the normalisation unrolled (its
    :class:`~tinymodel.normalize.Rewrite` ``unroll``: the unrolled body gathers each step's input
    with GATHER, which the firmware lacks; the Keras reader's form of it: a GATHER of an
    ``LSTM`` / ``GRU`` call) or an ``UNIDIRECTIONAL_SEQUENCE_LSTM``.  This is how
    the converter writes a Keras ``LSTM`` / ``GRU`` with ``unroll=False``; with ``unroll=True``
    the same layer converts to per-step operators the firmware has kernels for."""
    for r in getattr(graph, "rewrites", ()):
        if getattr(r, "rule", None) == "unroll" and r.layers:
            raise DeployError(f"WHILE loop (a Keras LSTM/GRU converted with unroll=False): the "
                              f"firmware runs no loops; {LOOP_FIX}",
                              layer=r.layers[0], rule="loop", op=OpType.WHILE.label)
    for layer in graph:
        if layer.op is OpType.GATHER and layer.source_op in ("LSTM", "GRU"):
            # the Keras reader's form of an LSTM / GRU with unroll=False: what the converter's
            # WHILE loop becomes, a GATHER of each step's input (layers ``<call>/...``)
            raise DeployError(f"{layer.source_op} with unroll=False (a WHILE loop once "
                              f"converted): the firmware runs no loops; {LOOP_FIX}",
                              layer=layer.name.rsplit("/", 1)[0], rule="loop",
                              op=layer.source_op)
        if layer.op is OpType.WHILE:
            raise DeployError(f"WHILE loop (a Keras LSTM/GRU converted with unroll=False): the "
                              f"firmware runs no loops; {LOOP_FIX}", layer=layer.name,
                              rule="loop", op=OpType.WHILE.label)
        if layer.op is OpType.UNIDIRECTIONAL_SEQUENCE_LSTM:
            raise DeployError(f"UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's fused LSTM, how a "
                              f"Keras LSTM with unroll=False converted): the firmware has no "
                              f"fused LSTM kernel; "
                              f"{LOOP_FIX}", layer=layer.name, rule="loop",
                              op=OpType.UNIDIRECTIONAL_SEQUENCE_LSTM.label)


def computes_in(dtypes: Iterable[str]) -> str | None:
    """Of the dtypes the layers of a model write: ``"int8"`` when one is int8, else
    ``"float32"`` when one is float32, else ``None`` (the rule of :func:`compute_dtype`)."""
    dtypes = set(dtypes)
    return next((d for d in FIRMWARE_DTYPES if d in dtypes), None)


def compute_dtype(graph: ModelGraph) -> str | None:
    """The dtype the model computes in: ``"int8"`` when any layer writes an int8 tensor (a
    full-integer model, or the int8 core of a post-training-quantized one with float32 input and
    output), else ``"float32"`` when any writes a float32 one (a float or dynamic-range model),
    else ``None``."""
    return computes_in(t.dtype for layer in graph for t in layer.outputs)


def variant_for(dtype: str | None) -> Variant:
    """The variant that runs a model computing in ``dtype``: ``s8-opt`` for int8, ``f32`` for
    float32, ``s8-opt`` for anything else."""
    return Variant.F32 if dtype == "float32" else Variant.S8_OPT


def default_variant(graph: ModelGraph) -> Variant:
    """The variant of the model's own dtype (:func:`compute_dtype`, :func:`variant_for`):
    ``s8-opt`` for int8 (also a float-I/O model with an int8 core), ``f32`` for float32."""
    return variant_for(compute_dtype(graph))


# -- deployability ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeployProblem:
    """One reason ``tinymodel deploy`` would refuse a model: the layer (``None``: the model),
    its operator, the rule and the reason (without the layer's name)."""

    layer: str | None
    op: str | None
    rule: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"layer": self.layer, "op": self.op, "rule": self.rule, "reason": self.reason}


@dataclass(frozen=True)
class Deployability:
    """Whether ``tinymodel deploy`` would accept a model for one variant (and, when a predicted
    memory fit was given, board): :attr:`accepted` unless there are :attr:`problems`."""

    model: str
    variant: str
    problems: tuple[DeployProblem, ...] = ()

    @property
    def accepted(self) -> bool:
        """True when no rule refuses the model."""
        return not self.problems

    def groups(self) -> list[tuple[str, tuple[str, ...]]]:
        """The problems as ``(reason, layers)``, model-wide ones first, layers sharing a reason
        (and operator) together, in order of first appearance."""
        out: dict[str, list[str]] = {}
        for p in self.problems:
            key = p.reason if p.layer is None else (
                p.reason if p.op is None or p.op in p.reason else f"{p.op}: {p.reason}")
            out.setdefault(key, [])
            if p.layer is not None:
                out[key].append(p.layer)
        model_wide = [(k, ()) for k, v in out.items() if not v]
        return model_wide + [(k, tuple(v)) for k, v in out.items() if v]

    def summary(self, max_layers: int = 4) -> str:
        """One line: every problem group, ``"; "``-separated, with at most ``max_layers`` layer
        names per group."""
        parts = []
        for reason, layers in self.groups():
            if layers:
                names = ", ".join(layers[:max_layers])
                if len(layers) > max_layers:
                    names += f" and {len(layers) - max_layers} more"
                parts.append(f"{names}: {reason}")
            else:
                parts.append(reason)
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields: ``accepted``, ``variant``, ``problems``."""
        return {"accepted": self.accepted, "variant": self.variant,
                "problems": [p.as_dict() for p in self.problems]}


def _problem(e: DeployError, layer: Layer | None) -> DeployProblem:
    return DeployProblem(e.layer, op_name(layer) if layer is not None else e.op, e.rule, e.reason)


def deployability(graph: ModelGraph, variant: Variant | str,
                  memory: Mapping[str, Any] | None = None) -> Deployability:
    """Every reason ``tinymodel deploy`` would refuse ``graph`` with ``variant``'s kernels.

    A recurrent loop (:func:`check_loops`) is the only problem reported when there is one: the
    layers of the loop fail for it, and its line says what to do.
    The model rules (:func:`check_variant`) first, then :func:`describe_layer` on every layer —
    with ``variant`` where the layer computes in the variant's dtype, else with the dtype the
    layer has (so a float model asked with an int8 variant still gets its layer rules checked);
    a layer whose own tensors mix dtypes is only checked for a kernel.  ``memory`` (region name ->
    an object with ``fits``, ``over_bytes``, ``region``, such as
    :class:`tinymodel.estimator.MemoryFit`) adds an ``oversized`` problem per region that does
    not fit.  Constants are described into a throw-away blob.
    """
    v = Variant.parse(variant)
    try:
        check_loops(graph)
    except DeployError as e:    # the loop's layers fail for it: its one line says what to do
        return Deployability(graph.name, v.value, (_problem(e, None),))
    problems: list[DeployProblem] = []
    try:
        check_variant(graph, v)
    except DeployError as e:
        problems.append(_problem(e, None))
    model_rules = {p.rule for p in problems}
    for layer in graph:
        lv = v      # an operator without a kernel is refused whatever the dtype
        if layer.op in DESCRIBERS and layer.op not in CONVERT_OPS:
            dtypes = _layer_dtypes(layer)
            if len(dtypes) != 1 or not dtypes <= set(FIRMWARE_DTYPES):
                continue        # the model rule names the mix
            dtype = dtypes.pop()
            if v.dtype != dtype:
                lv = next(x for x in Variant if x.dtype == dtype)
        try:
            describe_pieces(layer, lv)
        except DeployError as e:
            if e.rule not in model_rules:       # the model-wide problem names these layers
                problems.append(_problem(e, layer))
    from tinymodel.footprint import oversized_text

    over = oversized_text({fit.region: fit.over_bytes for fit in (memory or {}).values()
                           if not fit.fits})
    if over:
        problems.append(DeployProblem(None, None, "oversized", over))
    return Deployability(graph.name, v.value, tuple(problems))


__all__ = [
    "BYTE_COPY_OPS", "CONVERT_OPS", "DESCRIBERS", "FIRMWARE_DTYPES", "PIECE_OPS", "SPATIAL_AXES_MASK",
    "ConstantBlob", "DeployError", "DeployProblem", "Deployability", "LOOP_FIX", "LayerContext",
    "NoKernelError", "Piece", "PieceGeometry", "arena_constant", "check_loops", "check_variant", "compute_dtype",
    "computes_in", "default_variant", "deployability", "describe_layer", "describe_pieces",
    "byte_view", "dims4", "firmware_layers", "piece_geometry", "reduce_axes_mask",
    "firmware_dtype", "op_name", "variant_for",
]
