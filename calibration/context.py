"""Calibration in network context: plan points measured as the layers of generated networks.

A layer timed alone with RUN_LAYER reads its weights from the benchmark image's reserved flash
region and its per-channel multipliers from a RAM copy, right after the same layer ran (warm-up)
or after the host request's handling.  Inside a deployed network it reads weights, bias and
per-channel tables from the model's blob in flash, at the blob's offsets, after *another* layer
whose code and data went through the same caches.  On the L4 (4 flash wait states behind an
8-line ART data cache) the difference reaches +34 % for a large 1×1 convolution
(docs/validation.md).  So the calibration measures every point the way a deployed network runs it:

1. **Pack** (:func:`plan_networks`).  The variant's points still to measure (the plan's cold
   twins excepted: in a network every layer starts after another layer) are put into one seeded
   random order — so a layer's predecessor is any operator of the plan, as in a real network,
   not its sweep neighbour — and cut into *calibration networks* of at most
   :data:`MAX_NETWORK_LAYERS` layers whose image fits the board (:func:`fits`).  The packing
   depends only on the points, the variant and the board; a resumed run (or a plan grown by new
   sections) packs the points the log lacks, so nothing is measured twice.
2. **Describe** (:func:`describe_network`).  Each point becomes one firmware layer described by
   the core's rule (:func:`tinymodel.descriptors.describe_layer`) into one constant blob, exactly
   as :func:`calibration.codegen.describe_model` does for a converted model: same blob format,
   16-byte alignment, per-channel tables in flash.  The layers are not connected: every layer
   reads its input from an arena region that holds seeded random data of its dtype, drawn as the
   network's :class:`DataProfile` says (uniform codes, ReLU-like or normal around a zero point,
   with the MAC layers' input zero point and bias to match), a second input from a second such
   region, and writes its output and scratch to shared regions after them.  The input regions are the
   arena's initial image (copied from flash at reset), nothing writes over them, so every
   inference sees the same data and no input has to be sent.
3. **Measure** (:func:`measure_network`).  The network is built into an image like ``tinymodel
   deploy`` builds one (:func:`calibration.firmware.build_image`), the board is connected to it
   (a virtual board started on the image, or a real board flashed with pyOCD first), its timing
   state reset, and RUN_MODEL runs ``warmups`` untimed inferences and then ``reps`` timed ones,
   each a RUN_MODEL of one inference.  Each layer's cycles per timed inference are its samples.
   A network the board refuses (a layer it answers ``NO_FIT`` / ``UNSUPPORTED`` / ``KERNEL``
   for) is split in halves and measured again, down to a single layer, which is logged as a
   ``skip`` record; an image the linker finds too big is split the same way.

Records are ``layer`` records as :func:`calibration.harness.measure_point` writes them, plus
``context: "network"``, ``network`` (the calibration network's id), ``position`` (its index in
the network), ``network_layers``, ``previous_op`` and ``image_build_id`` (what HELLO of the
network's image answered).  Their ``firmware`` field names the firmware build without a network
(the benchmark image's id, as RUN_LAYER records do), so a table names the firmware it holds for.
"""

from __future__ import annotations

import logging
import zlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import tinymodel.firmware_interface as fi
from calibration.plans import PlanPoint
from tinymodel.dispatch import Variant
from tinymodel.features import CODE_PROFILES
from tinymodel.text import counted

log = logging.getLogger(__name__)

#: The calibration contexts: ``network`` (this module) and ``layer`` (RUN_LAYER alone,
#: :func:`calibration.harness.measure_point`).
CONTEXTS = ("network", "layer")
#: Most layers in one calibration network: enough that few images are built, few enough that a
#: network the board refuses is split in a few steps.
MAX_NETWORK_LAYERS = 48
#: The seed of the packing order (a fixed fact of the method, so every run packs alike).
PACKING_SEED = 18
#: Share of the points packed in **grouped** networks (layers ordered by operator, so a kernel
#: runs again right after itself and finds its code in the instruction cache, as in a network
#: of repeated blocks or cells); the others go to **mixed** networks in the seeded random order,
#: where a kernel usually follows others that evicted its code.  The point's share is decided
#: by its key, so it is the same in every run.
GROUPED_SHARE = 0.5
#: Share of the board's free flash and RAM a calibration network may take (the rest is margin
#: for what :func:`fits` does not count exactly; the linker stays the backstop).
BUDGET_SHARE = 0.9
#: float32 inputs are uniform in ``[-FLOAT_INPUT_RANGE, FLOAT_INPUT_RANGE)``.
FLOAT_INPUT_RANGE = 1.0


class ContextError(Exception):
    """A point that cannot be part of a calibration network (it is logged as a ``skip``)."""


# -- one point as a network layer ------------------------------------------------------------------

