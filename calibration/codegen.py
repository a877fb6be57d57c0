"""Code generation: a :class:`~tinymodel.graph.ModelGraph` as C sources the firmware links.

:func:`generate` writes three files into a directory that ``make MODEL_DIR=...`` compiles:

* ``tm_model_blob.bin`` — every constant the network needs (weights, biases, per-channel
  requantization multipliers and shifts), each 16-byte aligned, little-endian;
* ``tm_model_blob.S`` — puts the blob into flash (section ``.tm_model``) as ``tm_model_blob``;
* ``tm_model_data.c`` — the layer table in execution order (``tm_layer_desc``, one entry per
  layer, same fields as a RUN_LAYER request), the model's input and output tensors, and the
  tensor arena, whose offsets come from :func:`tinymodel.arena.plan_arena` with the kernels'
  scratch sizes from :func:`tinymodel.costs.analyze`.

Quantization parameters are computed with :mod:`tinymodel.requantization` (TFLite's arithmetic).
:func:`read_image_model` reads the tables back out of a linked ELF for verification.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinymodel.errors import TinymodelError, UnsupportedError
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import Activation, OpType, Padding

from calibration.protocol import VARIANT_CODES, Op

NO_OFFSET = 0xFFFFFFFF
FLAG_BIAS = 1
FLAG_PER_CHANNEL = 2
BLOB_ALIGN = 16

#: Words per ``tm_layer_desc``: op, flags, in[4], filter[4], out[4], geom[8], quant[12], and nine
#: offsets.
DESC_WORDS = 2 + 12 + 8 + 12 + 9

_F32_MAX = 3.4028234663852886e38


class CodegenError(TinymodelError):
    """The model cannot be turned into firmware sources (an operator or option the kernels lack)."""


def _f32_bits(v: float) -> int:
    return struct.unpack("<i", struct.pack("<f", float(v)))[0]


def _dims4(shape: Sequence[int]) -> tuple[int, int, int, int]:
    s = tuple(int(d) for d in shape)
    if len(s) > 4:
        raise CodegenError(f"tensor of rank {len(s)} (shape {list(s)}); the kernels take rank <= 4")
    return (1,) * (4 - len(s)) + s  # type: ignore[return-value]


@dataclass(frozen=True)
class LayerDescriptor:
    """One ``tm_layer_desc`` (``firmware/include/tm_runner.h``), all 32-bit words."""

    op: int
    flags: int
    input: tuple[int, int, int, int]
    filter: tuple[int, int, int, int]
    output: tuple[int, int, int, int]
    geom: tuple[int, ...]
    quant: tuple[int, ...]
    in_offset: int = 0
    in2_offset: int = NO_OFFSET
    out_offset: int = 0
    scratch_offset: int = NO_OFFSET
    scratch_bytes: int = 0
    weights_offset: int = NO_OFFSET
    bias_offset: int = NO_OFFSET
    mult_offset: int = NO_OFFSET
    shift_offset: int = NO_OFFSET

    def words(self) -> tuple[int, ...]:
        """The struct's words in order (signed where C has ``int32_t``)."""
        return (self.op, self.flags, *self.input, *self.filter, *self.output, *self.geom,
                *self.quant, self.in_offset, self.in2_offset, self.out_offset,
                self.scratch_offset, self.scratch_bytes, self.weights_offset, self.bias_offset,
                self.mult_offset, self.shift_offset)

    @classmethod
    def from_words(cls, w: Sequence[int]) -> "LayerDescriptor":
        """Inverse of :meth:`words` (the values as read from an image, unsigned)."""
        def s(v: int) -> int:
            return v - (1 << 32) if v >= 1 << 31 else v
        w = list(w)
        return cls(w[0], w[1], tuple(s(v) for v in w[2:6]), tuple(s(v) for v in w[6:10]),
                   tuple(s(v) for v in w[10:14]), tuple(s(v) for v in w[14:22]),
                   tuple(s(v) for v in w[22:34]), *w[34:43])


@dataclass
class _Blob:
    data: bytearray = field(default_factory=bytearray)

    def add(self, raw: bytes) -> int:
        pad = (-len(self.data)) % BLOB_ALIGN
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


