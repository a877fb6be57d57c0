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
``add-shapes``      an ADD of two shapes (a broadcast) or of a constant
``mean-axes``       a MEAN over other axes than the spatial ones of a 4-D tensor
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

**Per model.**  :func:`firmware_dtype` is the one dtype the firmware would run the model in:
it runs full-integer (int8) or float32 networks only, so a model with float32 input and output
around an int8 core (``float-io``: the TFLite converter's default post-training quantization,
``QUANTIZE`` / ``DEQUANTIZE`` at the ends), a dynamic-range model (``hybrid``: float32
activations, int8 weights) or any other mix (``mixed-dtypes``) is refused.
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


def _strip_leading_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    i = 0
    while i < len(shape) - 1 and shape[i] == 1:
        i += 1
    return tuple(shape[i:])


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
    """CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: weights, optional bias, per-tensor or
    per-channel requantization; conv-style geometry (:data:`~tinymodel.firmware_interface.CONV_GEOM`)."""
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
        if layer.padding is Padding.SAME:
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


def _describe_add(c: LayerContext) -> LayerDescriptor:
    """ADD of two run-time tensors of one shape (:data:`~tinymodel.firmware_interface.ADD_S8_QUANT`
    for int8; the second input's arena offset is filled in by the code generator)."""
    from tinymodel import requantization as rq

    layer = c.layer
    a, b = (tuple(layer.inputs) + (None, None))[:2]
    # shapes that differ only by leading 1s broadcast without repeating anything, e.g. the
    # converter's (1, 1, 1, C) + (C,) after a flatten: the same element-wise ADD in memory
    if (a is None or b is None or a.is_constant or b.is_constant
            or _strip_leading_ones(a.shape) != _strip_leading_ones(b.shape)
            or a.size != layer.output.size):
        what = ("a constant input" if a is not None and b is not None
                and (a.is_constant or b.is_constant) else
                f"shapes {list(a.shape)} and {list(b.shape)}" if a is not None and b is not None
                else "one input")
        raise DeployError(f"ADD needs two run-time inputs of one shape (up to leading 1s); "
                          f"this one has {what}", layer=layer.name, rule="add-shapes")
    if c.int8:
        s1, z1 = _quant(a, "input", layer.name)
        s2, z2 = _quant(b, "input", layer.name)
        p = rq.add_params(s1, z1, s2, z2, c.s_out, c.zp_out)
        lo, hi = rq.activation_range(layer.activation, c.s_out, c.zp_out)
        quant = fi.ADD_S8_QUANT.words(**asdict(p), act_min=lo, act_max=hi)
    else:
        lo_f, hi_f = _act_f32(layer.activation, layer)
        quant = fi.F32_ACT_QUANT.words(act_min=lo_f, act_max=hi_f)
    return c.descriptor(quant=quant)


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
    """RESHAPE: a copy, shapes only."""
    return c.descriptor()