@dataclass(frozen=True)
class NetLayer:
    """A plan point as a firmware layer: its descriptor (blob offsets relative to its own
    constants) and the bytes it reads and writes."""

    point: PlanPoint
    descriptor: fi.LayerDescriptor
    constants: bytes          # the layer's own blob (weights, bias, per-channel tables)
    in_dtype: str
    in_bytes: int
    in2_dtype: str | None
    in2_bytes: int
    out_dtype: str
    out_bytes: int
    scratch_bytes: int
    path: str                 # tinymodel.dispatch.kernel_path of the layer
    estimated_cycles: float   # calibration.requests.estimated_cycles (for the timeout)
    #: reads uniform codes whatever the network's profile (:data:`UNIFORM_DATA_OPS`)
    uniform_data: bool = False
    #: the fused activation it runs (:func:`_profiled` draws it for an int8 MAC layer)
    activation: str = "none"
    #: ``per-channel`` / ``per-tensor`` weight scales of an int8 MAC layer, else ``None``
    weight_quantization: str | None = None


def _align(n: int) -> int:
    return -(-n // fi.BLOB_ALIGN) * fi.BLOB_ALIGN


# -- data profiles ----------------------------------------------------------------------------------

#: How the layers of one calibration network see their data (:func:`network_profile`): a
#: layer's cost on the boards' small instruction caches depends on which branches its
#: requantization takes, i.e. on the signs of its accumulators, which follow from the input
#: data, the input zero point and the bias (docs/calibration.md, "Data profiles").
PROFILES = CODE_PROFILES
#: int8 operators that always read uniform codes, whatever the network's profile: their
#: value-dependent cost is a feature computed for uniform codes
#: (:func:`tinymodel.features.fast_elements` of a SOFTMAX), so their data must be what it
#: assumes.  LOGISTIC and TANH read the profile's codes: their features are expectations over
#: the codes the record names (``input_data``, :func:`tinymodel.features.input_code_weights`).
UNIFORM_DATA_OPS = ("SOFTMAX",)
#: Operators whose input zero point and bias a profile sets (their kernels add the input offset
#: and the bias to every accumulator).
PROFILED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
#: Spread of a profile's codes around the zero point (int8 codes; float32 values are
#: ``spread / 64``), drawn log-uniformly between these.
SPREAD_CODES = (8.0, 64.0)
#: A folded bias (a BatchNormalization folded into the layer, as the converter writes it) is
#: normal with this many times the accumulator's typical size ``sqrt(K) · 64 · 64``.
FOLDED_BIAS_SCALE = 4.0
#: A profiled MAC layer's input scale and per-channel weight scales are drawn log-uniformly from
#: these ranges (converted models: activations 0.002-0.1, per-channel weights 0.0005-0.02), so
#: its requantization multipliers and shifts vary as a real network's do instead of all being
#: those of the spec's fixed scales.  Its output scale and zero point are not drawn: they follow
#: from its accumulators as a converter sets them (:func:`converter_output_quantization`).
ACTIVATION_SCALES = (0.002, 0.1)
WEIGHT_SCALES = (0.0005, 0.02)
#: A profiled MAC layer's fused activation, drawn with equal chance (converted CNNs fuse ReLU or
#: ReLU6 into most convolutions; a linear bottleneck or a last layer has none).
FUSED_ACTIVATIONS = ("none", "relu", "relu6")
#: Share of profiled int8 MAC layers whose weights are quantized per tensor (one scale), as
#: older converters quantized dense layers (the MLPerf Tiny AD model), instead of per output
#: channel (TFLite's default for convolutions, and for dense layers since TF 2.x): each
#: output then reads no multiplier and shift of its own (``per_channel_outputs``).
PER_TENSOR_SHARE = 0.25
#: Output positions whose accumulators :func:`converter_output_quantization` samples (the
#: converter's representative data set).
RANGE_SAMPLES = 256


@dataclass(frozen=True)
class DataProfile:
    """One calibration network's data: ``uniform`` (int8 codes uniform over the range, float32
    uniform in [−1, 1), the layers as the spec builds them: zero point 0, small biases),
    ``relu`` (codes ``zero_point + |N(0, spread)|`` with zero point −128, as after a ReLU;
    float32 ``max(0, N)``, half exact zeros; folded biases) or ``normal`` (codes ``N(zero_point, spread)`` around a random zero point,
    folded biases)."""

    name: str
    zero_point: int = 0
    spread: float = 0.0
    folded_bias: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "zero_point": self.zero_point,
                "spread": round(self.spread, 3), "folded_bias": self.folded_bias}


#: The profile of the regions :data:`UNIFORM_DATA_OPS` read.
UNIFORM = DataProfile("uniform")


