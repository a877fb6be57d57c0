"""Code generation: a :class:`~tinymodel.graph.ModelGraph` as C sources the firmware links.

:func:`generate` writes three files into a directory that ``make MODEL_DIR=...`` compiles:

* ``tm_model_blob.bin`` — every constant the network needs (weights, biases, per-channel
  requantization multipliers and shifts), each 16-byte aligned, little-endian;
* ``tm_model_blob.S`` — puts the blob into flash (section ``.tm_model``) as ``tm_model_blob``;
* ``tm_model_data.c`` — the layer table in execution order (``tm_layer_desc``, one entry per
  layer, same fields as a RUN_LAYER request), the model's input and output tensors, and the
  tensor arena, whose offsets come from :func:`tinymodel.arena.plan_arena` with the kernels'
  scratch sizes from :func:`tinymodel.costs.analyze`.

Each layer is described by the builder :data:`DESCRIBERS` holds for its operator
(:func:`describe_layer`, also what a RUN_LAYER request is made of): shapes, the ``geom[]`` and
``quant[]`` slots filled by name through :mod:`tinymodel.firmware_interface`'s slot families,
flags, and the constants it appends to the :class:`ConstantBlob`.  Quantization parameters are
computed with :mod:`tinymodel.requantization` (TFLite's arithmetic).  :func:`read_image_model`
reads the tables back out of a linked ELF for verification.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

import tinymodel.firmware_interface as fi
from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError, UnsupportedError
from tinymodel.firmware_interface import LayerDescriptor
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import Activation, OpType, Padding

_F32_MAX = 3.4028234663852886e38


class CodegenError(TinymodelError):
    """The model cannot be turned into firmware sources (an operator or option the kernels lack)."""


def _dims4(shape: Sequence[int]) -> tuple[int, int, int, int]:
    s = tuple(int(d) for d in shape)
    if len(s) > 4:
        raise CodegenError(f"tensor of rank {len(s)} (shape {list(s)}); the kernels take rank <= 4")
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


@dataclass(frozen=True)
class ModelTensor:
    """A model input or output in the generated tables."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    bytes: int
    arena_offset: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class GeneratedModel:
    """What :func:`describe_model` computed: the tables and the blob, before any file is written."""

    name: str
    variant: str
    layers: tuple[LayerDescriptor, ...]
    layer_names: tuple[str, ...]
    blob: bytes
    arena_bytes: int
    inputs: tuple[ModelTensor, ...]
    outputs: tuple[ModelTensor, ...]


# -- per-layer description -------------------------------------------------------------------------

def _quant(t: TensorSpec, what: str) -> tuple[float, int]:
    q = t.quantization
    if q is None or not q.scale:
        raise CodegenError(f"{what} {t.name!r} has no quantization parameters")
    return float(q.scale[0]), int(q.zero_point[0])


