"""Read a ``.tflite`` file into a :class:`~tinymodel.graph.ModelGraph`, without TensorFlow.

The file is a FlatBuffers binary (identifier ``TFL3``) following TensorFlow Lite's
``schema.fbs``; it is decoded with the bounds-checked accessor in
:mod:`tinymodel.readers.flatbuffer`.  Field ids used below are the declaration order of the
fields in that schema (a union field takes two ids: ``<name>_type`` and the value).

What the reader produces
------------------------
* One :class:`~tinymodel.graph.Layer` per operator of the (single) subgraph, in file order, named
  ``f"{label.lower()}_{operator_index}"`` (``conv_2d_0``, ``strided_slice_7``, ...), where
  ``label`` is the :class:`~tinymodel.ops.OpType` label for mapped operators and ``source_op``
  otherwise.  ``source_op`` is the TFLite operator name (``"PADV2"``, ``"STRIDED_SLICE"``), the
  custom code for custom operators, or ``"BUILTIN_<code>"`` for codes this module does not know.
* Operators without an entry in :data:`BUILTIN_OPS` become :attr:`OpType.UNSUPPORTED` layers with
  their real inputs and outputs: nothing is dropped.
* Inputs keep TFLite's positions; an omitted optional input (index -1, e.g. a missing bias) is
  ``None``.
* Tensors keep their TFLite names; when a name repeats (or is empty) the later tensor is renamed
  ``"<name>#<tensor index>"`` so names stay unique.  ``options["tensor_name"]`` keeps the
  original name of the layer's first output.
* Constant tensors (a non-empty buffer) get ``constant=True`` and ``data``: a read-only numpy
  view of the file's bytes with the tensor's dtype and shape (``None`` for dtypes numpy cannot
  represent — ``int4``, ``string``, ``bfloat16``, ... — and for sparse tensors).

Every problem with the input raises :class:`~tinymodel.errors.ModelReadError` with a one-line
message that starts with the file name; importing or running this module never imports
TensorFlow.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import numpy as np

from tinymodel.errors import ModelReadError
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import Activation, OpType, Padding
from tinymodel.readers.flatbuffer import FlatBuffer, Table

__all__ = ["BUILTIN_NAMES", "BUILTIN_OPS", "TENSOR_TYPES", "read_tflite"]

log = logging.getLogger(__name__)

#: The TFLite file identifier (bytes 4..8 of the file).
FILE_IDENTIFIER = b"TFL3"

#: Name of every ``BuiltinOperator`` code, indexed by code (schema.fbs, codes 0..207).
BUILTIN_NAMES: tuple[str, ...] = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",      # 0
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",  # 5
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",                                                                      # 10
    "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU",                          # 15
    "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN",                    # 20
    "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS",                # 25
    "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",                 # 30
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
    "TRANSPOSE",                                                                     # 35
    "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",                 # 40
    "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT",        # 45
    "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU",       # 50
    "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG",                                  # 55
    "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT",                     # 60
    "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE",                     # 65
    "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM",                               # 70
    "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN",                                      # 75
    "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR",                 # 80
    "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",                 # 85
    "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL",                       # 90
    "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE",  # 95
    "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL",                                # 100
    "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE",                              # 105
    "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE",                    # 110
    "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE",                         # 115
    "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY",  # 120
    "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE",  # 125
    "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL",                             # 130
    "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE",  # 135
    "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE",  # 140
    "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL",  # 145
    "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",                                                          # 150
    "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST",      # 155
    "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE",  # 160
    "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP",
    "STABLEHLO_CONCATENATE",                                                         # 165
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE",                                     # 170
    "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR",                                                               # 175
    "STABLEHLO_LOG", "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR",        # 180
    "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH",                                                                # 185
    "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE",
    "STABLEHLO_DYNAMIC_UPDATE_SLICE",                                                # 190
    "STABLEHLO_PAD", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW",
    "STABLEHLO_SORT",                                                                # 195
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR",                                                   # 200
    "REDUCE_WINDOW", "STABLEHLO_COMPOSITE", "COMPLEX",                               # 205
)

#: ``BuiltinOperator`` code of the ``CUSTOM`` operator; its name comes from ``custom_code``.
CUSTOM_CODE = BUILTIN_NAMES.index("CUSTOM")

_CODE = {name: code for code, name in enumerate(BUILTIN_NAMES)}

#: The one mapping from TFLite ``BuiltinOperator`` codes to the canonical vocabulary.  Codes not
#: listed here are read as :attr:`OpType.UNSUPPORTED` layers.
BUILTIN_OPS: Mapping[int, OpType] = MappingProxyType({
    _CODE["CONV_2D"]: OpType.CONV_2D,
    _CODE["DEPTHWISE_CONV_2D"]: OpType.DEPTHWISE_CONV_2D,
    _CODE["FULLY_CONNECTED"]: OpType.FULLY_CONNECTED,
    _CODE["AVERAGE_POOL_2D"]: OpType.AVERAGE_POOL_2D,
    _CODE["MAX_POOL_2D"]: OpType.MAX_POOL_2D,
    _CODE["ADD"]: OpType.ADD,
    _CODE["SUB"]: OpType.SUB,
    _CODE["MUL"]: OpType.MUL,
    _CODE["RESHAPE"]: OpType.RESHAPE,
    _CODE["PAD"]: OpType.PAD,
    _CODE["PADV2"]: OpType.PAD,
    _CODE["CONCATENATION"]: OpType.CONCATENATION,
    _CODE["MEAN"]: OpType.MEAN,
    _CODE["SOFTMAX"]: OpType.SOFTMAX,
    _CODE["RELU"]: OpType.RELU,
    _CODE["RELU6"]: OpType.RELU6,
    _CODE["LOGISTIC"]: OpType.LOGISTIC,
    _CODE["TANH"]: OpType.TANH,
    _CODE["HARD_SWISH"]: OpType.HARD_SWISH,
    _CODE["QUANTIZE"]: OpType.QUANTIZE,
    _CODE["DEQUANTIZE"]: OpType.DEQUANTIZE,
})

#: ``TensorType`` code -> dtype string (the keys of :data:`tinymodel.graph.DTYPE_BYTES` where one
#: exists).
TENSOR_TYPES: Mapping[int, str] = MappingProxyType({
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
    7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64",
    13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16",
})

# dtype string -> little-endian numpy dtype, for the dtypes whose buffers numpy can view.
_NUMPY_DTYPES: Mapping[str, np.dtype] = MappingProxyType({
    name: np.dtype(code) for name, code in (
        ("float32", "<f4"), ("float16", "<f2"), ("float64", "<f8"), ("int8", "i1"),
        ("uint8", "u1"), ("int16", "<i2"), ("uint16", "<u2"), ("int32", "<i4"),
        ("uint32", "<u4"), ("int64", "<i8"), ("uint64", "<u8"), ("bool", "?"),
        ("complex64", "<c8"), ("complex128", "<c16"),
    )
})

_PADDING: Mapping[int, Padding] = MappingProxyType({0: Padding.SAME, 1: Padding.VALID})

_ACTIVATION: Mapping[int, Activation] = MappingProxyType({
    0: Activation.NONE, 1: Activation.RELU, 2: Activation.RELU_N1_TO_1, 3: Activation.RELU6,
    4: Activation.TANH, 5: Activation.SIGN_BIT,
})


class _F:
    """Field ids of the schema tables this reader uses (declaration order in schema.fbs)."""

    # Model
    MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 1, 2, 4
    # SubGraph
    SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
    # Buffer
    BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
    # Tensor
    TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 1, 2, 3, 4
    TENSOR_IS_VARIABLE, TENSOR_SPARSITY = 5, 6
    # QuantizationParameters (details is a union: ids 4 and 5)
    QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DETAILS_TYPE, QUANT_DIMENSION = 2, 3, 4, 6
    # OperatorCode
    OPCODE_DEPRECATED_BUILTIN, OPCODE_CUSTOM, OPCODE_VERSION, OPCODE_BUILTIN = 0, 1, 2, 3
    # Operator (builtin_options is a union: ids 3 and 4)
    OP_OPCODE_INDEX, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE = 0, 1, 2, 3


class _Opt:
    """``BuiltinOptions`` union type codes (1-based declaration order in schema.fbs)."""

    CONV_2D, DEPTHWISE_CONV_2D, POOL_2D, FULLY_CONNECTED, SOFTMAX = 1, 2, 5, 8, 9
    CONCATENATION, ADD, RESHAPE, MUL, REDUCER, SUB = 10, 11, 17, 21, 27, 28


@dataclass(frozen=True)
class _Tensor:
    """A decoded tensor plus the facts the layer builder needs that ``TensorSpec`` lacks."""

    spec: TensorSpec
    file_name: str


def read_tflite(source: str | os.PathLike[str] | bytes, name: str | None = None) -> ModelGraph:
    """Read a TFLite flatbuffer (a path, or the file's bytes) into a :class:`ModelGraph`.

    ``name`` is the graph's display name; it defaults to the file stem, or ``"model"`` for bytes.
    Only single-subgraph models are supported.  Raises :class:`ModelReadError` (one line, naming
    the file) for a missing, unreadable, empty, truncated, corrupt or non-TFLite input.
    """
    data, label = _load(source, name)
    fb = FlatBuffer(data, label)
    if fb.size < 8:
        fb.fail(f"file is truncated or not a TFLite flatbuffer ({fb.size} bytes)")
    if fb.identifier() != FILE_IDENTIFIER:
        fb.fail(f"not a TFLite flatbuffer (file identifier is {fb.identifier()!r}, "
                f"expected {FILE_IDENTIFIER!r})")
    if name is None:
        name = Path(label).stem if not isinstance(source, (bytes, bytearray, memoryview)) \
            else "model"
    return _ModelReader(fb).read(name)


def _load(source: str | os.PathLike[str] | bytes, name: str | None) -> tuple[bytes, str]:
    """The file's bytes and the label used in messages (the path, or the name for bytes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)  # an immutable copy, so data views cannot change under the graph
        label = name if name is not None else "<bytes>"
    else:
        try:
            path = Path(os.fspath(source))
        except TypeError:
            raise TypeError(f"read_tflite needs a path or bytes, not {type(source).__name__}") \
                from None
        label = str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelReadError(f"{label}: no such file") from None
        except IsADirectoryError:
            raise ModelReadError(f"{label}: is a directory, not a .tflite file") from None
        except OSError as exc:
            raise ModelReadError(f"{label}: cannot read: {exc.strerror or exc}") from None
        except ValueError as exc:  # e.g. an embedded NUL character in the path
            raise ModelReadError(f"{label!r}: cannot read: {exc}") from None
    if not data:
        raise ModelReadError(f"{label}: file is empty")
    return data, label


class _ModelReader:
    """Decodes one model; one instance per :func:`read_tflite` call."""

    def __init__(self, fb: FlatBuffer) -> None:
        self.fb = fb

    def fail(self, problem: str) -> NoReturn:
        """Raise :class:`ModelReadError` for this file."""
        self.fb.fail(problem)

    # -- model -------------------------------------------------------------------------------
    def read(self, name: str) -> ModelGraph:
        """Decode the whole model."""
        model = self.fb.root()
        subgraphs = model.tables(_F.MODEL_SUBGRAPHS)
        if len(subgraphs) == 0:
            self.fail("has no subgraphs")
        if len(subgraphs) > 1:
            self.fail(f"has {len(subgraphs)} subgraphs; only single-subgraph models are supported")
        sub = subgraphs[0]
        self.buffers = model.tables(_F.MODEL_BUFFERS)
        self.opcodes = [self._opcode(code) for code in model.tables(_F.MODEL_OPERATOR_CODES)]

        self.tensors = self._tensors(sub.tables(_F.SUBGRAPH_TENSORS))
        layers = [self._layer(i, op) for i, op in enumerate(sub.tables(_F.SUBGRAPH_OPERATORS))]
        inputs = self._io_tensors(sub, _F.SUBGRAPH_INPUTS, "input")
        outputs = self._io_tensors(sub, _F.SUBGRAPH_OUTPUTS, "output")
        graph = ModelGraph(name, layers, inputs, outputs, source=self.fb.source)
        log.debug("read %s: %d layers, %d tensors", self.fb.source, len(layers), len(self.tensors))
        return graph

    def _index_vector(self, table: Table, field_id: int) -> tuple[int, ...]:
        """An ``[int]`` vector as Python ints (empty when absent)."""
        return table.ints(field_id) or ()

    def _io_tensors(self, sub: Table, field_id: int, what: str) -> list[TensorSpec]:
        specs = []
        for idx in self._index_vector(sub, field_id):
            if not 0 <= idx < len(self.tensors):
                self.fail(f"model {what} refers to tensor {idx}, but the subgraph has "
                          f"{len(self.tensors)} tensors")
            specs.append(self.tensors[idx].spec)
        return specs

    def _opcode(self, code: Table) -> str | int:
        """The builtin code of an ``OperatorCode``, or its custom code string for custom ops.

        Files written since schema 3a store codes >= 127 in ``builtin_code`` and put 127
        (``PLACEHOLDER_FOR_GREATER_OP_CODES``) in ``deprecated_builtin_code``; older files only
        have the deprecated byte.  The real code is the larger of the two.
        """
        builtin = max(code.int8(_F.OPCODE_DEPRECATED_BUILTIN), code.int32(_F.OPCODE_BUILTIN))
        if builtin == CUSTOM_CODE:
            custom = code.string(_F.OPCODE_CUSTOM)
            return custom if custom else "CUSTOM"
        return builtin

    # -- tensors -----------------------------------------------------------------------------
    def _tensors(self, tables: Sequence[Table]) -> list[_Tensor]:
        used: set[str] = set()
        result = []
        for index, table in enumerate(tables):
            file_name = table.string(_F.TENSOR_NAME) or ""
            unique = file_name or f"tensor#{index}"
            while unique in used:
                unique += f"#{index}"
            used.add(unique)
            result.append(_Tensor(self._tensor(index, table, unique), file_name))
        return result

    def _tensor(self, index: int, t: Table, name: str) -> TensorSpec:
        shape = t.ints(_F.TENSOR_SHAPE) or ()
        if any(d < 0 for d in shape):
            self.fail(f"tensor {name!r} has a negative dimension in shape {shape}; "
                      f"dynamic shapes are not supported")
        type_code = t.int8(_F.TENSOR_TYPE)
        dtype = TENSOR_TYPES.get(type_code)
        if dtype is None:
            self.fail(f"tensor {name!r} has unknown type code {type_code}")
        quant_table = t.table(_F.TENSOR_QUANTIZATION)
        quantization = None if quant_table is None else self._quantization(quant_table, name,
                                                                           shape)
        buffer_index = t.uint32(_F.TENSOR_BUFFER)
        raw = self._buffer(buffer_index, name)
        # a variable's buffer holds its initial value: it is state, not a constant
        constant = raw is not None and not t.bool(_F.TENSOR_IS_VARIABLE)
        data = None
        if constant and raw is not None and t.table(_F.TENSOR_SPARSITY) is None:
            data = self._array(raw, dtype, shape, name)
        return TensorSpec(name=name, shape=shape, dtype=dtype, quantization=quantization,
                          constant=constant, data=data)

    def _quantization(self, q: Table, name: str, shape: tuple[int, ...]) -> Quantization | None:
        """Affine parameters, or ``None`` when the table carries none (as in float models)."""
        if q.uint8(_F.QUANT_DETAILS_TYPE) != 0:
            log.debug("%s: tensor %r uses custom quantization; ignored", self.fb.source, name)
            return None
        scale = q.floats(_F.QUANT_SCALE)
        if not scale:
            return None
        zero_point = q.ints(_F.QUANT_ZERO_POINT, "q") or (0,) * len(scale)
        if len(zero_point) != len(scale):
            self.fail(f"tensor {name!r} has {len(scale)} quantization scales but "
                      f"{len(zero_point)} zero points")
        axis = q.int32(_F.QUANT_DIMENSION)
        if len(scale) > 1 and not (0 <= axis < len(shape) and shape[axis] == len(scale)):
            self.fail(f"tensor {name!r} has {len(scale)} per-channel scales along dimension "
                      f"{axis}, which does not match its shape {shape}")
        return Quantization(scale=scale, zero_point=zero_point, axis=axis)

    def _buffer(self, index: int, tensor: str) -> memoryview | None:
        """The bytes of buffer ``index``, or ``None`` when it is empty."""
        if index >= len(self.buffers):
            self.fail(f"tensor {tensor!r} refers to buffer {index}, but the model has "
                      f"{len(self.buffers)} buffers")
        buf = self.buffers[index]
        data = buf.bytes_view(_F.BUFFER_DATA)
        if data is not None and len(data):
            return data
        offset = buf.uint64(_F.BUFFER_OFFSET)
        if offset > 1:  # large-model layout: the data lives after the flatbuffer
            size = buf.uint64(_F.BUFFER_SIZE)
            self.fb.check_range(offset, size, f"data of buffer {index}")
            return memoryview(self.fb.data)[offset:offset + size] if size else None
        return None

    def _array(self, raw: memoryview, dtype: str, shape: tuple[int, ...],
               name: str) -> np.ndarray | None:
        """A read-only view of ``raw`` with ``dtype`` and ``shape``; checks the byte count."""
        np_dtype = _NUMPY_DTYPES.get(dtype)
        if np_dtype is None:
            return None
        count = 1
        for d in shape:
            count *= d
        if count * np_dtype.itemsize != len(raw):
            self.fail(f"tensor {name!r} of shape {shape} and type {dtype} needs "
                      f"{count * np_dtype.itemsize} bytes but its buffer has {len(raw)}")
        arr = np.frombuffer(raw, dtype=np_dtype, count=count).reshape(shape)
        arr.flags.writeable = False
        return arr

    # -- operators ---------------------------------------------------------------------------
    def _layer(self, index: int, op: Table) -> Layer:
        opcode_index = op.uint32(_F.OP_OPCODE_INDEX)
        if opcode_index >= len(self.opcodes):
            self.fail(f"operator {index} refers to operator code {opcode_index}, but the model "
                      f"has {len(self.opcodes)}")
        code = self.opcodes[opcode_index]
        if isinstance(code, str):
            source_op = code
            op_type = OpType.UNSUPPORTED
        else:
            source_op = BUILTIN_NAMES[code] if 0 <= code < len(BUILTIN_NAMES) \
                else f"BUILTIN_{code}"
            op_type = BUILTIN_OPS.get(code, OpType.UNSUPPORTED)
        label = source_op if op_type is OpType.UNSUPPORTED else op_type.label
        where = f"operator {index} ({source_op})"

        inputs: list[TensorSpec | None] = []
        for i in self._index_vector(op, _F.OP_INPUTS):
            inputs.append(None if i == -1 else self._op_tensor(i, where, "input"))
        out_idx = self._index_vector(op, _F.OP_OUTPUTS)
        outputs = [self._op_tensor(i, where, "output") for i in out_idx]
        options_type, options = op.union(_F.OP_OPTIONS_TYPE)
        attrs = _Attributes(self, where, inputs, options_type, options)
        attrs.extract(op_type, len(outputs))
        extras: dict[str, Any] = dict(attrs.options)
        if out_idx:
            extras["tensor_name"] = self.tensors[out_idx[0]].file_name
        return Layer(
            name=f"{label.lower()}_{index}", op=op_type, inputs=tuple(inputs),
            outputs=tuple(outputs), kernel=attrs.kernel, strides=attrs.strides,
            padding=attrs.padding, dilation=attrs.dilation,
            depth_multiplier=attrs.depth_multiplier, groups=attrs.groups,
            activation=attrs.activation, options=MappingProxyType(extras), source_op=source_op)

    def _op_tensor(self, idx: int, where: str, what: str) -> TensorSpec:
        if not 0 <= idx < len(self.tensors):
            self.fail(f"{where} has {what} tensor {idx}, but the subgraph has "
                      f"{len(self.tensors)} tensors")
        return self.tensors[idx].spec


class _Attributes:
    """Layer attributes pulled from one operator's builtin options and tensors.

    One method per option family (``conv_2d``, ``pool_2d``, ...), each documenting the field ids
    it reads; :meth:`extract` dispatches on the :class:`OpType` through ``_EXTRACTORS``.  Values
    not set by a method keep :class:`Layer`'s defaults.
    """

    def __init__(self, reader: _ModelReader, where: str, inputs: Sequence[TensorSpec | None],
                 options_type: int, options: Table | None) -> None:
        self.reader = reader
        self.where = where
        self.inputs = inputs
        self.options_type = options_type
        self.table = options
        self.kernel: tuple[int, int] | None = None
        self.strides = (1, 1)
        self.padding = Padding.VALID
        self.dilation = (1, 1)
        self.depth_multiplier = 1
        self.groups = 1
        self.activation = Activation.NONE
        self.options: dict[str, Any] = {}

    def fail(self, problem: str) -> NoReturn:
        """Raise :class:`ModelReadError` about this operator."""
        self.reader.fail(f"{self.where} {problem}")

    def extract(self, op_type: OpType, n_outputs: int) -> None:
        """Fill the attributes for ``op_type`` (nothing for ops without options).

        Mapped operators must have a first (activation) input and an output, as
        :attr:`Layer.input` and :attr:`Layer.output` assume; unsupported ones are kept as they are.
        """
        if op_type is OpType.UNSUPPORTED:
            return
        if self._input(0) is None:
            self.fail("has no first input")
        if n_outputs < 1:
            self.fail("has no output")
        handler = _EXTRACTORS.get(op_type)
        if handler is not None:
            handler(self)

    # -- helpers -----------------------------------------------------------------------------
    def _options(self, expected: int) -> Table | None:
        """The options table (``None`` if absent); fail if its union type is not ``expected``."""
        if self.table is not None and self.options_type != expected:
            self.fail(f"has builtin options of type {self.options_type}, expected {expected}")
        return self.table

    def _required_options(self, expected: int) -> Table:
        """Like :meth:`_options`, but the options must be present."""
        table = self._options(expected)
        if table is None:
            self.fail("has no builtin options")
        return table

    def _input_channels(self) -> int:
        """Channels (last dimension) of the activation input; at least 1."""
        x = self._input(0)
        channels = x.shape[-1] if x is not None and x.shape else 0
        if channels < 1:
            self.fail(f"has an input of shape {None if x is None else x.shape}, "
                      f"expected NHWC with at least one channel")
        return channels

    def _input(self, position: int) -> TensorSpec | None:
        return self.inputs[position] if position < len(self.inputs) else None

    def _weights(self, rank: int) -> tuple[int, ...]:
        w = self._input(1)
        if w is None or len(w.shape) != rank:
            self.fail(f"needs a {rank}-D weight tensor as input 1, got "
                      f"{None if w is None else w.shape}")
        return w.shape

    def _constant_ints(self, position: int) -> tuple[int, ...] | None:
        t = self._input(position)
        if t is None or t.data is None or t.data.dtype.kind not in "iu":
            return None
        return tuple(int(v) for v in t.data.reshape(-1).tolist())

    def _activation(self, table: Table | None, field_id: int) -> None:
        if table is None:
            return
        code = table.int8(field_id)
        act = _ACTIVATION.get(code)
        if act is None:
            self.fail(f"has unknown fused activation code {code}")
        self.activation = act

    def _padding(self, table: Table) -> None:
        code = table.int8(0)
        pad = _PADDING.get(code)
        if pad is None:
            self.fail(f"has unknown padding code {code}")
        self.padding = pad

    def _pair(self, table: Table, h_id: int, w_id: int, what: str, default: int) -> tuple[int, int]:
        """``(h, w)`` from two int fields; both must be at least 1."""
        pair = (table.int32(h_id, default), table.int32(w_id, default))
        if pair[0] < 1 or pair[1] < 1:
            self.fail(f"has invalid {what} {pair}")
        return pair

    # -- option families ----------------------------------------------------------------------
    def conv_2d(self) -> None:
        """Conv2DOptions: padding 0, stride_w 1, stride_h 2, activation 3, dilation_w 4, _h 5.

        Weights are OHWI: ``kernel = (H, W)``; ``groups = input channels // I``.
        """
        t = self._required_options(_Opt.CONV_2D)
        self._padding(t)
        self.strides = self._pair(t, 2, 1, "strides", 0)
        self._activation(t, 3)
        self.dilation = self._pair(t, 5, 4, "dilation", 1)
        _, k_h, k_w, w_in = self._weights(4)
        self.kernel = (k_h, k_w)
        in_c = self._input_channels()
        if w_in < 1 or in_c % w_in:
            self.fail(f"has {in_c} input channels, not a multiple of the weights' {w_in}")
        self.groups = in_c // w_in

    def depthwise_conv_2d(self) -> None:
        """DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3,
        activation 4, dilation_w 5, dilation_h 6.

        Weights are ``(1, H, W, C * M)``: ``kernel = (H, W)``.  The depth multiplier is
        ``weight channels // input channels`` when the shapes give it (the option is documented
        as redundant and newer converters may not keep it meaningful), else the option.
        """
        t = self._required_options(_Opt.DEPTHWISE_CONV_2D)
        self._padding(t)
        self.strides = self._pair(t, 2, 1, "strides", 0)
        self._activation(t, 4)
        self.dilation = self._pair(t, 6, 5, "dilation", 1)
        _, k_h, k_w, w_out = self._weights(4)
        self.kernel = (k_h, k_w)
        in_c = self._input_channels()
        option = t.int32(3)
        if w_out % in_c == 0 and w_out >= in_c:
            self.depth_multiplier = w_out // in_c
            if option not in (0, self.depth_multiplier):
                log.debug("%s: depth_multiplier option %d disagrees with shapes (%d)",
                          self.where, option, self.depth_multiplier)
        elif option >= 1:
            self.depth_multiplier = option
        else:
            self.fail(f"has {in_c} input channels and {w_out} weight channels and no "
                      f"depth multiplier")

    def pool_2d(self) -> None:
        """Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_width 3, filter_height 4,
        activation 5."""
        t = self._required_options(_Opt.POOL_2D)
        self._padding(t)
        self.strides = self._pair(t, 2, 1, "strides", 0)
        self.kernel = self._pair(t, 4, 3, "filter size", 0)
        self._activation(t, 5)

    def fully_connected(self) -> None:
        """FullyConnectedOptions: activation 0, weights_format 1, keep_num_dims 2."""
        t = self._options(_Opt.FULLY_CONNECTED)
        self._weights(2)
        self._activation(t, 0)
        self.options["keep_num_dims"] = t.bool(2) if t is not None else False
        if t is not None and t.int8(1) != 0:
            self.options["weights_format"] = t.int8(1)

    def elementwise(self, expected: int) -> None:
        """AddOptions / SubOptions / MulOptions: activation 0."""
        self._activation(self._options(expected), 0)

    def concatenation(self) -> None:
        """ConcatenationOptions: axis 0, activation 1."""
        t = self._options(_Opt.CONCATENATION)
        self.options["axis"] = t.int32(0) if t is not None else 0
        self._activation(t, 1)

    def softmax(self) -> None:
        """SoftmaxOptions: beta 0 (only recorded when the options table is present)."""
        t = self._options(_Opt.SOFTMAX)
        if t is not None:
            self.options["beta"] = t.float32(0)

    def reshape(self) -> None:
        """``new_shape`` from the constant shape input (input 1), else ReshapeOptions field 0."""
        shape = self._constant_ints(1)
        if shape is None:
            t = self._options(_Opt.RESHAPE)
            shape = t.ints(0) if t is not None else None
        if shape is not None:
            self.options["new_shape"] = shape

    def mean(self) -> None:
        """ReducerOptions: keep_dims 0; ``axes`` from the constant input 1."""
        t = self._options(_Opt.REDUCER)
        self.options["keep_dims"] = t.bool(0) if t is not None else False
        axes = self._constant_ints(1)
        if axes is not None:
            self.options["axes"] = axes

    def pad(self) -> None:
        """``paddings`` as ``((before, after), ...)`` from the constant input 1."""
        values = self._constant_ints(1)
        if values is not None and len(values) % 2 == 0:
            self.options["paddings"] = tuple(zip(values[0::2], values[1::2]))


_EXTRACTORS: Mapping[OpType, Callable[[_Attributes], None]] = MappingProxyType({
    OpType.CONV_2D: _Attributes.conv_2d,
    OpType.DEPTHWISE_CONV_2D: _Attributes.depthwise_conv_2d,
    OpType.AVERAGE_POOL_2D: _Attributes.pool_2d,
    OpType.MAX_POOL_2D: _Attributes.pool_2d,
    OpType.FULLY_CONNECTED: _Attributes.fully_connected,
    OpType.ADD: lambda a: a.elementwise(_Opt.ADD),
    OpType.SUB: lambda a: a.elementwise(_Opt.SUB),
    OpType.MUL: lambda a: a.elementwise(_Opt.MUL),
    OpType.CONCATENATION: _Attributes.concatenation,
    OpType.SOFTMAX: _Attributes.softmax,
    OpType.RESHAPE: _Attributes.reshape,
    OpType.MEAN: _Attributes.mean,
    OpType.PAD: _Attributes.pad,
})