def _describe(layer: Layer, int8: bool, blob: _Blob) -> LayerDescriptor:
    """The descriptor of one layer (arena offsets filled in later); constants go to ``blob``."""
    from tinymodel import requantization as rq

    op = layer.op
    x = layer.input
    y = layer.output
    geom = [1, 1, 0, 0, 1, 1, 0, 0]
    quant = [0] * 12
    filt = (0, 0, 0, 0)
    flags = 0
    weights_off = bias_off = mult_off = shift_off = NO_OFFSET
    in4, out4 = _dims4(x.shape), _dims4(y.shape)
    if int8:
        s_in, zp_in = _quant(x, "input")
        s_out, zp_out = _quant(y, "output")
    else:
        s_in = s_out = 1.0
        zp_in = zp_out = 0

    def conv_like(code: Op) -> int:
        nonlocal filt, flags, weights_off, bias_off, mult_off, shift_off
        w = layer.weights
        wdata = _const_data(w, layer, "weights")
        filt = _dims4(w.shape)
        if code is Op.FULLY_CONNECTED:
            n_out, n_in = int(w.shape[0]), int(w.shape[-1])
            batches = x.size // n_in
            nonlocal in4, out4
            in4, out4 = (batches, 1, 1, n_in), (batches, 1, 1, n_out)
            filt = (n_out, n_in, 1, 1)
            channels = n_out
        else:
            k_h, k_w = filt[1], filt[2]
            geom[0], geom[1] = layer.strides
            geom[4], geom[5] = layer.dilation
            if layer.padding is Padding.SAME:
                geom[2] = _same_pads(in4[1], k_h, geom[0], geom[4], out4[1])
                geom[3] = _same_pads(in4[2], k_w, geom[1], geom[5], out4[2])
            if code is Op.DEPTHWISE_CONV_2D:
                geom[6] = int(layer.depth_multiplier)
            channels = out4[3]
        weights_off = blob.add(wdata.astype(np.int8 if int8 else np.float32).tobytes())
        b = layer.bias
        if b is not None:
            bdata = _const_data(b, layer, "bias")
            bias_off = blob.add(bdata.astype(np.int32 if int8 else np.float32).tobytes())
            flags |= FLAG_BIAS
        if int8:
            wq = w.quantization
            if wq is None or not wq.scale:
                raise CodegenError(f"layer {layer.name!r}: weights have no quantization")
            mult, shift = rq.conv_multipliers(s_in, wq.scale, s_out)
            lo, hi = rq.activation_range(layer.activation, s_out, zp_out)
            quant[:4] = [-zp_in, zp_out, lo, hi]
            if len(mult) > 1:
                if len(mult) != channels:
                    raise CodegenError(f"layer {layer.name!r}: {len(mult)} weight scales for "
                                       f"{channels} output channels")
                flags |= FLAG_PER_CHANNEL
                mult_off = blob.add(mult.astype("<i4").tobytes())
                shift_off = blob.add(shift.astype("<i4").tobytes())
                quant[4], quant[5] = int(mult[0]), int(shift[0])
            else:
                quant[4], quant[5] = int(mult[0]), int(shift[0])
        else:
            lo_f, hi_f = _act_f32(layer.activation)
            quant[2], quant[3] = _f32_bits(lo_f), _f32_bits(hi_f)
        return int(code)

    if op is OpType.CONV_2D:
        if layer.groups != 1:
            raise CodegenError(f"layer {layer.name!r}: grouped convolution has no kernel")
        code = conv_like(Op.CONV_2D)
    elif op is OpType.DEPTHWISE_CONV_2D:
        code = conv_like(Op.DEPTHWISE_CONV_2D)
    elif op is OpType.FULLY_CONNECTED:
        code = conv_like(Op.FULLY_CONNECTED)
    elif op in (OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D):
        code = int(Op.AVERAGE_POOL_2D if op is OpType.AVERAGE_POOL_2D else Op.MAX_POOL_2D)
        k_h, k_w = layer.kernel or (1, 1)
        geom[0], geom[1] = layer.strides
        if layer.padding is Padding.SAME:
            geom[2] = _same_pads(in4[1], k_h, geom[0], 1, out4[1])
            geom[3] = _same_pads(in4[2], k_w, geom[1], 1, out4[2])
        geom[6], geom[7] = k_h, k_w
        if int8:
            if (s_in, zp_in) != (s_out, zp_out):
                raise CodegenError(f"layer {layer.name!r}: int8 pooling needs equal input and "
                                   f"output quantization")
            quant[2], quant[3] = rq.activation_range(layer.activation, s_out, zp_out)
        else:
            lo_f, hi_f = _act_f32(layer.activation)
            quant[2], quant[3] = _f32_bits(lo_f), _f32_bits(hi_f)
    elif op is OpType.ADD:
        code = int(Op.ADD)
        a, b = layer.inputs[0], layer.inputs[1]
        # shapes that differ only by leading 1s broadcast without repeating anything, e.g. the
        # converter's (1, 1, 1, C) + (C,) after a flatten: the same element-wise ADD in memory
        if (a is None or b is None or a.is_constant or b.is_constant
                or _strip_leading_ones(a.shape) != _strip_leading_ones(b.shape)
                or a.size != layer.output.size):
            raise CodegenError(f"layer {layer.name!r}: ADD needs two run-time inputs of one shape "
                               f"(up to leading 1s)")
        if int8:
            s1, z1 = _quant(a, "input")
            s2, z2 = _quant(b, "input")
            p = rq.add_params(s1, z1, s2, z2, s_out, zp_out)
            lo, hi = rq.activation_range(layer.activation, s_out, zp_out)
            quant = [p.input1_offset, p.input2_offset, p.output_offset, p.left_shift,
                     p.input1_multiplier, p.input1_shift, p.input2_multiplier, p.input2_shift,
                     p.output_multiplier, p.output_shift, lo, hi]
        else:
            lo_f, hi_f = _act_f32(layer.activation)
            quant[2], quant[3] = _f32_bits(lo_f), _f32_bits(hi_f)
    elif op is OpType.SOFTMAX:
        code = int(Op.SOFTMAX)
        beta = float(layer.options.get("beta", 1.0))
        if int8:
            p = rq.softmax_params(beta, s_in)
            quant[:3] = [p.input_multiplier, p.input_left_shift, p.diff_min]
        else:
            quant[0] = _f32_bits(beta)
    elif op in (OpType.RELU, OpType.RELU6):
        code = int(Op.RELU)
        act = Activation.RELU if op is OpType.RELU else Activation.RELU6
        if int8:
            m, e = rq.requantize_multiplier(s_in, s_out)
            lo, hi = rq.activation_range(act, s_out, zp_out)
            quant[:6] = [-zp_in, zp_out, lo, hi, m, e]
        else:
            lo_f, hi_f = _act_f32(act)
            quant[2], quant[3] = _f32_bits(lo_f), _f32_bits(hi_f)
    elif op is OpType.RESHAPE:
        code = int(Op.RESHAPE)
    elif op is OpType.MEAN:
        code = int(Op.MEAN)
        axes = tuple(sorted(int(a) % 4 for a in layer.options.get("axes", (1, 2))))
        if len(x.shape) != 4 or axes != (1, 2):
            raise CodegenError(f"layer {layer.name!r}: MEAN is supported over the spatial axes "
                               f"of a 4-D tensor only")
        out4 = (in4[0], 1, 1, in4[3])
        if int8:
            # TFLite's folding of 1/(H·W) into the s_in/s_out multiplier (not the quantized
            # s_in/(s_out·H·W), which is off by one for many H·W), see rq.mean_multiplier.
            m, e = rq.mean_multiplier(s_in, s_out, in4[1] * in4[2])
            quant[:6] = [-zp_in, zp_out, -128, 127, m, e]
        else:
            quant[2], quant[3] = _f32_bits(-_F32_MAX), _f32_bits(_F32_MAX)
    else:
        name = op.label if op is not OpType.UNSUPPORTED else f"UNSUPPORTED({layer.source_op})"
        raise UnsupportedError(f"layer {layer.name!r}: operator {name} has no firmware kernel")
    return LayerDescriptor(code, flags, tuple(in4), tuple(filt), tuple(out4), tuple(geom),
                           tuple(quant), weights_offset=weights_off, bias_offset=bias_off,
                           mult_offset=mult_off, shift_offset=shift_off)


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
    if variant not in VARIANT_CODES:
        raise CodegenError(f"unknown variant {variant!r}; one of {', '.join(VARIANT_CODES)}")
    dtype = _model_dtype(graph)
    ok = variant.startswith("s8") if dtype == "int8" else variant.startswith("f32")
    if not ok:
        want = "s8-ref or s8-opt" if dtype == "int8" else "f32-soft or f32"
        raise CodegenError(f"{graph.name} is a {dtype} model; variant {variant} cannot run it "
                           f"(use {want})")