def _same_pads(in_size: int, k: int, stride: int, dilation: int, out_size: int) -> int:
    eff = (k - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2


def _const_data(t: TensorSpec | None, layer: Layer, what: str) -> np.ndarray:
    if t is None or t.data is None:
        raise CodegenError(f"layer {layer.name!r}: {what} has no values (a graph built without "
                           f"data cannot be deployed)")
    return np.asarray(t.data)


def _act_f32(act: Activation) -> tuple[float, float]:
    if act is Activation.NONE:
        return -_F32_MAX, _F32_MAX
    if act is Activation.RELU:
        return 0.0, _F32_MAX
    if act is Activation.RELU6:
        return 0.0, 6.0
    if act is Activation.RELU_N1_TO_1:
        return -1.0, 1.0
    raise CodegenError(f"fused activation {act.value!r} is not supported by the kernels")


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


def _describe_weighted(c: LayerContext) -> LayerDescriptor:
    """CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: weights, optional bias, per-tensor or
    per-channel requantization; conv-style geometry (:data:`~tinymodel.firmware_interface.CONV_GEOM`)."""
    from tinymodel import requantization as rq

    layer, x = c.layer, c.layer.input
    if layer.op is OpType.CONV_2D and layer.groups != 1:
        raise CodegenError(f"layer {layer.name!r}: grouped convolution has no kernel")
    w = layer.weights
    wdata = _const_data(w, layer, "weights")
    filt = _dims4(w.shape)
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
            raise CodegenError(f"layer {layer.name!r}: weights have no quantization")
        mult, shift = rq.conv_multipliers(c.s_in, wq.scale, c.s_out)
        lo, hi = rq.activation_range(layer.activation, c.s_out, c.zp_out)
        if len(mult) > 1:
            if len(mult) != channels:
                raise CodegenError(f"layer {layer.name!r}: {len(mult)} weight scales for "
                                   f"{channels} output channels")
            flags |= fi.LayerFlag.PER_CHANNEL
            mult_off = c.blob.add(mult.astype("<i4").tobytes())
            shift_off = c.blob.add(shift.astype("<i4").tobytes())
        quant = fi.S8_QUANT.words(input_offset=-c.zp_in, output_offset=c.zp_out, act_min=lo,
                                  act_max=hi, multiplier=int(mult[0]), shift=int(shift[0]))
    else:
        lo_f, hi_f = _act_f32(layer.activation)
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
            raise CodegenError(f"layer {layer.name!r}: int8 pooling needs equal input and "
                               f"output quantization")
        lo, hi = rq.activation_range(layer.activation, c.s_out, c.zp_out)
        quant = fi.S8_QUANT.words(act_min=lo, act_max=hi)
    else:
        lo_f, hi_f = _act_f32(layer.activation)
        quant = fi.F32_ACT_QUANT.words(act_min=lo_f, act_max=hi_f)
    return c.descriptor(geom, quant)


def _describe_add(c: LayerContext) -> LayerDescriptor:
    """ADD of two run-time tensors of one shape (:data:`~tinymodel.firmware_interface.ADD_S8_QUANT`
    for int8; the second input's arena offset is filled in by :func:`describe_model`)."""
    from tinymodel import requantization as rq

    layer = c.layer
    a, b = layer.inputs[0], layer.inputs[1]
    # shapes that differ only by leading 1s broadcast without repeating anything, e.g. the
    # converter's (1, 1, 1, C) + (C,) after a flatten: the same element-wise ADD in memory
    if (a is None or b is None or a.is_constant or b.is_constant
            or _strip_leading_ones(a.shape) != _strip_leading_ones(b.shape)
            or a.size != layer.output.size):
        raise CodegenError(f"layer {layer.name!r}: ADD needs two run-time inputs of one shape "
                           f"(up to leading 1s)")
    if c.int8:
        s1, z1 = _quant(a, "input")
        s2, z2 = _quant(b, "input")
        p = rq.add_params(s1, z1, s2, z2, c.s_out, c.zp_out)
        lo, hi = rq.activation_range(layer.activation, c.s_out, c.zp_out)
        quant = fi.ADD_S8_QUANT.words(**asdict(p), act_min=lo, act_max=hi)
    else:
        lo_f, hi_f = _act_f32(layer.activation)
        quant = fi.F32_ACT_QUANT.words(act_min=lo_f, act_max=hi_f)
    return c.descriptor(quant=quant)


def _describe_softmax(c: LayerContext) -> LayerDescriptor:
    """SOFTMAX over the last axis (:data:`~tinymodel.firmware_interface.SOFTMAX_S8_QUANT` /
    :data:`~tinymodel.firmware_interface.SOFTMAX_F32_QUANT`)."""
    from tinymodel import requantization as rq

    beta = float(c.layer.options.get("beta", 1.0))
    if c.int8:
        p = rq.softmax_params(beta, c.s_in)
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
        lo_f, hi_f = _act_f32(act)
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
        raise CodegenError(f"layer {layer.name!r}: MEAN is supported over the spatial axes "
                           f"of a 4-D tensor only")
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


#: The descriptor builder of every operator the firmware runs (the keys are
#: :data:`tinymodel.firmware_interface.OP_CODES`'s; a test checks they agree).
DESCRIBERS: dict[OpType, Callable[[LayerContext], LayerDescriptor]] = {
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
}


def describe_layer(layer: Layer, variant: Variant | str,
                   blob: ConstantBlob | None = None) -> LayerDescriptor:
    """The ``tm_layer_desc`` of one layer run with ``variant``'s kernels; its constants (weights,
    bias, per-channel tables) are appended to ``blob`` (a throw-away one when ``None``).

    Arena offsets are left at their defaults (:func:`describe_model` fills them in); blob offsets
    are ``blob``'s.  :class:`UnsupportedError` for an operator without a firmware kernel,
    :class:`CodegenError` for an option the kernels lack or missing quantization / data.
    """
    int8 = Variant.parse(variant).dtype == "int8"
    x, y = layer.input, layer.output
    in4, out4 = _dims4(x.shape), _dims4(y.shape)
    quant: dict[str, float | int] = {}
    if int8:
        quant["s_in"], quant["zp_in"] = _quant(x, "input")
        quant["s_out"], quant["zp_out"] = _quant(y, "output")
    build = DESCRIBERS.get(layer.op)
    if build is None:
        op = layer.op
        name = op.label if op is not OpType.UNSUPPORTED else f"UNSUPPORTED({layer.source_op})"
        raise UnsupportedError(f"layer {layer.name!r}: operator {name} has no firmware kernel")
    ctx = LayerContext(layer, int8, ConstantBlob() if blob is None else blob,
                       fi.OP_CODES[layer.op], in4, out4, **quant)  # type: ignore[arg-type]
    return build(ctx)


def _model_dtype(graph: ModelGraph) -> str:
    dtypes = {t.dtype for layer in graph for t in (*layer.activation_inputs, *layer.outputs)}
    if dtypes <= {"int8"}:
        return "int8"
    if dtypes <= {"float32"}:
        return "float32"
    raise CodegenError(f"{graph.name}: mixed activation dtypes {sorted(dtypes)}; the firmware runs "
                       f"all-int8 or all-float32 networks")


def check_variant(graph: ModelGraph, variant: str) -> None:
    """Raise :class:`CodegenError` unless ``variant`` runs the graph's dtype."""
    names = [v.value for v in Variant]
    if variant not in names:
        raise CodegenError(f"unknown variant {variant!r}; one of {', '.join(names)}")
    dtype = _model_dtype(graph)
    if Variant(variant).dtype != dtype:
        want = " or ".join(v.value for v in Variant if v.dtype == dtype)
        raise CodegenError(f"{graph.name} is a {dtype} model; variant {variant} cannot run it "
                           f"(use {want})")


def scratch_bytes(graph: ModelGraph, variant: str) -> dict[str, int]:
    """Scratch per layer for ``variant``: the SIMD int8 kernels' im2col buffers
    (:func:`tinymodel.costs.analyze`) for ``s8-opt``; the other kernels need none."""
    if Variant.parse(variant) is not Variant.S8_OPT:
        return {}
    from tinymodel.costs import analyze

    cost = analyze(graph)
    return {layer.name: cost.cost(layer).scratch_bytes for layer in graph
            if cost.cost(layer).scratch_bytes > 0}


def describe_model(graph: ModelGraph, variant: str) -> GeneratedModel:
    """Tables, blob and arena plan of ``graph`` for ``variant`` (no files written)."""
    from tinymodel.arena import plan_arena, scratch_name

    check_variant(graph, variant)
    scratch = scratch_bytes(graph, variant)
    plan = plan_arena(graph, scratch)
    blob = ConstantBlob()
    layers = []
    for layer in graph:
        d = describe_layer(layer, variant, blob)
        runtime_inputs = [t for t in layer.inputs if t is not None and not t.is_constant]
        in2 = fi.NO_OFFSET
        if d.op == fi.Op.ADD:
            in2 = plan.offset(runtime_inputs[1].name)
        sname = scratch_name(layer.name)
        has_scratch = sname in plan.buffers
        layers.append(replace(
            d, in_offset=plan.offset(runtime_inputs[0].name), in2_offset=in2,
            out_offset=plan.offset(layer.output.name),
            scratch_offset=plan.offset(sname) if has_scratch else fi.NO_OFFSET,
            scratch_bytes=plan.buffers[sname].size_bytes if has_scratch else 0))

    def tensor(t: TensorSpec) -> ModelTensor:
        scale, zp = (0.0, 0)
        if t.quantization is not None and t.quantization.scale:
            scale, zp = float(t.quantization.scale[0]), int(t.quantization.zero_point[0])
        return ModelTensor(t.name, t.dtype, tuple(int(d) for d in t.shape), t.nbytes,
                           plan.offset(t.name), scale, zp)

    return GeneratedModel(graph.name, variant, tuple(layers), tuple(layer.name for layer in graph),
                          bytes(blob.data), max(plan.peak_bytes, 16),
                          tuple(tensor(t) for t in graph.inputs),
                          tuple(tensor(t) for t in graph.outputs))


# -- C sources -------------------------------------------------------------------------------------

def _c_words(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) if v >= 0 else f"({int(v)})" for v in values)