def network_profile(keys: Sequence[str]) -> DataProfile:
    """The profile of the network of the points ``keys``: one of :data:`PROFILES` with equal
    chance, seeded by the keys (the same network gets the same profile in any run)."""
    rng = np.random.default_rng(zlib.crc32(("profile\n" + "\n".join(keys)).encode()))
    name = PROFILES[int(rng.integers(len(PROFILES)))]
    if name == "uniform":
        return DataProfile(name)
    spread = float(np.exp(rng.uniform(np.log(SPREAD_CODES[0]), np.log(SPREAD_CODES[1]))))
    zp = -128 if name == "relu" else int(rng.integers(-100, 101))
    return DataProfile(name, zp, spread, True)


def _int8_codes(profile: DataProfile, shape, rng: np.random.Generator) -> np.ndarray:
    """int8 codes (as int64 or float values) drawn as ``profile`` says: uniform over the range,
    or ``N(zero_point, spread)`` (``relu``: the zero point plus ``|N(0, spread)|``) rounded and
    clipped to the range."""
    if profile.name == "uniform":
        return rng.integers(-128, 128, size=shape, dtype=np.int64)
    draw = rng.normal(0.0, profile.spread, size=shape)
    if profile.name == "relu":
        draw = np.abs(draw)
    return np.clip(np.round(draw + profile.zero_point), -128, 127)


def _accumulators(layer, profile: DataProfile, rng: np.random.Generator) -> np.ndarray:
    """``(RANGE_SAMPLES, output channels)`` accumulators of ``layer`` (bias included) on inputs
    drawn as ``profile``: every tap inside the input (border positions' padding is ignored; a
    transposed convolution's every tap is counted, an upper bound of its stride's overlap)."""
    zp = int(layer.input.quantization.zero_point[0]) if layer.input.quantization.zero_point else 0
    w = np.asarray(layer.weights.data, dtype=np.float64)   # exact: |acc| < 2^53
    if layer.op.label == "DEPTHWISE_CONV_2D":          # (1, kh, kw, C)
        taps = w.reshape(-1, w.shape[-1])
        x = _int8_codes(profile, (RANGE_SAMPLES,) + taps.shape, rng) - zp
        acc = np.einsum("ntc,tc->nc", x, taps)
    else:                                              # (C, ...): conv, transposed conv, dense
        flat = w.reshape(w.shape[0], -1)
        acc = (_int8_codes(profile, (RANGE_SAMPLES, flat.shape[1]), rng) - zp) @ flat.T
    bias = layer.bias
    if bias is not None and bias.data is not None:
        acc = acc + np.asarray(bias.data, dtype=np.float64).reshape(1, -1)
    return acc


def converter_output_quantization(layer, profile: DataProfile,
                                  rng: np.random.Generator) -> tuple[float, int]:
    """``(scale, zero point)`` of ``layer``'s int8 output as the TFLite converter sets them: the
    float range of the outputs on representative data (here :func:`_accumulators` times the input
    and weight scales), widened to contain 0, cut at 0 by a fused ReLU / ReLU6 and at 6 by a
    ReLU6, spread over the 256 codes (the asymmetric int8 activation rule of the TensorFlow Lite
    quantization specification)."""
    y = (_accumulators(layer, profile, rng)
         * float(layer.input.quantization.scale[0])
         * np.asarray(layer.weights.quantization.scale, dtype=np.float64).reshape(1, -1))
    lo, hi = min(0.0, float(y.min())), max(0.0, float(y.max()))
    act = layer.activation.value
    if act in ("relu", "relu6"):
        lo = 0.0
    if act == "relu6":
        hi = min(hi, 6.0)
    if hi - lo <= 1e-9:
        hi = lo + 1e-3
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def _profiled(layer, profile: DataProfile | None, key: str):
    """``layer`` (an int8 MAC layer; others unchanged) as a converted network's layer reading
    ``profile``'s data: a fused activation drawn from :data:`FUSED_ACTIVATIONS`, weights per
    tensor for :data:`PER_TENSOR_SHARE` of them (else per channel, as the spec builds them), the output
    scale and zero point a converter would give it (:func:`converter_output_quantization`); in
    the ``relu`` / ``normal`` profiles also the profile's input zero point, drawn input and
    per-channel weight scales and a folded bias.  (Of these its features depend only on the
    activation: :func:`tinymodel.features.clamps`.)"""
    import dataclasses

    from tinymodel.graph import Quantization, per_tensor_weights
    from tinymodel.ops import Activation

    if profile is None or layer.input.dtype != "int8" or layer.op.label not in PROFILED_OPS:
        return layer
    rng = np.random.default_rng(zlib.crc32(("quant\n" + key).encode()))

    def log_uniform(bounds: tuple[float, float], size: int | None = None):
        return np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]), size))

    inputs = list(layer.inputs)
    if profile.folded_bias:
        pos = layer.op.operands.data
        x = inputs[pos]
        if x is not None and x.quantization is not None and x.quantization.scale:
            inputs[pos] = dataclasses.replace(
                x, quantization=Quantization((float(log_uniform(ACTIVATION_SCALES)),),
                                             (profile.zero_point,)))
        w = layer.weights
        if w is not None and w.quantization is not None and len(w.quantization.scale) > 1:
            scales = tuple(float(s) for s in log_uniform(WEIGHT_SCALES, len(w.quantization.scale)))
            i = next(i for i, t in enumerate(inputs) if t is w)
            inputs[i] = dataclasses.replace(w, quantization=Quantization(
                scales, w.quantization.zero_point, w.quantization.axis))
        bias = layer.bias
        if bias is not None and bias.data is not None:
            ws = layer.weights.shape
            k = (int(np.prod(ws[1:])) if layer.op.label != "DEPTHWISE_CONV_2D"
                 else int(ws[1] * ws[2]))
            values = rng.normal(0.0, FOLDED_BIAS_SCALE * np.sqrt(k) * 64 * 64, bias.shape)
            values = np.clip(np.round(values), -(2 ** 31) + 1, 2 ** 31 - 1).astype(np.int32)
            i = next(i for i, t in enumerate(inputs) if t is bias)
            inputs[i] = dataclasses.replace(bias, data=values)
    activation = Activation(FUSED_ACTIVATIONS[int(rng.integers(len(FUSED_ACTIVATIONS)))])
    per_tensor = rng.random() < PER_TENSOR_SHARE
    layer = dataclasses.replace(layer, inputs=tuple(inputs), activation=activation)
    w = layer.weights
    if per_tensor and w is not None and w.quantization is not None and len(w.quantization.scale) > 1:
        layer = per_tensor_weights(layer)
    y = layer.outputs[0]
    if y.quantization is None or not y.quantization.scale:
        return layer
    scale, zp = converter_output_quantization(layer, profile, rng)
    return dataclasses.replace(layer, outputs=(dataclasses.replace(
        y, quantization=Quantization((scale,), (zp,))),) + tuple(layer.outputs[1:]))


