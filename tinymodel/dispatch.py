"""Which firmware kernel — and which code path inside it — runs a layer for a given variant.

The latency of a layer depends on the code path its kernel takes (paper §4.3; docs/kernels.md),
so prediction, fitting and the memory planner all need to know it.  This module mirrors, in
Python, the dispatch of the C wrappers in ``firmware/kernels/`` (``tm_conv2d_s8_opt_path``,
``tm_depthwise_conv2d_s8_opt_path``) and their ``*_scratch_bytes`` functions; a test checks the
two agree on random shapes.

Variants are the paper's four configurations (§4.1, Table 2):

======== ============ ================================================
variant  paper label  kernels
======== ============ ================================================
f32-soft U            float kernels, soft-float (no FPU)
f32      U+FPU        float kernels on the FPU
s8-ref   Q            int8, TFLite-Micro-reference structure
s8-opt   Q+CMSIS-NN   int8, DSP SIMD structure (CMSIS-NN 2021 style)
======== ============ ================================================
"""

from __future__ import annotations

import enum

from tinymodel.errors import TinymodelError
from tinymodel.formulas import same_padding
from tinymodel.graph import Layer
from tinymodel.ops import OpType, Padding


class Variant(enum.Enum):
    """A kernel configuration; the value is the name used on the command line and in tables."""

    F32_SOFT = "f32-soft"
    F32 = "f32"
    S8_REF = "s8-ref"
    S8_OPT = "s8-opt"

    @property
    def dtype(self) -> str:
        """Activation dtype of models this variant runs."""
        return "float32" if self in (Variant.F32_SOFT, Variant.F32) else "int8"

    @property
    def paper_label(self) -> str:
        """The paper's name of the configuration (U, U+FPU, Q, Q+CMSIS-NN)."""
        return {"f32-soft": "U", "f32": "U+FPU", "s8-ref": "Q", "s8-opt": "Q+CMSIS-NN"}[self.value]

    @classmethod
    def parse(cls, name: str | Variant) -> Variant:
        """The variant called ``name``; a :class:`TinymodelError` lists the valid names."""
        if isinstance(name, Variant):
            return name
        try:
            return cls(name)
        except ValueError:
            raise TinymodelError(f"unknown variant {name!r}; known: "
                                 + ", ".join(v.value for v in cls)) from None


class KernelPath(enum.Enum):
    """The code path a layer takes; each has its own latency formula."""

    REF = "ref"                  # scalar s8-ref structure (also s8-opt depthwise with multiplier != 1)
    F32 = "f32"                  # float kernels
    FC_OPT = "fc-opt"            # SIMD dense: 2 rows x 16 columns, scalar K mod 16 tail
    CONV_1X1 = "conv-1x1"        # SIMD 1x1 conv without im2col (ic % 4 == 0)
    CONV_IM2COL = "conv-im2col"  # SIMD conv through an int16 im2col of two pixels
    DW_3X3 = "dw-3x3"            # SIMD depthwise 3x3, channels in groups of 4
    DW_GENERIC = "dw-generic"    # SIMD depthwise through a per-pixel int16 im2col
    TCONV_GATHER = "tconv-gather"  # SIMD transpose conv: per output pixel, SMLAD over ic
    SIMD = "simd"                # other s8-opt kernels with a 4-lane SIMD body (pooling, add, mul)
    BROADCAST = "broadcast"      # binary element-wise op with NumPy broadcasting (scalar loop)
    REQUANTIZE = "requantize"    # int8 -> int8 QUANTIZE: one integer kernel in every variant
    REDUCE = "reduce"            # MEAN other than the spatial one, SUM: the any-axes kernels
    SCALAR = "scalar"            # kernels with one implementation for both int8 variants
    COPY = "copy"                # data movement only (reshape, concatenation, slices, transpose, pad, nearest resize)
    NONE = "none"                # no kernel: unsupported operator, or one the firmware lacks


#: Operators with an s8-opt SIMD kernel of their own (besides conv, depthwise and dense).
_SIMD_OPS = {OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.ADD, OpType.MUL}
#: Binary element-wise operators: a flat kernel when both operands have the output's size, a
#: broadcasting one (path ``BROADCAST``, scalar in both int8 variants) otherwise.
BINARY_OPS = frozenset({OpType.ADD, OpType.SUB, OpType.MUL, OpType.MAXIMUM, OpType.MINIMUM})
#: Operators the firmware has kernels for in every variant.
_FIRMWARE_OPS = {OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED,
                 OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.ADD, OpType.SOFTMAX,
                 OpType.RESHAPE, OpType.RELU, OpType.RELU6, OpType.MEAN,
                 OpType.TRANSPOSE_CONV, OpType.BATCH_MATMUL,
                 OpType.CONCATENATION, OpType.PACK,
                 OpType.STRIDED_SLICE, OpType.SLICE, OpType.SPLIT, OpType.SPLIT_V, OpType.UNPACK,
                 OpType.QUANTIZE, OpType.DEQUANTIZE, OpType.SUM,
                 OpType.MUL, OpType.SUB, OpType.MAXIMUM, OpType.MINIMUM,
                 OpType.TRANSPOSE, OpType.PAD, OpType.RESIZE_NEAREST_NEIGHBOR,
                 OpType.RESIZE_BILINEAR}