def _c_str(text: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in " _-.,:/()" else "_" for c in text) + '"'


def _c_tensor(t: ModelTensor) -> str:
    dims = _dims4(t.shape)
    dtype = f"TM_DTYPE_{fi.dtype_code(t.dtype).name}"
    return (f"    {{{dtype}, {len(t.shape)}u, {t.bytes}u, {t.arena_offset}u, "
            f"{{{_c_words(dims)}}}, {float(np.float32(t.scale))!r}f, {t.zero_point}}},"
            f" /* {_c_str(t.name)[1:-1][:60]} */")


def render_c(m: GeneratedModel) -> str:
    """``tm_model_data.c`` for ``m``."""
    lines = [
        f"/* Generated by calibration/codegen.py from {_c_str(m.name)[1:-1]} ({m.variant}): "
        "do not edit. */",
        "#include <stdint.h>",
        '#include "tm_model.h"',
        "",
        f"#define TM_MODEL_LAYERS {len(m.layers)}u",
        f"#define TM_MODEL_ARENA_BYTES {m.arena_bytes}u",
        "",
        "extern const uint8_t tm_model_blob[];",
        "uint8_t tm_model_arena[TM_MODEL_ARENA_BYTES] __attribute__((aligned(16)));",
        "static uint64_t tm_model_cycles[TM_MODEL_LAYERS];",
        "",
        "/* op, flags, in[4], filter[4], out[4], geom[8], quant[12], in, in2, out, scratch,",
        "   scratch_bytes, weights, bias, mult, shift */",
        "const tm_layer_desc tm_model_layers[TM_MODEL_LAYERS] = {",
    ]
    for name, d in zip(m.layer_names, m.layers):
        lines.append(f"    /* {_c_str(name)[1:-1][:70]} */")
        lines.append(f"    {{{int(d.op)}u, {int(d.flags)}u, {{{_c_words(d.input)}}}, "
                     f"{{{_c_words(d.filter)}}}, {{{_c_words(d.output)}}},")
        lines.append(f"     {{{_c_words(d.geom)}}},")
        lines.append(f"     {{{_c_words(d.quant)}}},")
        lines.append("     " + ", ".join(f"{v}u" for v in d.offsets) + "},")
    lines += ["};", "", "static const tm_model_tensor tm_model_inputs[] = {"]
    lines += [_c_tensor(t) for t in m.inputs]
    lines += ["};", "", "static const tm_model_tensor tm_model_outputs[] = {"]
    lines += [_c_tensor(t) for t in m.outputs]
    lines += [
        "};", "",
        "static const tm_model tm_model_instance = {",
        f"    {_c_str(m.name)}, {fi.variant_code(m.variant)}u, TM_MODEL_LAYERS, tm_model_layers,",
        f"    {len(m.inputs)}u, {len(m.outputs)}u, tm_model_inputs, tm_model_outputs,",
        f"    tm_model_blob, {len(m.blob)}u, tm_model_arena, TM_MODEL_ARENA_BYTES, tm_model_cycles,",
        "};", "",
        "const tm_model *tm_model_get(void)", "{", "    return &tm_model_instance;", "}", ""]
    return "\n".join(lines)