def weight_quantization(layer) -> str | None:
    """``per-channel`` or ``per-tensor`` for an int8 layer with quantized weights, else
    ``None`` (what a record names in ``weight_quantization``)."""
    w = layer.weights
    if (layer.input is None or layer.input.dtype != "int8" or w is None
            or w.quantization is None or not w.quantization.scale):
        return None
    return "per-channel" if len(w.quantization.scale) > 1 else "per-tensor"


def net_layer(point: PlanPoint, variant: Variant | str,
              profile: DataProfile | None = None) -> NetLayer:
    """Describe ``point`` for ``variant`` as :func:`calibration.codegen.describe_model` would
    describe the same layer of a model, with ``profile``'s zero point and bias.
    :class:`ContextError` when the core's rule refuses it."""
    from calibration.requests import estimated_cycles, point_layer
    from tinymodel.descriptors import ConstantBlob, describe_layer
    from tinymodel.dispatch import kernel_path, scratch_bytes
    from tinymodel.errors import TinymodelError

    v = Variant.parse(variant)
    try:
        layer = _profiled(point_layer(point.spec, v), profile, point.key)
        blob = ConstantBlob()
        d = describe_layer(layer, v, blob)
        scratch = scratch_bytes(layer, v)
        path = kernel_path(layer, v).value
        cycles = estimated_cycles(layer, v)
    except TinymodelError as e:
        raise ContextError(str(e)) from None
    x = layer.activation_inputs[0] if layer.activation_inputs else layer.input
    runtime = [t for t in layer.inputs if t is not None and not t.is_constant]
    second = None
    if d.op in fi.TWO_INPUT_OPS and not d.flags & fi.LayerFlag.CONST_OPERAND:
        second = runtime[1] if len(runtime) > 1 else runtime[0]
    return NetLayer(point, d, bytes(blob.data), x.dtype, int(x.nbytes),
                    None if second is None else second.dtype,
                    0 if second is None else int(second.nbytes), layer.output.dtype,
                    int(layer.output.nbytes), scratch, path, cycles,
                    x.dtype == "int8" and layer.op.label in UNIFORM_DATA_OPS,
                    layer.activation.value, weight_quantization(layer))


# -- the arena of a calibration network ------------------------------------------------------------

@dataclass(frozen=True)
class ArenaLayout:
    """Region offsets of a calibration network's arena: one input region per ``(slot, dtype,
    uniform)`` (slot 0 the first input, 1 the second; ``uniform``: data for
    :data:`UNIFORM_DATA_OPS`), then the shared output and scratch regions."""

    inputs: Mapping[tuple[int, str, bool], tuple[int, int]]   # -> (offset, bytes)
    out_offset: int
    scratch_offset: int
    arena_bytes: int

    @property
    def image_bytes(self) -> int:
        """Bytes of the arena's initial image (its input regions are initialised data)."""
        return self.arena_bytes if self.inputs else 0