#: Data movement: one kernel moves elements of any dtype in every variant (path ``COPY``).
#: s8-opt PAD has a block-copy body of its own (memset / memcpy runs, CMSIS-NN's arm_pad_s8
#: structure), still data movement; TRANSPOSE and RESIZE_NEAREST_NEIGHBOR share the one kernel
#: (CMSIS-NN's DSP transpose is a scalar strided copy too, and it has no resize).
#: CONCATENATION and STRIDED_SLICE (and the operators that run as them) are byte copies too.
_COPY_OPS = {OpType.RESHAPE, OpType.TRANSPOSE, OpType.PAD, OpType.RESIZE_NEAREST_NEIGHBOR,
             OpType.CONCATENATION, OpType.STRIDED_SLICE}
#: Element-wise activations of issue 17: one scalar int8 kernel serves s8-ref and s8-opt
#: (``SCALAR``): TFLite Micro runs its reference kernels for them even in a CMSIS-NN build, and
#: CMSIS-NN has no int8 SIMD body for them.
_ACTIVATION_OPS = {OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.LEAKY_RELU,
                   OpType.PRELU}
_FIRMWARE_OPS |= _ACTIVATION_OPS


#: Operators predicted from another operator's table entry: the firmware runs them as that
#: operator's firmware layers (:data:`tinymodel.descriptors.PIECE_OPS`), so calibration measures
#: only CONCATENATION and STRIDED_SLICE.
_TABLE_ALIASES = {OpType.PACK: OpType.CONCATENATION, OpType.SPLIT: OpType.STRIDED_SLICE,
                  OpType.SPLIT_V: OpType.STRIDED_SLICE, OpType.UNPACK: OpType.STRIDED_SLICE,
                  OpType.SLICE: OpType.STRIDED_SLICE}


def table_op(op: OpType) -> str:
    """The operator label of the table entry (``OP/path``) that predicts ``op``: PACK from
    CONCATENATION, SPLIT, SPLIT_V, UNPACK and SLICE from STRIDED_SLICE, every other operator
    from its own."""
    return _TABLE_ALIASES.get(op, op).label


def _any_axes(layer: Layer) -> bool:
    """A SUM, or a MEAN over other axes than the spatial ones of a 4-D tensor: the kernels over
    any axes (``tm_reduce_*``), not the global average pooling (``tm_mean_*``)."""
    from tinymodel.descriptors import SPATIAL_AXES_MASK, reduce_axes_mask

    if layer.op is OpType.SUM:
        return True
    try:
        return reduce_axes_mask(layer) != SPATIAL_AXES_MASK
    except TinymodelError:        # axes the deploy rules refuse: predicted as the spatial form
        return False


def firmware_variants(op: OpType) -> tuple[Variant, ...]:
    """The kernel variants whose firmware has a kernel for ``op``: all four for the operators the
    firmware runs, none for the others (:func:`kernel_path` is ``NONE`` for them)."""
    return tuple(Variant) if op in _FIRMWARE_OPS else ()


def conv_top_left_padding(layer: Layer) -> tuple[int, int]:
    """(top, left) zero padding of a conv / depthwise / pooling layer, as the kernels take it."""
    if layer.padding is not Padding.SAME:
        return (0, 0)
    _, h, w, _ = layer.input.shape
    k_h, k_w = layer.kernel or (1, 1)
    return (same_padding(h, k_h, layer.strides[0], layer.dilation[0])[0],
            same_padding(w, k_w, layer.strides[1], layer.dilation[1])[0])


def is_broadcast(layer: Layer) -> bool:
    """True for a binary element-wise layer whose operands do not both have the output's number
    of elements (the firmware then runs the broadcasting kernel; shapes that differ only by
    leading 1s are the same flat loop)."""
    if layer.op not in BINARY_OPS:
        return False
    n = layer.output.size
    return any(t is not None and t.size != n for t in layer.inputs[:2])