BLOB_ASM = f"""/* Generated by calibration/codegen.py: the network's constants, in flash. */
    .section .tm_model, "a"
    .balign {fi.BLOB_ALIGN}
    .global tm_model_blob
    .type tm_model_blob, %object
tm_model_blob:
    .incbin "tm_model_blob.bin"
    .size tm_model_blob, . - tm_model_blob
    .balign 4
    .section .note.GNU-stack, "", %progbits
"""


def generate(graph: ModelGraph, variant: str, out_dir: Path) -> GeneratedModel:
    """Write ``tm_model_data.c``, ``tm_model_blob.S`` and ``tm_model_blob.bin`` into ``out_dir``."""
    m = describe_model(graph, variant)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tm_model_blob.bin").write_bytes(m.blob)
    (out / "tm_model_blob.S").write_text(BLOB_ASM)
    (out / "tm_model_data.c").write_text(render_c(m))
    return m


# -- reading an image back -------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageModel:
    """The network tables as linked into an image (see :func:`read_image_model`)."""

    layers: tuple[LayerDescriptor, ...]
    blob: bytes
    arena_bytes: int


def read_image_model(elf_path: Path) -> ImageModel:
    """Read ``tm_model_layers``, ``tm_model_blob`` and ``tm_model_arena`` out of a linked ELF."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf_path, "rb") as fh:
        elf = ELFFile(fh)
        symbols = {}
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection):
                for s in sec.iter_symbols():
                    if s.name in ("tm_model_layers", "tm_model_blob", "tm_model_arena"):
                        symbols[s.name] = (s["st_value"], s["st_size"])
        missing = {"tm_model_layers", "tm_model_blob", "tm_model_arena"} - symbols.keys()
        if missing:
            raise CodegenError(f"{elf_path}: no linked network (symbol {sorted(missing)[0]} missing)")

        def read(addr: int, size: int) -> bytes:
            for sec in elf.iter_sections():
                start = sec["sh_addr"]
                if sec["sh_type"] != "SHT_NOBITS" and start <= addr and addr + size <= start + sec["sh_size"]:
                    data = sec.data()
                    return data[addr - start:addr - start + size]
            raise CodegenError(f"{elf_path}: address 0x{addr:08x} is not in a loaded section")

        addr, size = symbols["tm_model_layers"]
        raw = read(addr, size)
        words = fi.DESC_WORDS
        layers = tuple(LayerDescriptor.from_words(struct.unpack_from(f"<{words}I", raw,
                                                                     i * 4 * words))
                       for i in range(size // (4 * words)))
        baddr, bsize = symbols["tm_model_blob"]
        blob = read(baddr, bsize) if bsize else b""
        return ImageModel(layers, blob, symbols["tm_model_arena"][1])