def scratch_bytes(graph: ModelGraph, variant: str) -> dict[str, int]:
    """Scratch per layer for ``variant``: the SIMD int8 kernels' im2col buffers
    (:func:`tinymodel.costs.analyze`) for ``s8-opt``; the other kernels need none."""
    if variant != "s8-opt":
        return {}
    from tinymodel.costs import analyze

    cost = analyze(graph)
    return {layer.name: cost.cost(layer).scratch_bytes for layer in graph
            if cost.cost(layer).scratch_bytes > 0}


def describe_model(graph: ModelGraph, variant: str) -> GeneratedModel:
    """Tables, blob and arena plan of ``graph`` for ``variant`` (no files written)."""
    from tinymodel.arena import plan_arena, scratch_name

    check_variant(graph, variant)
    int8 = variant.startswith("s8")
    scratch = scratch_bytes(graph, variant)
    plan = plan_arena(graph, scratch)
    blob = _Blob()
    layers = []
    for layer in graph:
        d = _describe(layer, int8, blob)
        runtime_inputs = [t for t in layer.inputs if t is not None and not t.is_constant]
        in2 = NO_OFFSET
        if d.op == Op.ADD:
            in2 = plan.offset(runtime_inputs[1].name)
        sname = scratch_name(layer.name)
        has_scratch = sname in plan.buffers
        layers.append(LayerDescriptor(
            d.op, d.flags, d.input, d.filter, d.output, d.geom, d.quant,
            in_offset=plan.offset(runtime_inputs[0].name), in2_offset=in2,
            out_offset=plan.offset(layer.output.name),
            scratch_offset=plan.offset(sname) if has_scratch else NO_OFFSET,
            scratch_bytes=plan.buffers[sname].size_bytes if has_scratch else 0,
            weights_offset=d.weights_offset, bias_offset=d.bias_offset,
            mult_offset=d.mult_offset, shift_offset=d.shift_offset))

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
    dtype = "TM_DTYPE_S8" if t.dtype == "int8" else "TM_DTYPE_F32"
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
        w = d.words()
        lines.append(f"    /* {_c_str(name)[1:-1][:70]} */")
        lines.append(f"    {{{w[0]}u, {w[1]}u, {{{_c_words(w[2:6])}}}, {{{_c_words(w[6:10])}}}, "
                     f"{{{_c_words(w[10:14])}}},")
        lines.append(f"     {{{_c_words(w[14:22])}}},")
        lines.append(f"     {{{_c_words(w[22:34])}}},")
        lines.append("     " + ", ".join(f"{v}u" for v in w[34:43]) + "},")
    lines += ["};", "", "static const tm_model_tensor tm_model_inputs[] = {"]
    lines += [_c_tensor(t) for t in m.inputs]
    lines += ["};", "", "static const tm_model_tensor tm_model_outputs[] = {"]
    lines += [_c_tensor(t) for t in m.outputs]
    lines += [
        "};", "",
        "static const tm_model tm_model_instance = {",
        f"    {_c_str(m.name)}, {VARIANT_CODES[m.variant]}u, TM_MODEL_LAYERS, tm_model_layers,",
        f"    {len(m.inputs)}u, {len(m.outputs)}u, tm_model_inputs, tm_model_outputs,",
        f"    tm_model_blob, {len(m.blob)}u, tm_model_arena, TM_MODEL_ARENA_BYTES, tm_model_cycles,",
        "};", "",
        "const tm_model *tm_model_get(void)", "{", "    return &tm_model_instance;", "}", ""]
    return "\n".join(lines)


BLOB_ASM = """/* Generated by calibration/codegen.py: the network's constants, in flash. */
    .section .tm_model, "a"
    .balign 16
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
        n = size // (4 * DESC_WORDS)
        layers = tuple(LayerDescriptor.from_words(struct.unpack_from(f"<{DESC_WORDS}I", raw,
                                                                     i * 4 * DESC_WORDS))
                       for i in range(n))
        baddr, bsize = symbols["tm_model_blob"]
        blob = read(baddr, bsize) if bsize else b""
        return ImageModel(layers, blob, symbols["tm_model_arena"][1])