def kernel_path(layer: Layer, variant: Variant | str) -> KernelPath:
    """The path the firmware's kernel for ``variant`` takes on ``layer``.

    s8-opt conv: ``CONV_1X1`` when the kernel is 1×1, strides 1, no padding, the output as large as
    the input and ``ic % 4 == 0`` (the 2021 CMSIS-NN condition), else ``CONV_IM2COL``.
    s8-opt depthwise: ``REF`` when the multiplier is not 1; ``DW_3X3`` for 3×3, dilation 1 and
    padding ≤ 1; ``DW_GENERIC`` otherwise.  s8-opt TRANSPOSE_CONV: ``TCONV_GATHER`` (the SIMD
    gather, ``tm_transpose_conv_s8_opt_path``); s8-opt BATCH_MATMUL: ``SCALAR`` (it shares the
    s8-ref kernel).
    Binary element-wise operators with broadcasting (:func:`is_broadcast`): ``BROADCAST`` in every
    variant (one scalar loop shared by s8-ref and s8-opt); equal shapes: s8-opt ``SIMD`` for ADD
    and MUL, ``SCALAR`` for SUB, MAXIMUM and MINIMUM.  An int8 -> int8 QUANTIZE (a
    requantization): ``REQUANTIZE`` in every variant (integer arithmetic, unlike the float ->
    int8 QUANTIZE's float division, so it is fitted apart).  SUM and a MEAN over other axes than
    the spatial ones of a 4-D tensor: ``REDUCE`` in every variant (the any-axes kernels).
    """
    variant = Variant.parse(variant)
    op = layer.op
    if op not in _FIRMWARE_OPS:
        return KernelPath.NONE
    if op in _COPY_OPS or op in _TABLE_ALIASES:
        return KernelPath.COPY
    if is_broadcast(layer):
        return KernelPath.BROADCAST
    if op is OpType.QUANTIZE and layer.input.dtype == "int8":
        return KernelPath.REQUANTIZE
    if op in (OpType.MEAN, OpType.SUM) and _any_axes(layer):
        return KernelPath.REDUCE
    if variant in (Variant.F32, Variant.F32_SOFT):
        return KernelPath.F32
    if variant is Variant.S8_REF:
        return KernelPath.REF
    if (op in (OpType.SOFTMAX, OpType.RELU, OpType.RELU6, OpType.MEAN, OpType.BATCH_MATMUL,
               OpType.QUANTIZE, OpType.DEQUANTIZE, OpType.SUM, OpType.SUB, OpType.MAXIMUM,
               OpType.MINIMUM)
            or op in _ACTIVATION_OPS):
        return KernelPath.SCALAR
    if op is OpType.FULLY_CONNECTED:
        return KernelPath.FC_OPT
    if op is OpType.TRANSPOSE_CONV:
        return KernelPath.TCONV_GATHER
    if op is OpType.CONV_2D:
        k_h, k_w = layer.kernel or (1, 1)
        _, h, w, ic = layer.input.shape
        _, oh, ow, _ = layer.output.shape
        if ((k_h, k_w) == (1, 1) and layer.strides == (1, 1) and conv_top_left_padding(layer) == (0, 0)
                and (oh, ow) == (h, w) and ic % 4 == 0):
            return KernelPath.CONV_1X1
        return KernelPath.CONV_IM2COL
    if op is OpType.DEPTHWISE_CONV_2D:
        if layer.depth_multiplier != 1:
            return KernelPath.REF
        top, left = conv_top_left_padding(layer)
        if (layer.kernel == (3, 3) and layer.dilation == (1, 1) and top <= 1 and left <= 1):
            return KernelPath.DW_3X3
        return KernelPath.DW_GENERIC
    if op in _SIMD_OPS:
        return KernelPath.SIMD
    return KernelPath.SCALAR


def scratch_bytes(layer: Layer, variant: Variant | str, path: KernelPath | None = None) -> int:
    """Scratch buffer the layer's kernel needs (``*_scratch_bytes`` of the C kernel).

    ``CONV_IM2COL``: two int16 columns of ``kh·kw·ic`` values, ``4·kh·kw·ic`` bytes;
    ``DW_GENERIC``: one int16 column, ``2·kh·kw·ic`` bytes; s8-ref TRANSPOSE_CONV (``REF``): an
    int32 accumulator per element of one batch of the output, ``4·oh·ow·oc`` bytes
    (``tm_transpose_conv_s8_ref_scratch_bytes``); every other path: 0.  ``path``, when given, is
    ``kernel_path(layer, variant)`` already computed.
    """
    if path is None:
        path = kernel_path(layer, variant)
    if layer.op is OpType.TRANSPOSE_CONV and path is KernelPath.REF:
        _, oh, ow, oc = layer.output.shape
        return 4 * oh * ow * oc
    if path not in (KernelPath.CONV_IM2COL, KernelPath.DW_GENERIC):
        return 0
    k_h, k_w = layer.kernel or (1, 1)
    ic = layer.input.shape[-1]
    columns = 2 if path is KernelPath.CONV_IM2COL else 1
    return columns * k_h * k_w * ic * 2