def _describe_mean(c: LayerContext) -> LayerDescriptor:
    """MEAN over the spatial axes of a 4-D tensor (global average pooling)."""
    from tinymodel import requantization as rq

    layer, in4 = c.layer, c.in4
    axes = tuple(sorted(int(a) % 4 for a in layer.options.get("axes", (1, 2))))
    if len(layer.input.shape) != 4 or axes != (1, 2):
        raise DeployError(f"MEAN is supported over the spatial axes (1, 2) of a 4-D tensor only; "
                          f"this one averages axes {list(layer.options.get('axes', (1, 2)))} of "
                          f"a rank-{len(layer.input.shape)} tensor", layer=layer.name,
                          rule="mean-axes")
    out4 = (in4[0], 1, 1, in4[3])
    if c.int8:
        # TFLite's folding of 1/(H·W) into the s_in/s_out multiplier (not the quantized
        # s_in/(s_out·H·W), which is off by one for many H·W), see rq.mean_multiplier.
        m, e = rq.mean_multiplier(c.s_in, c.s_out, in4[1] * in4[2])
        quant = fi.S8_QUANT.words(input_offset=-c.zp_in, output_offset=c.zp_out, act_min=-128,
                                  act_max=127, multiplier=m, shift=e)
    else:
        quant = fi.F32_ACT_QUANT.words(act_min=-_F32_MAX, act_max=_F32_MAX)
    return c.descriptor(quant=quant, output=out4)


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
    OpType.ADD: _describe_add,
    OpType.SOFTMAX: _describe_softmax,
    OpType.RELU: _describe_relu,
    OpType.RELU6: _describe_relu,
    OpType.RESHAPE: _describe_reshape,
    OpType.MEAN: _describe_mean,
    OpType.TRANSPOSE: _describe_transpose,
    OpType.PAD: _describe_pad,
    OpType.RESIZE_NEAREST_NEIGHBOR: _describe_resize,
    OpType.RESIZE_BILINEAR: _describe_resize,
    OpType.LOGISTIC: _describe_logistic,
    OpType.TANH: _describe_logistic,
    OpType.HARD_SWISH: _describe_hard_swish,
    OpType.LEAKY_RELU: _describe_leaky_relu,
    OpType.PRELU: _describe_prelu,
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
    if int8:
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


# -- per-model rules ------------------------------------------------------------------------------

def _layer_dtypes(layer: Layer) -> set[str]:
    """Dtypes of the tensors a layer computes on: for an operator with a kernel its data inputs
    (both of ADD, the activation input of the others — not RESHAPE's run-time shape operand)
    and outputs; for any other operator every run-time input and output."""
    if layer.op not in DESCRIBERS:
        data = layer.activation_inputs
    else:
        first = layer.op.operands.data
        data = tuple(t for t in layer.inputs[first:first + (2 if layer.op is OpType.ADD else 1)]
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

    :class:`DeployError` when there is none: float32 input / output around an int8 core
    (``float-io``: the converter's default post-training quantization, until the firmware has
    QUANTIZE / DEQUANTIZE kernels), float32 activations with int8 weights (``hybrid``), or any
    other mix (``mixed-dtypes``).
    """
    kernel_layers = [layer for layer in graph if layer.op in DESCRIBERS] or list(graph)
    core: set[str] = set()
    for layer in kernel_layers:
        core |= _layer_dtypes(layer)
    io = {t.dtype for t in (*graph.inputs, *graph.outputs)}
    if core == {"int8"} and "float32" in io:
        ends = [layer for layer in graph
                if layer.op in (OpType.QUANTIZE, OpType.DEQUANTIZE, OpType.CAST)]
        where = f" ({_names(ends)} at its ends)" if ends else ""
        raise DeployError(
            f"{graph.name} has float32 input or output around an int8 "
            f"core{where}: the TFLite converter's default post-training quantization; "
            f"{_FULL_OR_FLOAT}, until it has QUANTIZE/DEQUANTIZE kernels: convert with "
            f"inference_input_type = inference_output_type = tf.int8", rule="float-io")
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
        if layer.op in DESCRIBERS:
            dtypes = _layer_dtypes(layer)
            if len(dtypes) != 1 or not dtypes <= set(FIRMWARE_DTYPES):
                continue        # the model rule names the mix
            dtype = dtypes.pop()
            if v.dtype != dtype:
                lv = next(x for x in Variant if x.dtype == dtype)
        try:
            describe_layer(layer, lv)
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
    "DESCRIBERS", "FIRMWARE_DTYPES", "ConstantBlob", "DeployError", "DeployProblem",
    "Deployability", "LOOP_FIX", "LayerContext", "NoKernelError", "check_loops", "check_variant",
    "compute_dtype", "computes_in", "default_variant", "deployability", "describe_layer", "dims4",
    "firmware_dtype", "op_name", "variant_for",
]
