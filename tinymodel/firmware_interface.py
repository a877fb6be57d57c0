"""The firmware's interface, mirrored once: every code, layout and size the host shares with it.

The C side is ``firmware/include/`` (``tm_runner.h``, ``tm_protocol.h``, ``tm_kernels.h``,
``tm_model.h``, ``tm_frame.h``); ``tests/test_firmware_interface.py`` parses those headers and fails
on any disagreement with this module (a value changes, an enum gains a member, a struct a field).
Everything else — the code generator, RUN_LAYER requests, the protocol parser, the footprint
prediction — takes these names from here instead of spelling numbers out.

What is mirrored:

* **codes** — operators (:class:`Op`, ``tm_op``) and which :class:`~tinymodel.ops.OpType` runs as
  which (:data:`OP_CODES`; RELU6 runs as RELU with its clamp in the quant slots); variants
  (:data:`VARIANT_CODES`, ``tm_variant``, keyed by :class:`~tinymodel.dispatch.Variant`); kernel
  paths (:data:`PATH_CODES`, ``tm_path`` ↔ :class:`~tinymodel.dispatch.KernelPath`, and
  :data:`PATH_NONE` for a layer that is not an s8-opt conv / depthwise); protocol commands
  (:class:`Command`) and statuses (:class:`Status`), NO_FIT regions (:class:`NoFitRegion`), runner
  and kernel statuses (:class:`RunStatus`, :class:`KernelStatus`), frame receiver events
  (:class:`RxEvent`), tensor dtypes (:class:`DType`), layer flags (:class:`LayerFlag`),
  :data:`NO_OFFSET`;
* **layouts and sizes** — the fields of ``tm_layer_desc`` in order (:data:`DESCRIPTOR_FIELDS`,
  :data:`DESC_WORDS`), of ``tm_model_tensor`` and ``tm_model`` (:data:`TENSOR_RECORD_BYTES`,
  :data:`MODEL_RECORD_BYTES`), the constant blob's alignment (:data:`BLOB_ALIGN`), the RUN_LAYER
  payload (:data:`RUN_LAYER_FIELDS`, :data:`RUN_LAYER_REQUEST_BYTES`), frame sizes and protocol
  limits;
* **slots by name** — ``geom[8]`` and ``quant[12]`` mean different things per operator family;
  :class:`SlotFamily` objects (:data:`CONV_GEOM`, :data:`POOL_GEOM`, :data:`S8_QUANT`,
    CONST_OPERAND = 4   # binary op, BATCH_MATMUL: the other operand is a constant at weights_offset
    SWAPPED = 8         # binary element-wise op: the run-time input is TFLite's second operand
  turn keyword arguments named after the C kernels' parameter fields into the array's words, so no
  caller writes ``geom[6]``.  :class:`LayerDescriptor` is one ``tm_layer_desc``;
* **quantization rules** — :data:`QUANT_RULES`, the firmware's table of the ranges TFLite allows
  for every ``quant[]`` slot (``tm_quant_rules[]`` in ``firmware/src/tm_runner.c``), and
  :func:`quant_violations`, which applies them on the host.

Pure data and small pure functions: nothing here imports numpy, the readers or ``calibration``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from tinymodel.dispatch import BINARY_OPS as BINARY_OPTYPES
from tinymodel.dispatch import KernelPath, Variant
from tinymodel.errors import TinymodelError
from tinymodel.ops import OpType

# -- operators, variants, kernel paths ----------------------------------------------------------


class Op(enum.IntEnum):
    """Operator codes of RUN_LAYER and the layer table (``tm_op``)."""

    CONV_2D = 1
    DEPTHWISE_CONV_2D = 2
    FULLY_CONNECTED = 3
    AVERAGE_POOL_2D = 4
    MAX_POOL_2D = 5
    ADD = 6
    SOFTMAX = 7
    RELU = 8
    RESHAPE = 9
    MEAN = 10
    CONCATENATION = 11
    STRIDED_SLICE = 12
    TRANSPOSE = 13
    PAD = 14
    MUL = 15
    SUB = 16
    MAXIMUM = 17
    MINIMUM = 18
    LOGISTIC = 19
    TANH = 20
    HARD_SWISH = 21
    LEAKY_RELU = 22
    PRELU = 23
    QUANTIZE = 24
    DEQUANTIZE = 25
    TRANSPOSE_CONV = 26
    RESIZE_NEAREST_NEIGHBOR = 27
    RESIZE_BILINEAR = 28
    SUM = 29
    BATCH_MATMUL = 30


#: One past the largest op code (``TM_OP_COUNT``).
OP_COUNT = 31


#: The firmware op code each :class:`OpType` it runs is described with.  RELU6 runs as RELU (its
#: clamp is the activation range in the quant slots); an :class:`OpType` missing here has no
#: firmware kernel.
OP_CODES: Mapping[OpType, Op] = MappingProxyType({
    OpType.CONV_2D: Op.CONV_2D,
    OpType.DEPTHWISE_CONV_2D: Op.DEPTHWISE_CONV_2D,
    OpType.FULLY_CONNECTED: Op.FULLY_CONNECTED,
    OpType.AVERAGE_POOL_2D: Op.AVERAGE_POOL_2D,
    OpType.MAX_POOL_2D: Op.MAX_POOL_2D,
    OpType.ADD: Op.ADD,
    OpType.SOFTMAX: Op.SOFTMAX,
    OpType.RELU: Op.RELU,
    OpType.RELU6: Op.RELU,
    OpType.RESHAPE: Op.RESHAPE,
    OpType.MEAN: Op.MEAN,
    OpType.CONCATENATION: Op.CONCATENATION,
    OpType.PACK: Op.CONCATENATION,
    OpType.STRIDED_SLICE: Op.STRIDED_SLICE,
    OpType.SLICE: Op.STRIDED_SLICE,
    OpType.SPLIT: Op.STRIDED_SLICE,
    OpType.SPLIT_V: Op.STRIDED_SLICE,
    OpType.UNPACK: Op.STRIDED_SLICE,
    OpType.MUL: Op.MUL,
    OpType.SUB: Op.SUB,
    OpType.MAXIMUM: Op.MAXIMUM,
    OpType.MINIMUM: Op.MINIMUM,
    OpType.TRANSPOSE: Op.TRANSPOSE,
    OpType.PAD: Op.PAD,
    OpType.RESIZE_NEAREST_NEIGHBOR: Op.RESIZE_NEAREST_NEIGHBOR,
    OpType.RESIZE_BILINEAR: Op.RESIZE_BILINEAR,
    OpType.LOGISTIC: Op.LOGISTIC,
    OpType.TANH: Op.TANH,
    OpType.HARD_SWISH: Op.HARD_SWISH,
    OpType.LEAKY_RELU: Op.LEAKY_RELU,
    OpType.PRELU: Op.PRELU,
    OpType.TRANSPOSE_CONV: Op.TRANSPOSE_CONV,
    OpType.BATCH_MATMUL: Op.BATCH_MATMUL,
    OpType.QUANTIZE: Op.QUANTIZE,
    OpType.DEQUANTIZE: Op.DEQUANTIZE,
    OpType.SUM: Op.SUM,
})

#: Binary element-wise ops: ``in[]`` is the run-time input's shape, ``filter[]`` the other
#: operand's (a second run-time input, or a constant with :attr:`LayerFlag.CONST_OPERAND`),
#: ``out[]`` their NumPy broadcast; the runner computes the broadcast strides.
BINARY_OPS: frozenset[Op] = frozenset(OP_CODES[o] for o in BINARY_OPTYPES)
#: Ops whose layer reads a second runtime tensor (``in2_offset``): the code generator gives
#: them the arena offset of the layer's second runtime input.
TWO_INPUT_OPS: frozenset[Op] = BINARY_OPS | {Op.BATCH_MATMUL}

#: Wire code of each kernel variant (``tm_variant``: the paper's U, U+FPU, Q, Q+CMSIS-NN).
VARIANT_CODES: Mapping[Variant, int] = MappingProxyType({
    Variant.F32_SOFT: 0, Variant.F32: 1, Variant.S8_REF: 2, Variant.S8_OPT: 3})
#: Number of variant codes (``TM_VARIANT_COUNT``).
VARIANT_COUNT = 4


def variant_code(variant: Variant | str) -> int:
    """The wire code of ``variant`` (a :class:`TinymodelError` names the known variants)."""
    return VARIANT_CODES[Variant.parse(variant)]


def variants_in_mask(mask: int) -> tuple[Variant, ...]:
    """The variants whose bit (``1 << code``) is set in ``mask`` (HELLO's variant byte), in code
    order."""
    return tuple(v for v, code in VARIANT_CODES.items() if mask & (1 << code))


#: Code of each s8-opt conv / depthwise path (``tm_path``, what ``tm_runner_path`` reports).
PATH_CODES: Mapping[KernelPath, int] = MappingProxyType({
    KernelPath.REF: 0, KernelPath.CONV_1X1: 1, KernelPath.CONV_IM2COL: 2, KernelPath.DW_3X3: 3,
    KernelPath.DW_GENERIC: 4, KernelPath.TCONV_GATHER: 5})
#: ``tm_runner_path`` of a layer that is not an s8-opt conv / depthwise / transpose conv
#: (``TM_PATH_NONE``).
PATH_NONE = 0xFF

_PATHS_BY_CODE: Mapping[int, KernelPath] = MappingProxyType({c: p for p, c in PATH_CODES.items()})


def path_of_code(code: int) -> KernelPath | None:
    """The :class:`KernelPath` of a ``tm_path`` code, ``None`` for :data:`PATH_NONE`.

    An unknown code raises :class:`TinymodelError` (the firmware speaks a newer interface).
    """
    if code == PATH_NONE:
        return None
    try:
        return _PATHS_BY_CODE[int(code)]
    except KeyError:
        raise TinymodelError(f"unknown kernel path code {code} (known: "
                             + ", ".join(f"{c} {p.value}" for c, p in _PATHS_BY_CODE.items())
                             + f", {PATH_NONE} none)") from None


#: The C functions an int8 image runs for a layer of each table entry (``OP/path``, the op as
#: :func:`tinymodel.dispatch.table_op` names it): the kernel code a layer of that entry brings
#: into the instruction cache (``tm_exec_s8`` in ``firmware/src/tm_runner.c`` calls them; their
#: sizes are ``kernel_bytes`` in tinymodel/data/firmware_base.json).  ``PAD`` runs
#: ``tm_pad_s8_opt`` in s8-opt images (:data:`S8_OPT_KERNEL_FUNCTIONS`).
S8_KERNEL_FUNCTIONS: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType({
    ("CONV_2D", "ref"): ("tm_conv2d_s8_ref",),
    ("CONV_2D", "conv-1x1"): ("tm_conv2d_s8_opt", "tm_conv2d_1x1_s8_opt"),
    ("CONV_2D", "conv-im2col"): ("tm_conv2d_s8_opt", "tm_conv2d_im2col_s8_opt"),
    ("DEPTHWISE_CONV_2D", "ref"): ("tm_depthwise_conv2d_s8_ref",),
    ("DEPTHWISE_CONV_2D", "dw-3x3"): ("tm_depthwise_conv2d_s8_opt",
                                      "tm_depthwise_conv2d_3x3_s8_opt"),
    ("DEPTHWISE_CONV_2D", "dw-generic"): ("tm_depthwise_conv2d_s8_opt",
                                          "tm_depthwise_conv2d_generic_s8_opt"),
    ("FULLY_CONNECTED", "ref"): ("tm_fully_connected_s8_ref",),
    ("FULLY_CONNECTED", "fc-opt"): ("tm_fully_connected_s8_opt",),
    ("TRANSPOSE_CONV", "ref"): ("tm_transpose_conv_s8_ref",),
    ("TRANSPOSE_CONV", "tconv-gather"): ("tm_transpose_conv_s8_opt",),
    ("BATCH_MATMUL", "ref"): ("tm_batch_matmul_s8_ref",),
    ("BATCH_MATMUL", "scalar"): ("tm_batch_matmul_s8_ref",),
    ("AVERAGE_POOL_2D", "ref"): ("tm_avg_pool2d_s8_ref",),
    ("AVERAGE_POOL_2D", "simd"): ("tm_avg_pool2d_s8_opt",),
    ("MAX_POOL_2D", "ref"): ("tm_max_pool2d_s8_ref",),
    ("MAX_POOL_2D", "simd"): ("tm_max_pool2d_s8_opt",),
    ("ADD", "ref"): ("tm_add_s8_ref",),
    ("ADD", "simd"): ("tm_add_s8_opt",),
    ("ADD", "broadcast"): ("tm_add_bcast_s8_ref",),
    ("SUB", "ref"): ("tm_sub_s8_ref",),
    ("SUB", "scalar"): ("tm_sub_s8_ref",),
    ("SUB", "broadcast"): ("tm_sub_bcast_s8_ref",),
    ("MUL", "ref"): ("tm_mul_s8_ref",),
    ("MUL", "simd"): ("tm_mul_s8_opt",),
    ("MUL", "broadcast"): ("tm_mul_bcast_s8_ref",),
    ("MAXIMUM", "ref"): ("tm_maximum_s8_ref",),
    ("MAXIMUM", "scalar"): ("tm_maximum_s8_ref",),
    ("MAXIMUM", "broadcast"): ("tm_maximum_bcast_s8_ref",),
    ("MINIMUM", "ref"): ("tm_minimum_s8_ref",),
    ("MINIMUM", "scalar"): ("tm_minimum_s8_ref",),
    ("MINIMUM", "broadcast"): ("tm_minimum_bcast_s8_ref",),
    ("LOGISTIC", "ref"): ("tm_logistic_s8_ref",),
    ("LOGISTIC", "scalar"): ("tm_logistic_s8_ref",),
    ("TANH", "ref"): ("tm_tanh_s8_ref",),
    ("TANH", "scalar"): ("tm_tanh_s8_ref",),
    ("HARD_SWISH", "ref"): ("tm_hard_swish_s8_ref",),
    ("HARD_SWISH", "scalar"): ("tm_hard_swish_s8_ref",),
    ("LEAKY_RELU", "ref"): ("tm_leaky_relu_s8_ref",),
    ("LEAKY_RELU", "scalar"): ("tm_leaky_relu_s8_ref",),
    ("PRELU", "ref"): ("tm_prelu_s8_ref",),
    ("PRELU", "scalar"): ("tm_prelu_s8_ref",),
    ("RELU", "ref"): ("tm_relu_s8_ref",),
    ("RELU", "scalar"): ("tm_relu_s8_ref",),
    ("SOFTMAX", "ref"): ("tm_softmax_s8_ref",),
    ("SOFTMAX", "scalar"): ("tm_softmax_s8_ref",),
    ("MEAN", "ref"): ("tm_mean_s8",),
    ("MEAN", "scalar"): ("tm_mean_s8",),
    ("MEAN", "reduce"): ("tm_reduce_s8_ref",),
    ("SUM", "reduce"): ("tm_reduce_s8_ref",),
    ("RESIZE_BILINEAR", "ref"): ("tm_resize_bilinear_s8_ref",),
    ("RESIZE_BILINEAR", "scalar"): ("tm_resize_bilinear_s8_ref",),
    ("QUANTIZE", "requantize"): ("tm_requantize_s8",),
    ("QUANTIZE", "ref"): ("tm_quantize_f32_s8",),
    ("QUANTIZE", "scalar"): ("tm_quantize_f32_s8",),
    ("DEQUANTIZE", "ref"): ("tm_dequantize_s8_f32",),
    ("DEQUANTIZE", "scalar"): ("tm_dequantize_s8_f32",),
    ("RESHAPE", "copy"): ("tm_reshape", "memmove"),
    ("CONCATENATION", "copy"): ("tm_concatenation", "memcpy"),
    ("STRIDED_SLICE", "copy"): ("tm_strided_slice", "memcpy"),
    ("TRANSPOSE", "copy"): ("tm_transpose",),
    ("PAD", "copy"): ("tm_pad",),
    ("RESIZE_NEAREST_NEIGHBOR", "copy"): ("tm_resize_nearest", "memcpy"),
})
#: Where an s8-opt image runs other functions than :data:`S8_KERNEL_FUNCTIONS` names.
S8_OPT_KERNEL_FUNCTIONS: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType({
    ("PAD", "copy"): ("tm_pad_s8_opt", "memcpy"),
})


#: The functions every layer of a network runs around its kernel (``tm_model_infer`` in
#: ``firmware/src/tm_protocol.c`` calls ``tm_runner_exec``, which dispatches in ``tm_exec_s8``;
#: the compiler may suffix a local function's name, e.g. ``.constprop.0``).
S8_RUNNER_FUNCTIONS: tuple[str, ...] = ("tm_model_infer", "tm_model_layer_ptrs", "tm_runner_exec",
                                        "tm_exec_s8")


def kernel_functions(op: str, path: str, variant: Variant | str) -> tuple[str, ...]:
    """The C functions an image of ``variant`` runs for a layer of table entry ``op/path``
    (:data:`S8_KERNEL_FUNCTIONS`); ``()`` for a float variant or an entry the map lacks."""
    variant = Variant.parse(variant)
    if variant.dtype != "int8":
        return ()
    if variant is Variant.S8_OPT and (op, path) in S8_OPT_KERNEL_FUNCTIONS:
        return S8_OPT_KERNEL_FUNCTIONS[(op, path)]
    return S8_KERNEL_FUNCTIONS.get((op, path), ())


#: How measurement logs written before the kernel-path spellings were unified name the path the
#: device reported (``device_kernel_path``): the old protocol module's names of the ``tm_path``
#: codes, ``"n/a"`` for :data:`PATH_NONE`.
LEGACY_PATH_NAMES: Mapping[str, KernelPath | None] = MappingProxyType({
    "scalar": KernelPath.REF, "conv-1x1": KernelPath.CONV_1X1,
    "conv-im2col": KernelPath.CONV_IM2COL, "depthwise-3x3": KernelPath.DW_3X3,
    "depthwise-generic": KernelPath.DW_GENERIC, "n/a": None})


def reported_path(name: str | None) -> KernelPath | None:
    """The device-reported path a measurement record names, old logs or new.

    New records hold a :class:`KernelPath` value of :data:`PATH_CODES` (``"ref"``, ``"dw-3x3"``,
    ...) or ``None``; older ones the names of :data:`LEGACY_PATH_NAMES` (``"scalar"`` meant
    ``tm_path`` 0, i.e. :attr:`KernelPath.REF`).  Anything else is a :class:`TinymodelError`.
    """
    if name is None:
        return None
    if name in LEGACY_PATH_NAMES:
        return LEGACY_PATH_NAMES[name]
    for path in PATH_CODES:
        if path.value == name:
            return path
    raise TinymodelError(f"unknown device kernel path {name!r} in a measurement record")


# -- protocol: commands, statuses, frames, limits ------------------------------------------------

#: Protocol version HELLO reports (``TM_PROTOCOL_VERSION``): 2 since frames carry a CRC-32
#: and the protocol has REPLY_READ and ABORT; version 1 framed with a CRC-16.
PROTOCOL_VERSION = 2


class Command(enum.IntEnum):
    """Command codes (``tm_cmd``; ``docs/protocol.md`` §3).  A reply's command is the request's
    ORed with :data:`CMD_RESPONSE`."""

    HELLO = 0x01
    PING = 0x02
    REPLY_READ = 0x03
    ABORT = 0x04
    RUN_LAYER = 0x10
    MODEL_INFO = 0x20
    RUN_MODEL = 0x21
    MODEL_CYCLES = 0x22
    INPUT_WRITE = 0x30
    INFER = 0x31
    OUTPUT_READ = 0x32
    FAULT = 0x7E
    NAK = 0x7F


#: Bit set in the command byte of every reply (``TM_CMD_RESPONSE``).
CMD_RESPONSE = 0x80


class Status(enum.IntEnum):
    """Reply status codes (``tm_st``; ``docs/protocol.md`` §4)."""

    OK = 0
    CRC = 1
    FRAME = 2
    TOO_LONG = 3
    UNKNOWN_CMD = 4
    LENGTH = 5
    PARAM = 6
    VARIANT = 7
    NO_FIT = 8
    KERNEL = 9
    NO_MODEL = 10
    RANGE = 11
    UNSUPPORTED = 12
    ABORTED = 13
    NO_REPLY = 14


class NoFitRegion(enum.IntEnum):
    """Which memory a NO_FIT reply is about, its first detail byte (``tm_no_fit_region``)."""

    ARENA = 0       # the RAM arena of RUN_LAYER
    WEIGHTS = 1     # the flash weight region of RUN_LAYER
    CHANNELS = 2    # the per-channel multiplier / shift tables


class RunStatus(enum.IntEnum):
    """Layer runner statuses (``tm_run_status``); equal to the :class:`Status` of the same name."""

    OK = 0
    PARAM = 6
    VARIANT = 7
    NO_FIT = 8
    KERNEL = 9
    UNSUPPORTED = 12


class KernelStatus(enum.IntEnum):
    """What every kernel returns (``tm_status``); a KERNEL reply carries it."""

    OK = 0
    ERR_NULL_POINTER = 1
    ERR_SHAPE = 2
    ERR_PARAM = 3
    ERR_SCRATCH = 4
    ERR_UNSUPPORTED = 5


class RxEvent(enum.IntEnum):
    """What the device's byte-wise frame receiver saw (``tm_rx_event``); the three errors are
    answered with a NAK of status CRC, FRAME and TOO_LONG."""

    NONE = 0
    FRAME = 1
    ERR_CRC = 2
    ERR_FRAME = 3
    ERR_LONG = 4


#: Frame header (command, sequence, status, flags) and CRC-32 bytes (``TM_FRAME_*_BYTES``).
FRAME_HEADER_BYTES = 4
FRAME_CRC_BYTES = 4
#: The frames' CRC-32 (IEEE 802.3, reflected; ``TM_CRC32_*``): polynomial, initial value, final
#: XOR, and the CRC of ``b"123456789"``.
CRC32_POLY = 0xEDB88320
CRC32_INIT = 0xFFFFFFFF
CRC32_XOROUT = 0xFFFFFFFF
CRC32_CHECK = 0xCBF43926
#: Largest payload of a frame (``TM_FRAME_MAX_PAYLOAD``).
FRAME_MAX_PAYLOAD = 1024
#: Largest and smallest decoded frame: header + payload + CRC.
FRAME_MAX_DECODED = FRAME_HEADER_BYTES + FRAME_MAX_PAYLOAD + FRAME_CRC_BYTES
FRAME_MIN_DECODED = FRAME_HEADER_BYTES + FRAME_CRC_BYTES
#: Largest COBS encoding the device accepts (``TM_FRAME_MAX_ENCODED``).
FRAME_MAX_ENCODED = 1040
#: Worst-case wire size of a frame: delimiter + COBS(frame) + delimiter.
FRAME_MAX_WIRE = FRAME_MAX_DECODED + FRAME_MAX_DECODED // 254 + 3

#: Limits of RUN_LAYER / RUN_MODEL / MODEL_CYCLES / MODEL_INFO (``tm_protocol.h``).
RUN_LAYER_MAX_REPS = 1_000_000
RUN_MODEL_MAX_REPS = 100_000
RUN_MODEL_FIRST_PAGE = 100
MODEL_CYCLES_PAGE = 127
MODEL_INFO_MAX_OPS = 512
#: REPLY_READ request size and the header before the bytes of its reply
#: (``TM_REPLY_READ_*_BYTES``).
REPLY_READ_REQUEST_BYTES = 6
REPLY_READ_HEADER_BYTES = 6
#: The device's ABORT collector (``TM_ABORT_*``): it gives up when no byte came for
#: ``clock / ABORT_GAP_DIV`` cycles or after ``ABORT_MAX_BYTES`` bytes, and keeps encoded
#: frames of up to ``ABORT_RX_BYTES``.
ABORT_GAP_DIV = 20
ABORT_MAX_BYTES = 256
ABORT_RX_BYTES = 16
#: Largest dimension RUN_LAYER accepts in any shape field (``TM_RUN_MAX_DIM``).
RUN_MAX_DIM = 65535
#: Largest per-channel table RUN_LAYER builds (``TM_RUN_MAX_CHANNELS``).
RUN_MAX_CHANNELS = 2048


class RunLayerField(NamedTuple):
    """One field of the RUN_LAYER payload: name, byte offset, :mod:`struct` code, count."""

    name: str
    offset: int
    code: str
    count: int


def _layout(fields: Sequence[tuple[str, str, int]]) -> tuple[RunLayerField, ...]:
    out, offset = [], 0
    for name, code, count in fields:
        out.append(RunLayerField(name, offset, code, count))
        offset += struct.calcsize("<" + code) * count
    return tuple(out)


#: The RUN_LAYER payload (``docs/protocol.md`` §3.2; ``TM_FIELD_*``), little-endian: op, variant,
#: flags, a reserved zero byte, warm-ups, repetitions, then the descriptor's int32 arrays.
RUN_LAYER_FIELDS: tuple[RunLayerField, ...] = _layout((
    ("op", "B", 1), ("variant", "B", 1), ("flags", "B", 1), ("reserved", "B", 1),
    ("warmups", "I", 1), ("reps", "I", 1), ("in", "i", 4), ("filter", "i", 4), ("out", "i", 4),
    ("geom", "i", 8), ("quant", "i", 12)))
#: :mod:`struct` format of the whole payload.
RUN_LAYER_FORMAT = "<" + "".join(f"{f.count}{f.code}" if f.count > 1 else f.code
                                  for f in RUN_LAYER_FIELDS)
#: Bytes of a RUN_LAYER payload (``TM_RUN_LAYER_REQUEST_BYTES``).
RUN_LAYER_REQUEST_BYTES = 140


def run_layer_field_name(offset: int) -> str | None:
    """The RUN_LAYER field at payload byte ``offset`` (what a PARAM error reports), e.g.
    ``"geom[1]"``; ``None`` outside the payload."""
    for f in RUN_LAYER_FIELDS:
        size = struct.calcsize("<" + f.code)
        if f.offset <= offset < f.offset + size * f.count:
            return f.name if f.count == 1 else f"{f.name}[{(offset - f.offset) // size}]"
    return None


# -- tensors, flags, the layer descriptor -----------------------------------------------------


class DType(enum.IntEnum):
    """Tensor dtype codes of the model tables and MODEL_INFO (``TM_DTYPE_*``)."""

    F32 = 0
    S8 = 1


#: The tinymodel dtype name of each code.
DTYPE_NAMES: Mapping[DType, str] = MappingProxyType({DType.F32: "float32", DType.S8: "int8"})
#: Bytes per element of activations and weights of each dtype.
ELEMENT_BYTES: Mapping[DType, int] = MappingProxyType({DType.F32: 4, DType.S8: 1})


def dtype_code(dtype: str) -> DType:
    """The code of a tinymodel dtype name (``"float32"``, ``"int8"``)."""
    for code, name in DTYPE_NAMES.items():
        if name == dtype:
            return code
    raise TinymodelError(f"dtype {dtype!r} has no firmware code; one of "
                         + ", ".join(DTYPE_NAMES.values()))


class LayerFlag(enum.IntFlag):
    """Bits of a descriptor's ``flags`` word and RUN_LAYER's flags byte (``TM_LAYER_FLAG_*``)."""

    BIAS = 1            # the layer has a bias (else the kernel gets NULL)
    PER_CHANNEL = 2     # per-channel multiplier / shift tables (else quant's one pair)
    CONST_OPERAND = 4   # binary op, BATCH_MATMUL: the other operand is a constant at weights_offset
    SWAPPED = 8         # binary element-wise op: the run-time input is TFLite's second operand


#: An arena or blob offset that is absent (``TM_NO_OFFSET``).
NO_OFFSET = 0xFFFFFFFF


class Field(NamedTuple):
    """One field of a C record: name (as in C), 32-bit words, whether the words are signed."""

    name: str
    words: int
    signed: bool = False


#: ``tm_layer_desc`` field by field: op, flags, the shapes, geom[8], quant[12], then arena offsets
#: (in, in2, out, scratch and its size) and blob offsets (weights, bias, mult, shift tables).
DESCRIPTOR_FIELDS: tuple[Field, ...] = (
    Field("op", 1), Field("flags", 1), Field("in", 4, True), Field("filter", 4, True),
    Field("out", 4, True), Field("geom", 8, True), Field("quant", 12, True), Field("in_offset", 1),
    Field("in2_offset", 1), Field("out_offset", 1), Field("scratch_offset", 1),
    Field("scratch_bytes", 1), Field("weights_offset", 1), Field("bias_offset", 1),
    Field("mult_offset", 1), Field("shift_offset", 1))
#: 32-bit words per ``tm_layer_desc``.
DESC_WORDS = sum(f.words for f in DESCRIPTOR_FIELDS)
#: Words of the geometry and quantization arrays.
GEOM_WORDS = next(f.words for f in DESCRIPTOR_FIELDS if f.name == "geom")
QUANT_WORDS = next(f.words for f in DESCRIPTOR_FIELDS if f.name == "quant")

#: ``tm_model_tensor`` (a model input or output), 32-bit words each (``scale`` is a float).
MODEL_TENSOR_FIELDS: tuple[Field, ...] = (
    Field("dtype", 1), Field("rank", 1), Field("bytes", 1), Field("arena_offset", 1),
    Field("dims", 4, True), Field("scale", 1), Field("zero_point", 1, True))
#: Bytes of one ``tm_model_tensor`` record.
TENSOR_RECORD_BYTES = 4 * sum(f.words for f in MODEL_TENSOR_FIELDS)

#: ``tm_model``: one word per field on the 32-bit targets (pointers included).
MODEL_FIELDS: tuple[Field, ...] = tuple(Field(n, 1) for n in (
    "name", "variant", "n_layers", "layers", "n_inputs", "n_outputs", "inputs", "outputs", "blob",
    "blob_bytes", "arena", "arena_bytes", "layer_cycles"))
#: Bytes of the ``tm_model`` record (its name string comes on top).
MODEL_RECORD_BYTES = 4 * sum(f.words for f in MODEL_FIELDS)

#: Every item of the constant blob starts on a multiple of this (``TM_MODEL_BLOB_ALIGN``).
BLOB_ALIGN = 16
#: Bytes per bias entry (int32 for int8 layers, float32 for float layers).
BIAS_ENTRY_BYTES = 4
#: Bytes per entry of the per-channel multiplier and shift tables (int32).
CHANNEL_TABLE_ENTRY_BYTES = 4


def blob_item_bytes(nbytes: int) -> int:
    """Bytes one blob item takes with the padding that aligns the next one:
    ``⌈nbytes / BLOB_ALIGN⌉ · BLOB_ALIGN``."""
    return -(-nbytes // BLOB_ALIGN) * BLOB_ALIGN


# -- slots of geom[] and quant[] -----------------------------------------------------------------


class GeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` (``TM_G_*``).  Slot 6 is the depthwise multiplier of a conv-style
    layer and the window height of a pooling layer (``FILTER_H`` is an alias of ``CH_MULT``)."""

    STRIDE_H = 0
    STRIDE_W = 1
    PAD_H = 2
    PAD_W = 3
    DIL_H = 4
    DIL_W = 5
    CH_MULT = 6
    FILTER_H = 6
    FILTER_W = 7


class QuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of int8 conv / depthwise / dense / relu / mean, and of int8 pooling's
    clamp (``TM_Q_*``)."""

    IN_OFFSET = 0
    OUT_OFFSET = 1
    ACT_MIN = 2
    ACT_MAX = 3
    MULT = 4
    SHIFT = 5


class AddQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 ADD (``TM_QA_*``)."""

    IN1_OFFSET = 0
    IN2_OFFSET = 1
    OUT_OFFSET = 2
    LEFT_SHIFT = 3
    IN1_MULT = 4
    IN1_SHIFT = 5
    IN2_MULT = 6
    IN2_SHIFT = 7
    OUT_MULT = 8
    OUT_SHIFT = 9
    ACT_MIN = 10
    ACT_MAX = 11


class BmmGeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` of BATCH_MATMUL (``TM_GB_*``): 1 transposes the last two dims."""

    ADJ_X = 0
    ADJ_Y = 1


class BmmQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 BATCH_MATMUL (``TM_QB_*``)."""

    LHS_OFFSET = 0
    RHS_OFFSET = 1
    OUT_OFFSET = 2
    MULT = 3
    SHIFT = 4
    ACT_MIN = 5
    ACT_MAX = 6


class MulQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 MUL (``TM_QM_*``); int8 SUB uses :class:`AddQuantSlot`."""

    IN1_OFFSET = 0
    IN2_OFFSET = 1
    OUT_OFFSET = 2
    OUT_MULT = 3
    OUT_SHIFT = 4
    ACT_MIN = 5
    ACT_MAX = 6


class SoftmaxQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 SOFTMAX (``TM_QS_*``)."""

    IN_MULT = 0
    IN_LEFT_SHIFT = 1
    DIFF_MIN = 2


class ConcatGeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` of CONCATENATION (``TM_GC_*``): the axis of the 4-D shapes and the
    first index of the input's window along it in the output."""

    AXIS = 0
    OFFSET = 1


class SliceGeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` of STRIDED_SLICE (``TM_GS_*``): first index and stride of each dim
    (n, h, w, c) of the 4-D input."""

    BEGIN_N = 0
    BEGIN_H = 1
    BEGIN_W = 2
    BEGIN_C = 3
    STRIDE_N = 4
    STRIDE_H = 5
    STRIDE_W = 6
    STRIDE_C = 7
class LogisticQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 LOGISTIC and TANH (``TM_QLG_*``)."""

    IN_OFFSET = 0
    IN_MULT = 1
    IN_LEFT_SHIFT = 2


class HardSwishQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 HARD_SWISH (``TM_QHS_*``)."""

    IN_OFFSET = 0
    OUT_OFFSET = 1
    OUT_MULT = 2
    OUT_SHIFT = 3
    RELUISH_MULT = 4
    RELUISH_SHIFT = 5


class LeakyReluQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 LEAKY_RELU (``TM_QLR_*``)."""

    IN_OFFSET = 0
    OUT_OFFSET = 1
    ID_MULT = 2
    ID_SHIFT = 3
    ALPHA_MULT = 4
    ALPHA_SHIFT = 5


class PreluQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of the int8 PRELU (``TM_QPR_*``); alpha's shape is ``filter[]``."""

    IN_OFFSET = 0
    ALPHA_OFFSET = 1
    OUT_OFFSET = 2
    ID_MULT = 3
    ID_SHIFT = 4
    ALPHA_MULT = 5
    ALPHA_SHIFT = 6


class FloatQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of float layers, float32 bit patterns (``TM_QF_*``)."""

    BETA = 0
    ALPHA = 1
    ACT_MIN = 2
    ACT_MAX = 3


class ReduceGeomSlot(enum.IntEnum):
    """Index of ``geom[]`` of MEAN / SUM (``TM_GR_*``): the reduced dimensions of ``in[4]`` as a
    bit mask (bit i: dimension i); 0, the default, is MEAN's original spatial form (axes 1, 2)."""

    AXES = 6


class ConvertGeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` of QUANTIZE / DEQUANTIZE (``TM_GQ_*``): the :class:`DType` of the
    input and of the output."""

    IN_DTYPE = 6
    OUT_DTYPE = 7


class ConvertQuantSlot(enum.IntEnum):
    """Indices of ``quant[]`` of QUANTIZE / DEQUANTIZE (``TM_QZ_*``); ``SCALE`` is a float32 bit
    pattern."""

    IN_OFFSET = 0
    OUT_OFFSET = 1
    MULT = 2
    SHIFT = 3
    SCALE = 4
class TransposeGeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` of TRANSPOSE (``TM_GTR_*``): output dim k is input dim ``perm_k``."""

    PERM0 = 0
    PERM1 = 1
    PERM2 = 2
    PERM3 = 3


class PadGeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` of PAD (``TM_GPAD_*``): elements before each NHWC dim."""

    BEFORE_N = 0
    BEFORE_H = 1
    BEFORE_W = 2
    BEFORE_C = 3


class PadQuantSlot(enum.IntEnum):
    """Index of ``quant[]`` of PAD (``TM_QPAD_*``): the fill, an int8 code or a float32 bit
    pattern."""

    VALUE = 0


class ResizeGeomSlot(enum.IntEnum):
    """Indices of ``geom[]`` of RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR (``TM_GRS_*``)."""

    ALIGN_CORNERS = 0
    HALF_PIXEL_CENTERS = 1


#: Geometry words of a slot no family sets: strides and dilations 1, everything else 0.
GEOM_DEFAULTS: Mapping[GeomSlot, int] = MappingProxyType({
    GeomSlot.STRIDE_H: 1, GeomSlot.STRIDE_W: 1, GeomSlot.DIL_H: 1, GeomSlot.DIL_W: 1})


def f32_bits(value: float) -> int:
    """The float32 bit pattern of ``value`` as a signed 32-bit word (how float parameters travel
    in ``quant[]``)."""
    return struct.unpack("<i", struct.pack("<f", float(value)))[0]


def default_geom() -> tuple[int, ...]:
    """``geom[]`` with no slot set (:data:`GEOM_DEFAULTS`)."""
    return tuple(GEOM_DEFAULTS.get(GeomSlot(i), 0) for i in range(GEOM_WORDS))


def default_quant() -> tuple[int, ...]:
    """``quant[]`` with no slot set: all zero."""
    return (0,) * QUANT_WORDS


@dataclass(frozen=True)
class SlotFamily:
    """The named slots of ``geom[]`` or ``quant[]`` for one family of operators.

    ``slots`` maps a keyword — the field of the C kernel parameter struct ``c_struct`` the runner
    fills from that slot (``tm_runner.c``) — to the slot index.  :meth:`words` builds the whole
    array: the defaults (:func:`default_geom` / :func:`default_quant`), then the slots given.
    With ``f32`` the values are floats stored as float32 bit patterns (:func:`f32_bits`).
    """

    name: str
    array: str
    slots: Mapping[str, int]
    c_struct: str | None = None
    f32: bool = False

    def words(self, **values: float) -> tuple[int, ...]:
        """The array's 32-bit words with the named slots set; an unknown name is a
        :class:`TinymodelError` listing this family's slots."""
        out = list(default_geom() if self.array == "geom" else default_quant())
        for key, value in values.items():
            try:
                index = self.slots[key]
            except KeyError:
                raise TinymodelError(f"{self.name}: no {self.array} slot {key!r}; slots: "
                                     + ", ".join(self.slots)) from None
            out[index] = f32_bits(value) if self.f32 else int(value)
        return tuple(out)


#: Conv / depthwise geometry (``tm_conv_params``; ``ch_mult`` for depthwise only).
CONV_GEOM = SlotFamily("conv geometry", "geom", MappingProxyType({
    "stride_h": GeomSlot.STRIDE_H, "stride_w": GeomSlot.STRIDE_W, "pad_h": GeomSlot.PAD_H,
    "pad_w": GeomSlot.PAD_W, "dilation_h": GeomSlot.DIL_H, "dilation_w": GeomSlot.DIL_W,
    "ch_mult": GeomSlot.CH_MULT}), "tm_conv_params")
#: Pooling geometry (``tm_pool_params``).
POOL_GEOM = SlotFamily("pooling geometry", "geom", MappingProxyType({
    "stride_h": GeomSlot.STRIDE_H, "stride_w": GeomSlot.STRIDE_W, "pad_h": GeomSlot.PAD_H,
    "pad_w": GeomSlot.PAD_W, "filter_h": GeomSlot.FILTER_H, "filter_w": GeomSlot.FILTER_W}),
    "tm_pool_params")
#: int8 requantization of conv / depthwise / dense / relu / mean (``tm_quant_s8``); int8 pooling
#: sets ``act_min`` / ``act_max`` only.
S8_QUANT = SlotFamily("int8 quantization", "quant", MappingProxyType({
    "input_offset": QuantSlot.IN_OFFSET, "output_offset": QuantSlot.OUT_OFFSET,
    "act_min": QuantSlot.ACT_MIN, "act_max": QuantSlot.ACT_MAX, "multiplier": QuantSlot.MULT,
    "shift": QuantSlot.SHIFT}), "tm_quant_s8")
#: int8 ADD (``tm_add_params_s8``; :class:`tinymodel.requantization.AddParams` has the same
#: field names).
ADD_S8_QUANT = SlotFamily("int8 ADD quantization", "quant", MappingProxyType({
    "input1_offset": AddQuantSlot.IN1_OFFSET, "input2_offset": AddQuantSlot.IN2_OFFSET,
    "output_offset": AddQuantSlot.OUT_OFFSET, "left_shift": AddQuantSlot.LEFT_SHIFT,
    "input1_multiplier": AddQuantSlot.IN1_MULT, "input1_shift": AddQuantSlot.IN1_SHIFT,
    "input2_multiplier": AddQuantSlot.IN2_MULT, "input2_shift": AddQuantSlot.IN2_SHIFT,
    "output_multiplier": AddQuantSlot.OUT_MULT, "output_shift": AddQuantSlot.OUT_SHIFT,
    "act_min": AddQuantSlot.ACT_MIN, "act_max": AddQuantSlot.ACT_MAX}), "tm_add_params_s8")
#: BATCH_MATMUL options (``tm_bmm_params``): ``adj_x`` / ``adj_y`` 0 or 1.  Give both: the slots
#: share geom[0] / geom[1] with the strides, whose default (:data:`GEOM_DEFAULTS`) is 1.
BMM_GEOM = SlotFamily("batch matmul options", "geom", MappingProxyType({
    "adj_x": BmmGeomSlot.ADJ_X, "adj_y": BmmGeomSlot.ADJ_Y}), "tm_bmm_params")
#: int8 BATCH_MATMUL (``tm_bmm_quant_s8``).
BMM_S8_QUANT = SlotFamily("int8 BATCH_MATMUL quantization", "quant", MappingProxyType({
    "lhs_offset": BmmQuantSlot.LHS_OFFSET, "rhs_offset": BmmQuantSlot.RHS_OFFSET,
    "output_offset": BmmQuantSlot.OUT_OFFSET, "multiplier": BmmQuantSlot.MULT,
    "shift": BmmQuantSlot.SHIFT, "act_min": BmmQuantSlot.ACT_MIN,
    "act_max": BmmQuantSlot.ACT_MAX}), "tm_bmm_quant_s8")
#: int8 MUL (``tm_mul_params_s8``; :class:`tinymodel.requantization.MulParams` has the same
#: field names).
MUL_S8_QUANT = SlotFamily("int8 MUL quantization", "quant", MappingProxyType({
    "input1_offset": MulQuantSlot.IN1_OFFSET, "input2_offset": MulQuantSlot.IN2_OFFSET,
    "output_offset": MulQuantSlot.OUT_OFFSET, "output_multiplier": MulQuantSlot.OUT_MULT,
    "output_shift": MulQuantSlot.OUT_SHIFT, "act_min": MulQuantSlot.ACT_MIN,
    "act_max": MulQuantSlot.ACT_MAX}), "tm_mul_params_s8")
#: int8 SOFTMAX (``tm_softmax_params_s8``).
SOFTMAX_S8_QUANT = SlotFamily("int8 SOFTMAX quantization", "quant", MappingProxyType({
    "input_multiplier": SoftmaxQuantSlot.IN_MULT,
    "input_left_shift": SoftmaxQuantSlot.IN_LEFT_SHIFT,
    "diff_min": SoftmaxQuantSlot.DIFF_MIN}), "tm_softmax_params_s8")
#: Float SOFTMAX: ``beta`` (the ``beta`` argument of ``tm_softmax_f32``).
SOFTMAX_F32_QUANT = SlotFamily("float SOFTMAX parameters", "quant", MappingProxyType({
    "beta": FloatQuantSlot.BETA}), None, f32=True)
#: Float activation clamp of every other float layer (``tm_act_f32``).
F32_ACT_QUANT = SlotFamily("float activation range", "quant", MappingProxyType({
    "act_min": FloatQuantSlot.ACT_MIN, "act_max": FloatQuantSlot.ACT_MAX}), "tm_act_f32",
    f32=True)

#: CONCATENATION geometry (``tm_concat_params``): one input's window in the output.
CONCAT_GEOM = SlotFamily("concatenation window", "geom", MappingProxyType({
    "axis": ConcatGeomSlot.AXIS, "offset": ConcatGeomSlot.OFFSET}), "tm_concat_params")
#: STRIDED_SLICE geometry (``tm_slice_params``): first index and stride per input dim.
SLICE_GEOM = SlotFamily("strided window", "geom", MappingProxyType({
    f"{what}_{dim}": getattr(SliceGeomSlot, f"{what.upper()}_{dim.upper()}")
    for what in ("begin", "stride") for dim in "nhwc"}), "tm_slice_params")
#: TRANSPOSE (``tm_transpose_params``): the permutation padded to 4-D.
TRANSPOSE_GEOM = SlotFamily("transpose permutation", "geom", MappingProxyType({
    "perm0": TransposeGeomSlot.PERM0, "perm1": TransposeGeomSlot.PERM1,
    "perm2": TransposeGeomSlot.PERM2, "perm3": TransposeGeomSlot.PERM3}), "tm_transpose_params")
#: PAD (``tm_pad_params``): elements before each NHWC dim; after = out - in - before.
PAD_GEOM = SlotFamily("pad amounts", "geom", MappingProxyType({
    "before_n": PadGeomSlot.BEFORE_N, "before_h": PadGeomSlot.BEFORE_H,
    "before_w": PadGeomSlot.BEFORE_W, "before_c": PadGeomSlot.BEFORE_C}), "tm_pad_params")
#: PAD's fill (``tm_pad_value``): the int8 code, or :func:`f32_bits` of the float fill.
PAD_QUANT = SlotFamily("pad value", "quant", MappingProxyType({"value": PadQuantSlot.VALUE}),
                       "tm_pad_value")
#: RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR options (``tm_resize_params``), 0 or 1 each.
RESIZE_GEOM = SlotFamily("resize options", "geom", MappingProxyType({
    "align_corners": ResizeGeomSlot.ALIGN_CORNERS,
    "half_pixel_centers": ResizeGeomSlot.HALF_PIXEL_CENTERS}), "tm_resize_params")
#: int8 LOGISTIC and TANH (``tm_logistic_params_s8``; field names of
#: :class:`tinymodel.requantization.LogisticParams`).
LOGISTIC_S8_QUANT = SlotFamily("int8 LOGISTIC / TANH quantization", "quant", MappingProxyType({
    "input_offset": LogisticQuantSlot.IN_OFFSET, "input_multiplier": LogisticQuantSlot.IN_MULT,
    "input_left_shift": LogisticQuantSlot.IN_LEFT_SHIFT}), "tm_logistic_params_s8")
#: int8 HARD_SWISH (``tm_hard_swish_params_s8``; :class:`tinymodel.requantization.HardSwishParams`).
HARD_SWISH_S8_QUANT = SlotFamily("int8 HARD_SWISH quantization", "quant", MappingProxyType({
    "input_offset": HardSwishQuantSlot.IN_OFFSET, "output_offset": HardSwishQuantSlot.OUT_OFFSET,
    "output_multiplier": HardSwishQuantSlot.OUT_MULT,
    "output_shift": HardSwishQuantSlot.OUT_SHIFT,
    "reluish_multiplier": HardSwishQuantSlot.RELUISH_MULT,
    "reluish_shift": HardSwishQuantSlot.RELUISH_SHIFT}), "tm_hard_swish_params_s8")
#: int8 LEAKY_RELU (``tm_leaky_relu_params_s8``; :class:`tinymodel.requantization.LeakyReluParams`).
LEAKY_RELU_S8_QUANT = SlotFamily("int8 LEAKY_RELU quantization", "quant", MappingProxyType({
    "input_offset": LeakyReluQuantSlot.IN_OFFSET, "output_offset": LeakyReluQuantSlot.OUT_OFFSET,
    "identity_multiplier": LeakyReluQuantSlot.ID_MULT,
    "identity_shift": LeakyReluQuantSlot.ID_SHIFT,
    "alpha_multiplier": LeakyReluQuantSlot.ALPHA_MULT,
    "alpha_shift": LeakyReluQuantSlot.ALPHA_SHIFT}), "tm_leaky_relu_params_s8")
#: int8 PRELU (``tm_prelu_params_s8``; :class:`tinymodel.requantization.PreluParams`).
PRELU_S8_QUANT = SlotFamily("int8 PRELU quantization", "quant", MappingProxyType({
    "input_offset": PreluQuantSlot.IN_OFFSET, "alpha_offset": PreluQuantSlot.ALPHA_OFFSET,
    "output_offset": PreluQuantSlot.OUT_OFFSET,
    "identity_multiplier": PreluQuantSlot.ID_MULT, "identity_shift": PreluQuantSlot.ID_SHIFT,
    "alpha_multiplier": PreluQuantSlot.ALPHA_MULT,
    "alpha_shift": PreluQuantSlot.ALPHA_SHIFT}), "tm_prelu_params_s8")
#: Float LEAKY_RELU: ``alpha`` (the ``alpha`` argument of ``tm_leaky_relu_f32``).
LEAKY_RELU_F32_QUANT = SlotFamily("float LEAKY_RELU parameters", "quant", MappingProxyType({
    "alpha": FloatQuantSlot.ALPHA}), None, f32=True)
#: MEAN / SUM over any axes (``tm_reduce_params``): ``axes`` a bit mask of the reduced
#: dimensions of ``in[4]``, 0 (the default) for the spatial ones.
REDUCE_GEOM = SlotFamily("reduction axes", "geom", MappingProxyType({
    "axes": ReduceGeomSlot.AXES}), "tm_reduce_params")
#: QUANTIZE / DEQUANTIZE dtypes (``tm_convert_dtypes``): :class:`DType` codes.
CONVERT_GEOM = SlotFamily("QUANTIZE / DEQUANTIZE dtypes", "geom", MappingProxyType({
    "in_dtype": ConvertGeomSlot.IN_DTYPE, "out_dtype": ConvertGeomSlot.OUT_DTYPE}),
    "tm_convert_dtypes")
#: QUANTIZE / DEQUANTIZE parameters (``tm_quantize_params``); give ``scale`` as
#: :func:`f32_bits` of the float (the other slots are integers).
CONVERT_QUANT = SlotFamily("QUANTIZE / DEQUANTIZE parameters", "quant", MappingProxyType({
    "input_offset": ConvertQuantSlot.IN_OFFSET, "output_offset": ConvertQuantSlot.OUT_OFFSET,
    "multiplier": ConvertQuantSlot.MULT, "shift": ConvertQuantSlot.SHIFT,
    "scale": ConvertQuantSlot.SCALE}), "tm_quantize_params")

#: Every slot family, for documentation and the header test.
SLOT_FAMILIES: tuple[SlotFamily, ...] = (CONV_GEOM, POOL_GEOM, S8_QUANT, ADD_S8_QUANT,
                                         SOFTMAX_S8_QUANT, SOFTMAX_F32_QUANT, F32_ACT_QUANT,
                                         CONCAT_GEOM, SLICE_GEOM,
                                         TRANSPOSE_GEOM, PAD_GEOM, PAD_QUANT, RESIZE_GEOM,
                                         LOGISTIC_S8_QUANT, HARD_SWISH_S8_QUANT,
                                         MUL_S8_QUANT, SOFTMAX_S8_QUANT, SOFTMAX_F32_QUANT,
                                         F32_ACT_QUANT, LOGISTIC_S8_QUANT, HARD_SWISH_S8_QUANT,
                                         LEAKY_RELU_S8_QUANT, PRELU_S8_QUANT,
                                         LEAKY_RELU_F32_QUANT, BMM_GEOM, BMM_S8_QUANT,
                                         REDUCE_GEOM, CONVERT_GEOM, CONVERT_QUANT)


# -- quantization rules (tm_runner.c's tm_quant_rules[]) ---------------------------------------

class QuantRuleKind(enum.IntEnum):
    """What a :class:`QuantRule` checks (``tm_quant_rule_kind``)."""

    RANGE = 0           # lo <= quant[slot] <= hi
    ZERO_OR_RANGE = 1   # quant[slot] == 0 or lo <= quant[slot] <= hi
    ORDER = 2           # quant[slot] <= quant[other]
    AT_MOST_HALF = 3    # multiplier quant[slot] with shift quant[other] is <= 1/2
    RADIUS = 4          # quant[slot] == -floor(31 * 2^26 / 2^quant[other])
    F32_ORDER = 5       # float quant[slot] <= float quant[other], neither NaN
    F32_FINITE = 6      # float quant[slot] is finite


#: A QuantizeMultiplier result is 0 or lies in [MULT_LO, MULT_HI] (TFLite's quantization_util.cc).
MULT_LO = 1 << 30
MULT_HI = (1 << 31) - 1
#: ... reduced to int16 (``DownScaleInt32ToInt16Multiplier``): in [MULT_Q15_LO, MULT_Q15_HI].
MULT_Q15_LO = 1 << 14
MULT_Q15_HI = (1 << 15) - 1
_F32_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]


@dataclass(frozen=True)
class QuantRule:
    """One row of the firmware's table of quantization rules: ``kind`` applied to
    ``quant[slot]`` (and ``quant[other]``) of the operators ``ops``, for float variants when
    ``f32`` else for int8 ones.  ``source`` names the TFLite rule (the C table's comment)."""

    ops: frozenset[Op]
    f32: bool
    kind: QuantRuleKind
    slot: int
    other: int = 0
    lo: int = 0
    hi: int = 0
    source: str = ""

    def holds(self, quant: Sequence[int]) -> bool:
        """Whether ``quant`` (the 12 signed words) passes this rule."""
        v, w = _signed(quant[self.slot]), _signed(quant[self.other])
        k = self.kind
        if k is QuantRuleKind.RANGE:
            return self.lo <= v <= self.hi
        if k is QuantRuleKind.ZERO_OR_RANGE:
            return v == 0 or self.lo <= v <= self.hi
        if k is QuantRuleKind.ORDER:
            return v <= w
        if k is QuantRuleKind.AT_MOST_HALF:
            return w < 0 or (w == 0 and v <= MULT_LO)
        if k is QuantRuleKind.RADIUS:
            return 0 <= w <= 31 and v == -((31 << 26) >> w)
        a = struct.unpack("<f", struct.pack("<i", v))[0]
        if k is QuantRuleKind.F32_FINITE:
            return -_F32_MAX <= a <= _F32_MAX
        b = struct.unpack("<f", struct.pack("<i", w))[0]
        return a == a and b == b and a <= b      # F32_ORDER (a NaN is unequal to itself)

    def describe(self, quant: Sequence[int]) -> str:
        """The rule and the offending value, in words."""
        v = _signed(quant[self.slot])
        k = self.kind
        if k is QuantRuleKind.RANGE:
            want = f"in [{self.lo}, {self.hi}]"
        elif k is QuantRuleKind.ZERO_OR_RANGE:
            want = f"0 or in [{self.lo}, {self.hi}]"
        elif k is QuantRuleKind.ORDER:
            want = f"<= quant[{self.other}] ({_signed(quant[self.other])})"
        elif k is QuantRuleKind.AT_MOST_HALF:
            want = f"at most 1/2 with shift {_signed(quant[self.other])}"
        elif k is QuantRuleKind.RADIUS:
            want = f"-floor(31 * 2^26 / 2^{_signed(quant[self.other])})"
        elif k is QuantRuleKind.F32_FINITE:
            want = "a finite float"
        else:
            want = f"a float <= quant[{self.other}]"
        return f"quant[{self.slot}] = {v} must be {want} ({self.source})"


_REQUANT = frozenset({Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED, Op.RELU, Op.MEAN,
                      Op.TRANSPOSE_CONV, Op.SUM})
_NORMALISED = _REQUANT - {Op.MEAN}
_POOL = frozenset({Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D})
_ADD = frozenset({Op.ADD, Op.SUB})     # SUB: ADD's parameters (tm_add_params_s8)
_MUL = frozenset({Op.MUL})
_SOFTMAX = frozenset({Op.SOFTMAX})
_BMM = frozenset({Op.BATCH_MATMUL})
_CONVERT = frozenset({Op.QUANTIZE, Op.DEQUANTIZE})
_R = QuantRuleKind
_ZP = "int8 zero point in [-128, 127]; input offset -zp, output offset +zp"
_ACT = "fused activation range, CalculateActivationRangeQuantized"
_QM = "QuantizeMultiplier: 0 or [2^30, 2^31)"
_QMS = "QuantizeMultiplierSmallerThanOneExp: e <= 0"
_SIGMOID = frozenset({Op.LOGISTIC, Op.TANH})
_HSWISH = frozenset({Op.HARD_SWISH})
_LEAKY = frozenset({Op.LEAKY_RELU})
_PRELU = frozenset({Op.PRELU})
_E = "QuantizeMultiplier: e < -31 flushes to 0, e <= 30"
_Q15 = "DownScaleInt32ToInt16Multiplier: [2^14, 2^15)"

#: The firmware's quantization rules, row by row as ``tm_quant_rules[]`` in
#: ``firmware/src/tm_runner.c`` (``tests/test_firmware_interface.py`` checks they agree).  The
#: firmware answers a request that breaks one with PARAM and the slot's field offset, before any
#: kernel runs; :func:`quant_violations` applies them on the host.
QUANT_RULES: tuple[QuantRule, ...] = (
    QuantRule(_REQUANT, False, _R.RANGE, QuantSlot.IN_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_REQUANT, False, _R.RANGE, QuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
    QuantRule(_REQUANT | _POOL, False, _R.RANGE, QuantSlot.ACT_MIN, 0, -128, 127, _ACT),
    QuantRule(_REQUANT | _POOL, False, _R.RANGE, QuantSlot.ACT_MAX, 0, -128, 127, _ACT),
    QuantRule(_REQUANT | _POOL, False, _R.ORDER, QuantSlot.ACT_MIN, QuantSlot.ACT_MAX,
              source=_ACT),
    QuantRule(_NORMALISED, False, _R.ZERO_OR_RANGE, QuantSlot.MULT, 0, MULT_LO, MULT_HI, _QM),
    QuantRule(frozenset({Op.MEAN}), False, _R.RANGE, QuantSlot.MULT, 0, 0, MULT_HI,
              "MEAN folds 1/n into the multiplier: 0 <= m < 2^31"),
    QuantRule(_REQUANT, False, _R.RANGE, QuantSlot.SHIFT, 0, -31, 30,
              "QuantizeMultiplier: e < -31 flushes to 0, e <= 30"),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.IN1_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.IN2_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.LEFT_SHIFT, 0, 20, 20,
              "ADD: left_shift = 20 for int8"),
    QuantRule(_ADD, False, _R.ZERO_OR_RANGE, AddQuantSlot.IN1_MULT, 0, MULT_LO, MULT_HI, _QM),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.IN1_SHIFT, 0, -31, 0, _QMS),
    QuantRule(_ADD, False, _R.AT_MOST_HALF, AddQuantSlot.IN1_MULT, AddQuantSlot.IN1_SHIFT,
              source="ADD: each input multiplier <= 1/2"),
    QuantRule(_ADD, False, _R.ZERO_OR_RANGE, AddQuantSlot.IN2_MULT, 0, MULT_LO, MULT_HI, _QM),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.IN2_SHIFT, 0, -31, 0, _QMS),
    QuantRule(_ADD, False, _R.AT_MOST_HALF, AddQuantSlot.IN2_MULT, AddQuantSlot.IN2_SHIFT,
              source="ADD: each input multiplier <= 1/2"),
    QuantRule(_ADD, False, _R.ZERO_OR_RANGE, AddQuantSlot.OUT_MULT, 0, MULT_LO, MULT_HI, _QM),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.OUT_SHIFT, 0, -31, 0, _QMS),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.ACT_MIN, 0, -128, 127, _ACT),
    QuantRule(_ADD, False, _R.RANGE, AddQuantSlot.ACT_MAX, 0, -128, 127, _ACT),
    QuantRule(_ADD, False, _R.ORDER, AddQuantSlot.ACT_MIN, AddQuantSlot.ACT_MAX, source=_ACT),
    QuantRule(_MUL, False, _R.RANGE, MulQuantSlot.IN1_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_MUL, False, _R.RANGE, MulQuantSlot.IN2_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_MUL, False, _R.RANGE, MulQuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
    QuantRule(_MUL, False, _R.ZERO_OR_RANGE, MulQuantSlot.OUT_MULT, 0, MULT_LO, MULT_HI, _QM),
    QuantRule(_MUL, False, _R.RANGE, MulQuantSlot.OUT_SHIFT, 0, -31, 15,
              "MUL: QuantizeMultiplier e <= 15, so the product (<= 2^16) shifted left fits int32"),
    QuantRule(_MUL, False, _R.RANGE, MulQuantSlot.ACT_MIN, 0, -128, 127, _ACT),
    QuantRule(_MUL, False, _R.RANGE, MulQuantSlot.ACT_MAX, 0, -128, 127, _ACT),
    QuantRule(_MUL, False, _R.ORDER, MulQuantSlot.ACT_MIN, MulQuantSlot.ACT_MAX, source=_ACT),
    QuantRule(_SOFTMAX, False, _R.RANGE, SoftmaxQuantSlot.IN_MULT, 0, MULT_LO, MULT_HI,
              "SOFTMAX: QuantizeMultiplierGreaterThanOne, 2^30 <= m < 2^31"),
    QuantRule(_SOFTMAX, False, _R.RANGE, SoftmaxQuantSlot.IN_LEFT_SHIFT, 0, 0, 31,
              "SOFTMAX: QuantizeMultiplierGreaterThanOne of a real < 2^31, 0 <= e <= 31"),
    QuantRule(_SOFTMAX, False, _R.RADIUS, SoftmaxQuantSlot.DIFF_MIN,
              SoftmaxQuantSlot.IN_LEFT_SHIFT, source="SOFTMAX: diff_min = -CalculateInputRadius(5, e)"),
    QuantRule(_SIGMOID, False, _R.RANGE, LogisticQuantSlot.IN_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_SIGMOID, False, _R.RANGE, LogisticQuantSlot.IN_MULT, 0, MULT_LO, MULT_HI,
              "LOGISTIC / TANH: round(frexp(s_in * 2^27) * 2^31) in [2^30, 2^31)"),
    QuantRule(_SIGMOID, False, _R.RANGE, LogisticQuantSlot.IN_LEFT_SHIFT, 0, 0, 31,
              "LOGISTIC / TANH: the exponent of s_in * 2^27 in [0, 31]"),
    QuantRule(_HSWISH, False, _R.RANGE, HardSwishQuantSlot.IN_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_HSWISH, False, _R.RANGE, HardSwishQuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
    QuantRule(_HSWISH, False, _R.RANGE, HardSwishQuantSlot.OUT_MULT, 0, MULT_Q15_LO,
              MULT_Q15_HI, _Q15),
    QuantRule(_HSWISH, False, _R.RANGE, HardSwishQuantSlot.OUT_SHIFT, 0, -15, 0,
              "HARD_SWISH: output exponent in [-15, 0]"),
    QuantRule(_HSWISH, False, _R.RANGE, HardSwishQuantSlot.RELUISH_MULT, 0, MULT_Q15_LO,
              MULT_Q15_HI, _Q15),
    QuantRule(_HSWISH, False, _R.RANGE, HardSwishQuantSlot.RELUISH_SHIFT, 0, -15, 15,
              "HARD_SWISH: reluish exponent in [-15, 15]"),
    QuantRule(_LEAKY, False, _R.RANGE, LeakyReluQuantSlot.IN_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_LEAKY, False, _R.RANGE, LeakyReluQuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
    QuantRule(_LEAKY, False, _R.ZERO_OR_RANGE, LeakyReluQuantSlot.ID_MULT, 0, MULT_LO, MULT_HI,
              _QM),
    QuantRule(_LEAKY, False, _R.RANGE, LeakyReluQuantSlot.ID_SHIFT, 0, -31, 30, _E),
    QuantRule(_LEAKY, False, _R.RANGE, LeakyReluQuantSlot.ALPHA_MULT, 0, -MULT_HI, MULT_HI,
              "LEAKY_RELU: QuantizeMultiplier of s_in * alpha / s_out, negative for alpha < 0"),
    QuantRule(_LEAKY, False, _R.RANGE, LeakyReluQuantSlot.ALPHA_SHIFT, 0, -31, 30, _E),
    QuantRule(_PRELU, False, _R.RANGE, PreluQuantSlot.IN_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_PRELU, False, _R.RANGE, PreluQuantSlot.ALPHA_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_PRELU, False, _R.RANGE, PreluQuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
    QuantRule(_PRELU, False, _R.ZERO_OR_RANGE, PreluQuantSlot.ID_MULT, 0, MULT_LO, MULT_HI, _QM),
    QuantRule(_PRELU, False, _R.RANGE, PreluQuantSlot.ID_SHIFT, 0, -31, 30, _E),
    QuantRule(_PRELU, False, _R.ZERO_OR_RANGE, PreluQuantSlot.ALPHA_MULT, 0, MULT_LO, MULT_HI,
              _QM),
    QuantRule(_PRELU, False, _R.RANGE, PreluQuantSlot.ALPHA_SHIFT, 0, -31, 30, _E),
    QuantRule(_LEAKY, True, _R.F32_FINITE, FloatQuantSlot.ALPHA,
              source="float LEAKY_RELU: alpha finite"),
    QuantRule(_BMM, False, _R.RANGE, BmmQuantSlot.LHS_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_BMM, False, _R.RANGE, BmmQuantSlot.RHS_OFFSET, 0, -127, 128, _ZP),
    QuantRule(_BMM, False, _R.RANGE, BmmQuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
    QuantRule(_BMM, False, _R.ZERO_OR_RANGE, BmmQuantSlot.MULT, 0, MULT_LO, MULT_HI, _QM),
    QuantRule(_BMM, False, _R.RANGE, BmmQuantSlot.SHIFT, 0, -31, 30,
              "QuantizeMultiplier: e < -31 flushes to 0, e <= 30"),
    QuantRule(_BMM, False, _R.RANGE, BmmQuantSlot.ACT_MIN, 0, -128, 127, _ACT),
    QuantRule(_BMM, False, _R.RANGE, BmmQuantSlot.ACT_MAX, 0, -128, 127, _ACT),
    QuantRule(_BMM, False, _R.ORDER, BmmQuantSlot.ACT_MIN, BmmQuantSlot.ACT_MAX, source=_ACT),
    QuantRule(_NORMALISED | {Op.MEAN} | _POOL | _ADD | _BMM | _MUL, True, _R.F32_ORDER,
              FloatQuantSlot.ACT_MIN,
              FloatQuantSlot.ACT_MAX, source="float activation range: min <= max, no NaN"),
    QuantRule(_SOFTMAX, True, _R.F32_FINITE, FloatQuantSlot.BETA,
              source="float SOFTMAX: beta finite"),
    *(rule for f32 in (False, True) for rule in (
        QuantRule(_CONVERT, f32, _R.RANGE, ConvertQuantSlot.IN_OFFSET, 0, -127, 128, _ZP),
        QuantRule(_CONVERT, f32, _R.RANGE, ConvertQuantSlot.OUT_OFFSET, 0, -128, 127, _ZP),
        QuantRule(_CONVERT, f32, _R.ZERO_OR_RANGE, ConvertQuantSlot.MULT, 0, MULT_LO, MULT_HI,
                  _QM),
        QuantRule(_CONVERT, f32, _R.RANGE, ConvertQuantSlot.SHIFT, 0, -31, 30,
                  "QuantizeMultiplier: e < -31 flushes to 0, e <= 30"),
        QuantRule(_CONVERT, f32, _R.F32_FINITE, ConvertQuantSlot.SCALE,
                  source="QUANTIZE / DEQUANTIZE: scale finite"))),
    QuantRule(frozenset({Op.PAD}), False, _R.RANGE, PadQuantSlot.VALUE, 0, -128, 127,
              "PAD: the int8 fill (zp_out, or PADV2's constant) in [-128, 127]"),
    QuantRule(frozenset({Op.PAD}), True, _R.F32_FINITE, PadQuantSlot.VALUE,
              source="float PAD: the fill is a finite number"),
)


def quant_violations(op: int, f32: bool, quant: Sequence[int]) -> list[QuantRule]:
    """The rules of :data:`QUANT_RULES` that ``quant`` breaks for operator code ``op`` (float
    variants when ``f32``); empty when the firmware would accept it."""
    return [r for r in QUANT_RULES if op in r.ops and r.f32 == f32 and not r.holds(quant)]


def _signed(v: int) -> int:
    v = int(v) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


#: :class:`LayerDescriptor` attribute of each C field whose C name is a Python keyword or unclear.
_ATTRIBUTES = {"in": "input", "out": "output"}
#: The one-word fields after ``quant``: arena offsets, scratch size, blob offsets.
_OFFSET_FIELDS = tuple(f.name for f in DESCRIPTOR_FIELDS[
    [f.name for f in DESCRIPTOR_FIELDS].index("quant") + 1:])


@dataclass(frozen=True)
class LayerDescriptor:
    """One ``tm_layer_desc``: what a layer table entry and a RUN_LAYER request describe.

    ``input``, ``filter``, ``output`` are NHWC / OHWI shapes padded to 4 dims; ``geom`` and
    ``quant`` are whole arrays (build them with a :class:`SlotFamily`); offsets are bytes into the
    arena or the constant blob, :data:`NO_OFFSET` when absent.
    """

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

    def __post_init__(self) -> None:
        for f in DESCRIPTOR_FIELDS:
            if f.words > 1 and len(getattr(self, _ATTRIBUTES.get(f.name, f.name))) != f.words:
                raise TinymodelError(f"layer descriptor: {f.name} needs {f.words} words, got "
                                     f"{list(getattr(self, _ATTRIBUTES.get(f.name, f.name)))}")

    @property
    def offsets(self) -> tuple[int, ...]:
        """The nine trailing words (arena and blob offsets, scratch size) in struct order."""
        return tuple(getattr(self, name) for name in _OFFSET_FIELDS)

    def words(self) -> tuple[int, ...]:
        """The struct's :data:`DESC_WORDS` words in order (signed where C has ``int32_t``)."""
        out: list[int] = []
        for f in DESCRIPTOR_FIELDS:
            value = getattr(self, _ATTRIBUTES.get(f.name, f.name))
            out.extend(value if f.words > 1 else (value,))
        return tuple(out)

    @classmethod
    def from_words(cls, words: Sequence[int]) -> LayerDescriptor:
        """Inverse of :meth:`words`, from the values as read from an image (unsigned words;
        the ``int32_t`` fields come back signed)."""
        words = list(words)
        if len(words) != DESC_WORDS:
            raise TinymodelError(f"a layer descriptor has {DESC_WORDS} words, got {len(words)}")
        values: dict[str, object] = {}
        pos = 0
        for f in DESCRIPTOR_FIELDS:
            chunk = words[pos:pos + f.words]
            pos += f.words
            if f.signed:
                chunk = [_signed(v) for v in chunk]
            values[_ATTRIBUTES.get(f.name, f.name)] = tuple(chunk) if f.words > 1 else chunk[0]
        return cls(**values)  # type: ignore[arg-type]


__all__ = [
    "ADD_S8_QUANT", "BIAS_ENTRY_BYTES", "BMM_GEOM", "BMM_S8_QUANT", "BmmGeomSlot", "BmmQuantSlot",
    "BLOB_ALIGN", "CHANNEL_TABLE_ENTRY_BYTES", "CMD_RESPONSE",
    "CONV_GEOM", "CONVERT_GEOM", "CONVERT_QUANT", "REDUCE_GEOM", "ConvertGeomSlot",
    "ConvertQuantSlot", "ReduceGeomSlot", "DESCRIPTOR_FIELDS", "DESC_WORDS", "DTYPE_NAMES",
    "ELEMENT_BYTES", "F32_ACT_QUANT",
    "ABORT_GAP_DIV", "ABORT_MAX_BYTES", "ABORT_RX_BYTES", "CRC32_CHECK", "CRC32_INIT",
    "CRC32_POLY", "CRC32_XOROUT", "REPLY_READ_HEADER_BYTES", "REPLY_READ_REQUEST_BYTES",
    "FRAME_CRC_BYTES", "FRAME_HEADER_BYTES", "FRAME_MAX_DECODED", "FRAME_MAX_ENCODED",
    "FRAME_MAX_PAYLOAD", "FRAME_MAX_WIRE", "FRAME_MIN_DECODED", "GEOM_DEFAULTS", "GEOM_WORDS",
    "LEGACY_PATH_NAMES", "MODEL_CYCLES_PAGE", "MODEL_FIELDS", "MODEL_INFO_MAX_OPS", "MODEL_RECORD_BYTES",
    "MODEL_TENSOR_FIELDS", "NO_OFFSET", "OP_CODES", "OP_COUNT", "PATH_CODES", "PATH_NONE",
    "POOL_GEOM", "PROTOCOL_VERSION", "QUANT_WORDS", "RUN_LAYER_FIELDS", "RUN_LAYER_FORMAT",
    "RUN_LAYER_MAX_REPS", "RUN_LAYER_REQUEST_BYTES", "RUN_MAX_CHANNELS", "RUN_MAX_DIM",
    "RUN_MODEL_FIRST_PAGE", "RUN_MODEL_MAX_REPS", "S8_QUANT", "SLOT_FAMILIES", "SOFTMAX_F32_QUANT",
    "SOFTMAX_S8_QUANT", "TENSOR_RECORD_BYTES", "TWO_INPUT_OPS", "BINARY_OPS", "MUL_S8_QUANT", "MulQuantSlot", "VARIANT_CODES", "VARIANT_COUNT", "AddQuantSlot",
    "Command", "DType", "Field", "MULT_HI", "MULT_LO", "QUANT_RULES", "QuantRule",
    "QuantRuleKind", "quant_violations", "FloatQuantSlot", "GeomSlot", "KernelStatus", "LayerDescriptor",
    "LayerFlag", "NoFitRegion", "Op", "QuantSlot", "RunLayerField", "RunStatus", "RxEvent",
    "SlotFamily", "SoftmaxQuantSlot", "PAD_GEOM", "PAD_QUANT", "RESIZE_GEOM", "TRANSPOSE_GEOM",
    "PadGeomSlot", "PadQuantSlot", "ResizeGeomSlot", "TransposeGeomSlot", "LogisticQuantSlot", "HardSwishQuantSlot",
    "LeakyReluQuantSlot", "PreluQuantSlot", "LOGISTIC_S8_QUANT", "HARD_SWISH_S8_QUANT",
    "LEAKY_RELU_S8_QUANT", "PRELU_S8_QUANT", "LEAKY_RELU_F32_QUANT", "MULT_Q15_LO", "MULT_Q15_HI", "Status", "blob_item_bytes", "default_geom",
    "default_quant", "dtype_code", "f32_bits", "path_of_code", "reported_path", "run_layer_field_name",
    "variant_code", "variants_in_mask",
    "CONCAT_GEOM", "SLICE_GEOM", "ConcatGeomSlot", "SliceGeomSlot",
]