def arena_layout(layers: Sequence[NetLayer]) -> ArenaLayout:
    """The regions ``layers`` need: each input region as large as the largest input of that
    slot and dtype, the output region as the largest output, the scratch as the largest."""
    sizes: dict[tuple[int, str, bool], int] = {}
    for nl in layers:
        key = (0, nl.in_dtype, nl.uniform_data)
        sizes[key] = max(sizes.get(key, 0), nl.in_bytes)
        if nl.in2_dtype is not None:
            key = (1, nl.in2_dtype, nl.uniform_data)
            sizes[key] = max(sizes.get(key, 0), nl.in2_bytes)
    offset = 0
    regions = {}
    for key in sorted(sizes):
        regions[key] = (offset, sizes[key])
        offset += _align(sizes[key])
    out = offset
    offset += _align(max((nl.out_bytes for nl in layers), default=0))
    scratch = offset
    offset += _align(max((nl.scratch_bytes for nl in layers), default=0))
    from tinymodel.arena import image_arena_bytes

    return ArenaLayout(regions, out, scratch, image_arena_bytes(offset))


def fits(layers: Sequence[NetLayer], board: str, variant: str) -> bool:
    """Whether a calibration network of ``layers`` fits :data:`BUDGET_SHARE` of ``board``'s free
    flash and RAM (the shipped firmware base sizes, :func:`tinymodel.footprint.firmware_base`)."""
    from tinymodel.boards import load_board
    from tinymodel.footprint import (firmware_base, memory_layout, model_flash_bytes,
                                     model_ram_bytes)

    b = load_board(board)
    base = firmware_base(b.id, variant)
    mem = memory_layout(b)
    arena = arena_layout(layers)
    blob = sum(_align(len(nl.constants)) for nl in layers)
    flash = model_flash_bytes(blob, len(layers), 2, "calibration-network-000",
                              arena.image_bytes)
    ram = model_ram_bytes(arena.arena_bytes, len(layers))
    return (flash <= BUDGET_SHARE * (mem.flash_bytes - base.flash_bytes)
            and ram <= BUDGET_SHARE * (mem.ram_bytes - base.ram_static_bytes))


# -- packing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationNetwork:
    """One generated network: its id, its layers in execution order and its data profile."""

    id: str
    layers: tuple[NetLayer, ...]
    profile: DataProfile = DataProfile("uniform")

    @property
    def points(self) -> tuple[PlanPoint, ...]:
        return tuple(nl.point for nl in self.layers)


@dataclass(frozen=True)
class Packing:
    """The networks of a plan's points for one board and variant, and the points no network can
    hold (with the reason, logged as ``skip`` records)."""

    networks: tuple[CalibrationNetwork, ...]
    refused: tuple[tuple[PlanPoint, str, str], ...]   # (point, reason, detail)


def network_points(points: Sequence[PlanPoint]) -> list[PlanPoint]:
    """The points measured in network context: all but the cold twins (in a network every
    layer already starts after another layer, so a cold twin would measure the same thing)."""
    return [p for p in points if not p.cold]


def network_id(plan: str, variant: str, board: str, index: int, tag: str = "") -> str:
    """``<plan>-<board>-<variant>[-<tag>]-n<index>``: the id records and build directories use
    (``tag``: the run's, so the networks of a resumed run have ids of their own)."""
    return f"{plan}-{board}-{variant}{'-' + tag if tag else ''}-n{index:03d}"


def plan_networks(points: Sequence[PlanPoint], *, plan: str, board: str, variant: str,
                  max_layers: int = MAX_NETWORK_LAYERS, seed: int = PACKING_SEED,
                  tag: str = "") -> Packing:
    """Pack ``points`` (the points of a plan for ``variant`` still to measure; cold twins are
    dropped, :func:`network_points`) into calibration networks: one seeded random order, the
    mixed points in it, then the grouped ones (:data:`GROUPED_SHARE`) ordered by operator; then
    consecutive runs of points that :func:`fits` the board, at most ``max_layers`` each; ids
    carry ``tag``.  Deterministic in its arguments."""
    pts = sorted(network_points(points), key=lambda p: p.key)
    order = [pts[int(i)] for i in np.random.default_rng(seed).permutation(len(pts))]
    rank = {p.key: k for k, p in enumerate(order)}
    grouped = sorted((p for p in order if _grouped(p)), key=lambda p: (p.op, rank[p.key]))
    sequence = [p for p in order if not _grouped(p)] + grouped
    refused: list[tuple[PlanPoint, str, str]] = []
    groups: list[list[NetLayer]] = []
    current: list[NetLayer] = []
    for p in sequence:
        try:
            nl = net_layer(p, variant)
        except ContextError as e:
            refused.append((p, "refused", str(e)))
            continue
        if not fits([nl], board, variant):
            refused.append((p, "no-fit", f"{p.op} {p.key}: does not fit a network image on "
                                          f"board {board} ({variant})"))
            continue
        if current and (len(current) >= max_layers or not fits(current + [nl], board, variant)):
            groups.append(current)
            current = []
        current.append(nl)
    if current:
        groups.append(current)
    nets = []
    for k, g in enumerate(groups):
        # sizes do not depend on the profile: the network's layers are described again with it
        profile = network_profile([nl.point.key for nl in g])
        layers = tuple(net_layer(nl.point, variant, profile) for nl in g)
        nets.append(CalibrationNetwork(network_id(plan, variant, board, k, tag), layers, profile))
    return Packing(tuple(nets), tuple(refused))


