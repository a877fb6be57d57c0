"""Code generation: a :class:`~tinymodel.graph.ModelGraph` as C sources the firmware links.

:func:`generate` writes three files into a directory that ``make MODEL_DIR=...`` compiles:

* ``tm_model_blob.bin`` — every constant the network needs (weights, biases, per-channel
  requantization multipliers and shifts), each 16-byte aligned, little-endian;
* ``tm_model_blob.S`` — puts the blob into flash (section ``.tm_model``) as ``tm_model_blob``;
* ``tm_model_data.c`` — the layer table in execution order (``tm_layer_desc``, one entry per
  firmware layer, several for a graph layer that runs as several; same fields as a RUN_LAYER
  request), the model's input and output tensors, and the
  tensor arena, whose offsets come from :func:`tinymodel.arena.plan_arena` with the kernels'
  scratch sizes from :func:`tinymodel.costs.analyze`.  A constant a kernel reads from the arena
  (:func:`tinymodel.descriptors.arena_constant`: the zero initial state of an open-batch LSTM /
  GRU that its recurrent dense layer reads) has a buffer the planner keeps for the whole
  inference; its bytes are the arena's initial value (:attr:`GeneratedModel.arena_init`): all
  zero, the arena stays in ``.bss`` (zeroed at reset); otherwise the arena is initialised data
  the reset code copies from flash, so every INFER reads the same constant.

Each layer is described by the core's rule, :func:`tinymodel.descriptors.describe_layer` (the
builder :data:`~tinymodel.descriptors.DESCRIBERS` holds for its operator; also what a RUN_LAYER
request is made of and what ``tinymodel predict`` checks deployability with): shapes, the
``geom[]`` and ``quant[]`` slots filled by name, flags, and the constants it appends to the
:class:`~tinymodel.descriptors.ConstantBlob`; :func:`~tinymodel.descriptors.check_variant`
refuses a model whose dtypes the firmware cannot run.  This module adds the arena offsets, the
blob and the C rendering.  :func:`read_image_model` reads the tables back out of a linked ELF for
verification.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import tinymodel.firmware_interface as fi
from calibration.firmware import write_if_changed
from tinymodel.descriptors import (
    DESCRIBERS,
    ConstantBlob,
    DeployError,
    LayerContext,
    check_loops,
    check_variant,
    describe_layer,
    describe_pieces,
    dims4,
)
from tinymodel.dispatch import Variant
from tinymodel.firmware_interface import LayerDescriptor
from tinymodel.graph import ModelGraph, TensorSpec


#: The error of describing a model for the firmware: the core's
#: :class:`tinymodel.descriptors.DeployError` (it names the layer and the rule), under the name
#: this module's callers know; also raised when an image has no linked network.
CodegenError = DeployError


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
    """What :func:`describe_model` computed: the tables and the blob, before any file is written.

    ``layers`` are the firmware layers in execution order and ``layer_names`` the graph layer
    each belongs to: a layer that runs as several firmware layers
    (:func:`tinymodel.descriptors.describe_pieces`: CONCATENATION, SPLIT, ...) repeats its name,
    and whatever maps the image's per-layer cycles back to graph layers sums them
    (:func:`graph_layer_cycles`, :func:`graph_layer_names`)."""

    name: str
    variant: str
    layers: tuple[LayerDescriptor, ...]
    layer_names: tuple[str, ...]
    blob: bytes
    arena_bytes: int
    inputs: tuple[ModelTensor, ...]
    outputs: tuple[ModelTensor, ...]
    #: ``(arena offset, bytes)`` of every constant the kernels read from the arena
    #: (:func:`tinymodel.arena.arena_constants`): the arena's initial value there.
    arena_init: tuple[tuple[int, bytes], ...] = ()


def scratch_bytes(graph: ModelGraph, variant: str) -> dict[str, int]:
    """Scratch per layer for ``variant`` (:func:`tinymodel.dispatch.scratch_bytes`, the C kernels'
    ``*_scratch_bytes``): the SIMD int8 kernels' im2col buffers for ``s8-opt``, the int32
    accumulators of the s8-ref TRANSPOSE_CONV; layers that need none are left out."""
    from tinymodel.dispatch import scratch_bytes as layer_scratch_bytes

    v = Variant.parse(variant)
    out = {layer.name: layer_scratch_bytes(layer, v) for layer in graph}
    return {name: n for name, n in out.items() if n > 0}


def describe_model(graph: ModelGraph, variant: str) -> GeneratedModel:
    """Tables, blob and arena plan of ``graph`` for ``variant`` (no files written)."""
    from tinymodel.arena import (arena_constants, constant_bytes, image_arena_bytes, plan_arena,
                                 scratch_name)

    check_loops(graph)
    check_variant(graph, variant)
    scratch = scratch_bytes(graph, variant)
    plan = plan_arena(graph, scratch)
    blob = ConstantBlob()
    layers = []
    names = []
    for layer in graph:
        runtime_inputs = [t for t in layer.inputs if t is not None and not t.is_constant]
        sname = scratch_name(layer.name)
        has_scratch = sname in plan.buffers
        for piece in describe_pieces(layer, variant, blob):
            d = piece.descriptor
            in2 = fi.NO_OFFSET
            if d.op in fi.TWO_INPUT_OPS and not d.flags & fi.LayerFlag.CONST_OPERAND:
                in2 = plan.offset(runtime_inputs[1].name)
            layers.append(replace(
                d, in_offset=plan.offset(piece.input.name), in2_offset=in2,
                out_offset=plan.offset(piece.output.name),
                scratch_offset=plan.offset(sname) if has_scratch else fi.NO_OFFSET,
                scratch_bytes=plan.buffers[sname].size_bytes if has_scratch else 0))
            names.append(layer.name)

    def tensor(t: TensorSpec) -> ModelTensor:
        scale, zp = (0.0, 0)
        if t.quantization is not None and t.quantization.scale:
            scale, zp = float(t.quantization.scale[0]), int(t.quantization.zero_point[0])
        return ModelTensor(t.name, t.dtype, tuple(int(d) for d in t.shape), t.nbytes,
                           plan.offset(t.name), scale, zp)

    init = tuple((plan.offset(c.name), constant_bytes(c)) for c in arena_constants(graph))
    return GeneratedModel(graph.name, variant, tuple(layers), tuple(names),
                          bytes(blob.data), image_arena_bytes(plan.peak_bytes),
                          tuple(tensor(t) for t in graph.inputs),
                          tuple(tensor(t) for t in graph.outputs), init)


def graph_layer_cycles(layer_names: Sequence[str], cycles: Sequence[float]) -> list[float]:
    """Per-graph-layer values (cycles, energy) from the image's per-firmware-layer ones: the
    firmware layers of one graph layer (consecutive entries of ``layer_names`` with its name,
    :attr:`GeneratedModel.layer_names`) summed, in execution order."""
    if len(layer_names) != len(cycles):
        raise CodegenError(f"{len(cycles)} per-layer values for {len(layer_names)} firmware "
                           f"layers")
    out: list[float] = []
    previous = None
    for i, (name, c) in enumerate(zip(layer_names, cycles)):
        if i > 0 and name == previous:
            out[-1] += c
        else:
            out.append(c)
        previous = name
    return out


def graph_layer_names(layer_names: Sequence[str]) -> tuple[str, ...]:
    """The graph layers of an image's layer table, in order (each firmware layer's name, runs of
    one name once)."""
    return tuple(n for i, n in enumerate(layer_names) if i == 0 or layer_names[i - 1] != n)


# -- C sources -------------------------------------------------------------------------------------

def _c_words(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) if v >= 0 else f"({int(v)})" for v in values)


def _c_str(text: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in " _-.,:/()" else "_" for c in text) + '"'


def _c_tensor(t: ModelTensor) -> str:
    dims = dims4(t.shape)
    dtype = f"TM_DTYPE_{fi.dtype_code(t.dtype).name}"
    return (f"    {{{dtype}, {len(t.shape)}u, {t.bytes}u, {t.arena_offset}u, "
            f"{{{_c_words(dims)}}}, {float(np.float32(t.scale))!r}f, {t.zero_point}}},"
            f" /* {_c_str(t.name)[1:-1][:60]} */")


def _c_arena(m: GeneratedModel) -> str:
    """The arena's definition: in ``.bss`` unless a constant in it has a non-zero byte, then
    with those bytes as designated initialisers (initialised data, copied from flash at reset)."""
    decl = "uint8_t tm_model_arena[TM_MODEL_ARENA_BYTES] __attribute__((aligned(16)))"
    if not any(any(data) for _, data in m.arena_init):
        return decl + ";"
    parts = [f"[{offset}] = {', '.join(str(b) for b in data)}"
             for offset, data in m.arena_init if data]
    return decl + " = {\n    " + ",\n    ".join(parts) + ",\n};"


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
        _c_arena(m),
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
    return write_model(describe_model(graph, variant), out_dir)


def write_model(m: GeneratedModel, out_dir: Path) -> GeneratedModel:
    """Write the sources of ``m`` (a network described by :func:`describe_model`, or a
    calibration network of :mod:`calibration.context`) into ``out_dir``; returns ``m``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tm_model_blob.bin").write_bytes(m.blob)
    (out / "tm_model_blob.S").write_text(BLOB_ASM)
    (out / "tm_model_data.c").write_text(render_c(m))
    return m


def sync_dir(src: Path, dst: Path) -> None:
    """Copy the files of ``src`` into ``dst``, rewriting only those whose bytes changed, each
    replaced whole (:func:`calibration.firmware.write_if_changed`)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        write_if_changed(dst / f.name, f.read_bytes())


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


__all__ = ["BLOB_ASM", "DESCRIBERS", "CodegenError", "ConstantBlob", "GeneratedModel",
           "ImageModel", "LayerContext", "ModelTensor", "check_variant", "describe_layer",
           "describe_model", "generate", "graph_layer_cycles", "graph_layer_names", "read_image_model", "render_c",
           "scratch_bytes", "sync_dir", "write_model"]