def _grouped(point: PlanPoint) -> bool:
    """Whether ``point`` goes to a grouped network (:data:`GROUPED_SHARE`, by its key)."""
    return zlib.crc32(("grouped\n" + point.key).encode()) / 2 ** 32 < GROUPED_SHARE


def split(net: CalibrationNetwork) -> tuple[CalibrationNetwork, CalibrationNetwork]:
    """The two halves of ``net`` (ids ``…a`` and ``…b``), for a network the board or the linker
    refused."""
    h = len(net.layers) // 2
    return (CalibrationNetwork(net.id + "a", net.layers[:h], net.profile),
            CalibrationNetwork(net.id + "b", net.layers[h:], net.profile))


# -- describing -------------------------------------------------------------------------------------

def _random_bytes(dtype: str, nbytes: int, rng: np.random.Generator,
                  profile: DataProfile = DataProfile("uniform")) -> bytes:
    """``nbytes`` of seeded data of ``dtype`` drawn as ``profile`` says."""
    if np.dtype(dtype) == np.int8:
        # codes above the zero point, folded, for ``relu`` (the int8 kernels whose cost depends
        # on the codes, LOGISTIC and TANH, follow linear layers in converted networks, and on the
        # F7 half their codes on one value made them cheaper than any feature describes)
        return _int8_codes(profile, nbytes, rng).astype(np.int8).tobytes()
    n = nbytes // np.dtype(dtype).itemsize
    if profile.name == "uniform":
        data = rng.uniform(-FLOAT_INPUT_RANGE, FLOAT_INPUT_RANGE, size=n)
    else:
        data = rng.normal(0.0, profile.spread / 64.0, size=n)
        if profile.name == "relu":
            # a ReLU's output, half of it exactly zero (software floating point multiplies
            # zeros cheaply: zero_macs)
            data = np.maximum(data, 0.0)
    return data.astype(np.dtype(dtype).newbyteorder("<")).tobytes()


def describe_network(net: CalibrationNetwork, variant: str):
    """``net`` as a :class:`calibration.codegen.GeneratedModel`: the layer table (offsets into
    one blob laid out as a model's, arena offsets of :func:`arena_layout`), the blob, and the
    arena's initial image (seeded by the network's points)."""
    from calibration.codegen import GeneratedModel, ModelTensor
    from tinymodel.descriptors import ConstantBlob

    arena = arena_layout(net.layers)
    blob = ConstantBlob()
    descs = []
    for nl in net.layers:
        base = blob.add(nl.constants) if nl.constants else 0
        d = nl.descriptor
        moved = {k: (getattr(d, k) + base if getattr(d, k) != fi.NO_OFFSET else fi.NO_OFFSET)
                 for k in ("weights_offset", "bias_offset", "mult_offset", "shift_offset")}
        in2 = (fi.NO_OFFSET if nl.in2_dtype is None
               else arena.inputs[(1, nl.in2_dtype, nl.uniform_data)][0])
        descs.append(replace(
            d, **moved, in_offset=arena.inputs[(0, nl.in_dtype, nl.uniform_data)][0],
            in2_offset=in2,
            out_offset=arena.out_offset,
            scratch_offset=arena.scratch_offset if nl.scratch_bytes else fi.NO_OFFSET,
            scratch_bytes=nl.scratch_bytes))
    # seeded by the network's points, so the same network gets the same data in any run
    rng = np.random.default_rng(zlib.crc32("\n".join(p.key for p in net.points).encode()))
    init = tuple((offset, _random_bytes(dtype, size, rng,
                                        DataProfile("uniform") if uniform else net.profile))
                 for (_slot, dtype, uniform), (offset, size) in sorted(arena.inputs.items()))
    first, last = net.layers[0], net.layers[-1]
    inputs = (ModelTensor("input", first.in_dtype, (first.in_bytes // np.dtype(first.in_dtype).itemsize,),
                          first.in_bytes,
                          arena.inputs[(0, first.in_dtype, first.uniform_data)][0], 0.0, 0),)
    outputs = (ModelTensor("output", last.out_dtype,
                           (max(last.out_bytes // np.dtype(last.out_dtype).itemsize, 1),),
                           last.out_bytes, arena.out_offset, 0.0, 0),)
    return GeneratedModel(net.id, variant, tuple(descs), tuple(nl.point.key for nl in net.layers),
                          bytes(blob.data), arena.arena_bytes, inputs, outputs, init)


# -- measuring --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NetworkImages:
    """How a board comes to run a calibration network: the image is built for ``board`` /
    ``variant`` / ``opt`` into ``<cache_dir>/<network id>/build`` (compiled in a build directory
    under ``<cache_dir>/.build`` that successive networks reuse,
    :func:`calibration.firmware.build_network_image`); a virtual board is started
    on it, a real board (``port`` set) is flashed with pyOCD first (``probe``: its unique id).
    ``firmware_build_id`` is the build id of the same firmware without a network (the benchmark
    image), which the records name as their firmware.  Picklable (worker processes use it)."""

    board: str
    variant: str
    opt: str
    cache_dir: Path | None
    firmware_build_id: str
    port: str | None = None
    baud: int | None = None
    probe: str | None = None

    def build(self, net: CalibrationNetwork):
        """Generate and build ``net``'s image (rewriting only changed sources, so a rebuilt
        network does not recompile); :class:`calibration.firmware.OversizedError` when it does
        not fit."""
        import tempfile

        from calibration.codegen import sync_dir, write_model
        from calibration.firmware import build_network_image

        base = self.build_dir()
        if self.cache_dir is None:
            self._check_worker_firmware()
        out = base / net.id
        with tempfile.TemporaryDirectory(prefix="tinymodel-ctx-") as tmp:
            write_model(describe_network(net, self.variant), Path(tmp))
            sync_dir(Path(tmp), out / "model")
        return build_network_image(self.board, self.variant, self.opt, out / "model",
                                   out / "build", slots_dir=base / ".build")

    def build_dir(self) -> Path:
        """Where this process builds the images: ``cache_dir``, or without one (a run on a Dask
        cluster, whose workers may not see this machine's files) the user cache's
        ``calibration-networks/<board>-<variant><opt>`` of the process that builds."""
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        from tinymodel.cachedir import cache_dir

        return cache_dir("calibration-networks", f"{self.board}-{self.variant}{self.opt}")

    def _check_worker_firmware(self) -> None:
        """On a cluster's worker: its own firmware (sources and compiler) must give the build id
        the records name, else its images would be measured under another build's name; the
        benchmark image is built (once, in the worker's image cache) to know."""
        from calibration.firmware import build_image
        from calibration.harness import FirmwareMismatchError

        key = (self.board, self.variant, self.opt)
        if key not in _CHECKED_FIRMWARE:
            _CHECKED_FIRMWARE[key] = build_image(self.board, self.variant, self.opt).build_id
        if _CHECKED_FIRMWARE[key] != self.firmware_build_id:
            import socket

            raise FirmwareMismatchError(
                f"worker {socket.gethostname()} builds {self.board} {self.variant} firmware "
                f"{_CHECKED_FIRMWARE[key]}, this run's is {self.firmware_build_id}: install the "
                f"same tinymodel checkout and Arm compiler on every worker (docs/cluster.md)")


    def connector(self, elf: Path):
        """A connector to a board running ``elf`` (flashing a real board now)."""
        from calibration.harness import SerialConnector

        if self.port is None:
            return SerialConnector(f"vboard://{self.board}?image={elf}")
        from calibration.flashing import flash_image

        flash_image(Path(elf), self.board, self.probe)
        return SerialConnector(self.port, self.baud)


#: Per process: the build id this process's firmware gives, by (board, variant, opt).
_CHECKED_FIRMWARE: dict[tuple[str, str, str], str] = {}


def _firmware(hello, build_id: str) -> dict[str, Any]:
    """The records' ``firmware`` field: the image's HELLO facts without what depends on the
    network in it (build id → the firmware's own, arena size)."""
    from calibration.harness import firmware_info

    info = firmware_info(hello)
    info["build_id"] = build_id
    info.pop("arena_bytes", None)
    info.pop("weight_region_bytes", None)
    return info


def measure_network(net: CalibrationNetwork, images: NetworkImages, *, target, settings,
                    ops: Sequence[str], plan: str, warmups: int, reps: int,
                    run_id: str = "") -> list[dict[str, Any]]:
    """Build, run and time ``net``: one ``layer`` record per point (``skip`` records for the
    points the board or the linker refuses even alone; a refused network is measured again in
    halves).  ``target`` / ``settings`` are the harness's :class:`~calibration.harness.Target` and
    :class:`~calibration.harness.HarnessSettings`."""
    from calibration.firmware import OversizedError
    from calibration.harness import (SKIP_STATUSES, BoardSession, CalibrationError, point_record,
                                     skip_record)
    from calibration.measurements import summarize, utc_now
    from calibration.protocol import DeviceError, Status

    def in_halves() -> list[dict[str, Any]]:
        return [r for half in split(net) for r in measure_network(
            half, images, target=target, settings=settings, ops=ops, plan=plan,
            warmups=warmups, reps=reps, run_id=run_id)]

    def skipped(reason: str, detail: str, **extra: Any) -> list[dict[str, Any]]:
        return [skip_record(net.layers[0].point, plan, target.board, images.variant, run_id,
                            reason, detail, **extra)]

    t0 = time.monotonic()
    try:
        image = images.build(net)
    except OversizedError as e:
        return in_halves() if len(net.layers) > 1 else skipped("no-fit", str(e))
    session = BoardSession(images.connector(image.elf), target, settings, ops)
    refused: DeviceError | None = None
    try:
        hello = session.open()
        wait_s = settings.base_timeout_s + sum(
            (warmups + 1) * nl.estimated_cycles for nl in net.layers) / max(hello.core_clock_hz, 1)
        session.reset_timing_state()
        samples: list[tuple[int, ...]] = []
        for k in range(reps):
            w = warmups if k == 0 else 0
            timing = session.call(lambda c, w=w: c.run_model(warmups=w, reps=1, timeout_s=wait_s),
                                  f"RUN_MODEL {net.id}")
            samples.append(timing.layer_cycles)
    except DeviceError as e:
        if e.status not in SKIP_STATUSES:
            raise CalibrationError(f"RUN_MODEL {net.id}: {e}") from None
        refused = e
    finally:
        session.close()
    if refused is not None:
        if len(net.layers) > 1:
            log.info("%s: the board refused it (%s); measuring it in halves", net.id, refused)
            return in_halves()
        return skipped(SKIP_STATUSES[Status(refused.status)], str(refused),
                       firmware=_firmware(session.hello, images.firmware_build_id),
                       transport=target.transport_info())
    if any(len(s) != len(net.layers) for s in samples):
        raise CalibrationError(f"RUN_MODEL {net.id}: {len(samples[0])} layer times for "
                               f"{counted(len(net.layers), 'layer')}")
    from tinymodel import __version__

    firmware = _firmware(hello, images.firmware_build_id)
    host_s = round((time.monotonic() - t0) / len(net.layers), 4)
    records = []
    for i, nl in enumerate(net.layers):
        cycles = [int(s[i]) for s in samples]
        rec = point_record(nl.point, plan, target.board, images.variant, run_id)
        rec.update(summarize(cycles))
        rec.update({
            "cycles": cycles, "warmups": warmups, "reps": reps, "path": nl.path,
            "device_kernel_path": None, "context": "network", "network": net.id, "position": i,
            "network_layers": len(net.layers), "data_profile": net.profile.as_dict(),
            "input_data": (UNIFORM if nl.uniform_data else net.profile).as_dict(),
            "fused_activation": nl.activation, "weight_quantization": nl.weight_quantization,
            "previous_op": net.layers[i - 1].point.op if i else None,
            "image_build_id": hello.build_id, "firmware": firmware,
            "clock_hz": hello.core_clock_hz, "transport": target.transport_info(),
            "measured_at": utc_now(), "host_seconds": host_s, "tinymodel_version": __version__,
        })
        records.append(rec)
    return records


def run_networks(networks: Sequence[CalibrationNetwork], images: NetworkImages, *, target,
                 settings, ops: Sequence[str], plan: str, warmups: int, reps: int, run_id: str,
                 pool, record: Any) -> None:
    """Measure ``networks``, one job of ``pool`` (:class:`tinymodel.execution.Pool`) each:
    the worker builds the network's image and runs it on its own board; every record is handed
    to ``record`` as soon as its network is done."""
    def on_result(_i: int, records: list[dict[str, Any]]) -> None:
        for rec in records:
            record(rec)

    pool.map(measure_network, networks, on_result, key=f"network-{images.variant}",
             images=images, target=target, settings=settings, ops=tuple(ops), plan=plan,
             warmups=warmups, reps=reps, run_id=run_id)


__all__ = ["BUDGET_SHARE", "CONTEXTS", "MAX_NETWORK_LAYERS", "PACKING_SEED", "ArenaLayout",
           "CalibrationNetwork", "ContextError", "NetLayer", "NetworkImages", "Packing",
           "arena_layout", "describe_network", "fits", "measure_network", "net_layer",
           "network_id", "network_points", "plan_networks", "run_networks", "split"]
