"""Read a ``.tflite`` file into a :class:`~tinymodel.graph.ModelGraph`, without TensorFlow.

The file is a FlatBuffers binary (identifier ``TFL3``) following TensorFlow Lite's
``schema.fbs``; it is decoded with the bounds-checked accessor in
:mod:`tinymodel.readers.flatbuffer`.  Field ids used below are the declaration order of the
fields in that schema (a union field takes two ids: ``<name>_type`` and the value).

What the reader produces
------------------------
* One :class:`~tinymodel.graph.Layer` per operator of the main subgraph, in file order, named
  ``f"{label.lower()}_{operator_index}"`` (``conv_2d_0``, ``strided_slice_7``, ...), where
  ``label`` is the :class:`~tinymodel.ops.OpType` label for mapped operators and ``source_op``
  otherwise.  ``source_op`` is the TFLite operator name (``"PADV2"``, ``"STRIDED_SLICE"``), the
  custom code for custom operators, or ``"BUILTIN_<code>"`` for codes this module does not know.
* Operators without an entry in :data:`BUILTIN_OPS` become :attr:`OpType.UNSUPPORTED` layers with
  their real inputs and outputs: nothing is dropped.  :data:`BUILTIN_OPS` maps every operator
  TensorFlow Lite Micro registers (and SELECT, BATCH_MATMUL, TILE); PADV2 is read as PAD.
* Each mapped operator's builtin options and constant operands that its cost needs are read
  into the layer's attributes (``kernel``, ``strides``, ``padding``, ``activation``, ...) and
  ``options`` (the keys are listed on :class:`~tinymodel.graph.Layer`).  Operators with a cost
  formula must have their activation input and an output; operators without one (control flow,
  variables) are kept whatever their inputs and outputs (``VAR_HANDLE`` has no input,
  ``ASSIGN_VARIABLE`` no output).
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
from tinymodel.readers.files import read_model_file
from tinymodel.readers.flatbuffer import FlatBuffer, Table
from tinymodel.text import counted

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
    _CODE["ABS"]: OpType.ABS,
    _CODE["ADD"]: OpType.ADD,
    _CODE["ADD_N"]: OpType.ADD_N,
    _CODE["ARG_MAX"]: OpType.ARG_MAX,
    _CODE["ARG_MIN"]: OpType.ARG_MIN,
    _CODE["ASSIGN_VARIABLE"]: OpType.ASSIGN_VARIABLE,
    _CODE["AVERAGE_POOL_2D"]: OpType.AVERAGE_POOL_2D,
    _CODE["BATCH_MATMUL"]: OpType.BATCH_MATMUL,
    _CODE["BATCH_TO_SPACE_ND"]: OpType.BATCH_TO_SPACE_ND,
    _CODE["BROADCAST_ARGS"]: OpType.BROADCAST_ARGS,
    _CODE["BROADCAST_TO"]: OpType.BROADCAST_TO,
    _CODE["CALL_ONCE"]: OpType.CALL_ONCE,
    _CODE["CAST"]: OpType.CAST,
    _CODE["CEIL"]: OpType.CEIL,
    _CODE["CONCATENATION"]: OpType.CONCATENATION,
    _CODE["CONV_2D"]: OpType.CONV_2D,
    _CODE["COS"]: OpType.COS,
    _CODE["CUMSUM"]: OpType.CUMSUM,
    _CODE["DEPTH_TO_SPACE"]: OpType.DEPTH_TO_SPACE,
    _CODE["DEPTHWISE_CONV_2D"]: OpType.DEPTHWISE_CONV_2D,
    _CODE["DEQUANTIZE"]: OpType.DEQUANTIZE,
    _CODE["DIV"]: OpType.DIV,
    _CODE["ELU"]: OpType.ELU,
    _CODE["EMBEDDING_LOOKUP"]: OpType.EMBEDDING_LOOKUP,
    _CODE["EQUAL"]: OpType.EQUAL,
    _CODE["EXP"]: OpType.EXP,
    _CODE["EXPAND_DIMS"]: OpType.EXPAND_DIMS,
    _CODE["FILL"]: OpType.FILL,
    _CODE["FLOOR"]: OpType.FLOOR,
    _CODE["FLOOR_DIV"]: OpType.FLOOR_DIV,
    _CODE["FLOOR_MOD"]: OpType.FLOOR_MOD,
    _CODE["FULLY_CONNECTED"]: OpType.FULLY_CONNECTED,
    _CODE["GATHER"]: OpType.GATHER,
    _CODE["GATHER_ND"]: OpType.GATHER_ND,
    _CODE["GREATER"]: OpType.GREATER,
    _CODE["GREATER_EQUAL"]: OpType.GREATER_EQUAL,
    _CODE["HARD_SWISH"]: OpType.HARD_SWISH,
    _CODE["IF"]: OpType.IF,
    _CODE["L2_NORMALIZATION"]: OpType.L2_NORMALIZATION,
    _CODE["L2_POOL_2D"]: OpType.L2_POOL_2D,
    _CODE["LEAKY_RELU"]: OpType.LEAKY_RELU,
    _CODE["LESS"]: OpType.LESS,
    _CODE["LESS_EQUAL"]: OpType.LESS_EQUAL,
    _CODE["LOG"]: OpType.LOG,
    _CODE["LOGICAL_AND"]: OpType.LOGICAL_AND,
    _CODE["LOGICAL_NOT"]: OpType.LOGICAL_NOT,
    _CODE["LOGICAL_OR"]: OpType.LOGICAL_OR,
    _CODE["LOGISTIC"]: OpType.LOGISTIC,
    _CODE["LOG_SOFTMAX"]: OpType.LOG_SOFTMAX,
    _CODE["MAXIMUM"]: OpType.MAXIMUM,
    _CODE["MAX_POOL_2D"]: OpType.MAX_POOL_2D,
    _CODE["MEAN"]: OpType.MEAN,
    _CODE["MINIMUM"]: OpType.MINIMUM,
    _CODE["MIRROR_PAD"]: OpType.MIRROR_PAD,
    _CODE["MUL"]: OpType.MUL,
    _CODE["NEG"]: OpType.NEG,
    _CODE["NOT_EQUAL"]: OpType.NOT_EQUAL,
    _CODE["PACK"]: OpType.PACK,
    _CODE["PAD"]: OpType.PAD,
    _CODE["PADV2"]: OpType.PAD,
    _CODE["PRELU"]: OpType.PRELU,
    _CODE["QUANTIZE"]: OpType.QUANTIZE,
    _CODE["READ_VARIABLE"]: OpType.READ_VARIABLE,
    _CODE["REDUCE_MAX"]: OpType.REDUCE_MAX,
    _CODE["REDUCE_MIN"]: OpType.REDUCE_MIN,
    _CODE["RELU"]: OpType.RELU,
    _CODE["RELU6"]: OpType.RELU6,
    _CODE["RELU_N1_TO_1"]: OpType.RELU_N1_TO_1,
    _CODE["RESHAPE"]: OpType.RESHAPE,
    _CODE["RESIZE_BILINEAR"]: OpType.RESIZE_BILINEAR,
    _CODE["RESIZE_NEAREST_NEIGHBOR"]: OpType.RESIZE_NEAREST_NEIGHBOR,
    _CODE["REVERSE_V2"]: OpType.REVERSE_V2,
    _CODE["ROUND"]: OpType.ROUND,
    _CODE["RSQRT"]: OpType.RSQRT,
    _CODE["SELECT"]: OpType.SELECT,
    _CODE["SELECT_V2"]: OpType.SELECT_V2,
    _CODE["SHAPE"]: OpType.SHAPE,
    _CODE["SIN"]: OpType.SIN,
    _CODE["SLICE"]: OpType.SLICE,
    _CODE["SOFTMAX"]: OpType.SOFTMAX,
    _CODE["SPACE_TO_BATCH_ND"]: OpType.SPACE_TO_BATCH_ND,
    _CODE["SPACE_TO_DEPTH"]: OpType.SPACE_TO_DEPTH,
    _CODE["SPLIT"]: OpType.SPLIT,
    _CODE["SPLIT_V"]: OpType.SPLIT_V,
    _CODE["SQRT"]: OpType.SQRT,
    _CODE["SQUARE"]: OpType.SQUARE,
    _CODE["SQUARED_DIFFERENCE"]: OpType.SQUARED_DIFFERENCE,
    _CODE["SQUEEZE"]: OpType.SQUEEZE,
    _CODE["STRIDED_SLICE"]: OpType.STRIDED_SLICE,
    _CODE["SUB"]: OpType.SUB,
    _CODE["SUM"]: OpType.SUM,
    _CODE["SVDF"]: OpType.SVDF,
    _CODE["TANH"]: OpType.TANH,
    _CODE["TILE"]: OpType.TILE,
    _CODE["TRANSPOSE"]: OpType.TRANSPOSE,
    _CODE["TRANSPOSE_CONV"]: OpType.TRANSPOSE_CONV,
    _CODE["UNIDIRECTIONAL_SEQUENCE_LSTM"]: OpType.UNIDIRECTIONAL_SEQUENCE_LSTM,
    _CODE["UNPACK"]: OpType.UNPACK,
    _CODE["VAR_HANDLE"]: OpType.VAR_HANDLE,
    _CODE["WHILE"]: OpType.WHILE,
    _CODE["ZEROS_LIKE"]: OpType.ZEROS_LIKE,
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
    TENSOR_IS_VARIABLE, TENSOR_SPARSITY, TENSOR_SHAPE_SIGNATURE = 5, 6, 7
    # QuantizationParameters (details is a union: ids 4 and 5)
    QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DETAILS_TYPE, QUANT_DIMENSION = 2, 3, 4, 6
    # OperatorCode
    OPCODE_DEPRECATED_BUILTIN, OPCODE_CUSTOM, OPCODE_VERSION, OPCODE_BUILTIN = 0, 1, 2, 3
    # Operator (builtin_options is a union: ids 3 and 4)
    OP_OPCODE_INDEX, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE = 0, 1, 2, 3


class _Opt:
    """``BuiltinOptions`` union type codes (1-based declaration order in schema.fbs)."""

    CONV_2D, DEPTHWISE_CONV_2D, POOL_2D, SVDF, FULLY_CONNECTED, SOFTMAX = 1, 2, 5, 6, 8, 9
    CONCATENATION, ADD, L2_NORM, RESIZE_BILINEAR, RESHAPE = 10, 11, 12, 15, 17
    SPACE_TO_DEPTH, MUL, GATHER, REDUCER, SUB, DIV, SQUEEZE = 19, 21, 23, 27, 28, 29, 30
    STRIDED_SLICE, SPLIT, TRANSPOSE_CONV, PACK, UNPACK = 32, 35, 49, 59, 64
    UNIDIRECTIONAL_SEQUENCE_LSTM, RESIZE_NEAREST_NEIGHBOR, LEAKY_RELU = 71, 74, 75
    MIRROR_PAD, SPLIT_V, IF, WHILE, DEPTH_TO_SPACE = 77, 79, 92, 93, 94
    BATCH_MATMUL, CUMSUM, CALL_ONCE, VAR_HANDLE = 101, 102, 103, 111


#: MirrorPadOptions ``mode`` codes.
_MIRROR_PAD_MODES: Mapping[int, str] = MappingProxyType({0: "reflect", 1: "symmetric"})


@dataclass(frozen=True)
class _Tensor:
    """A decoded tensor plus the facts the layer builder needs that ``TensorSpec`` lacks."""

    spec: TensorSpec
    file_name: str


def read_tflite(source: str | os.PathLike[str] | bytes, name: str | None = None) -> ModelGraph:
    """Read a TFLite flatbuffer (a path, or the file's bytes) into a :class:`ModelGraph`.

    ``name`` is the graph's display name; it defaults to the file stem, or ``"model"`` for bytes.
    Further subgraphs (control flow) are in :attr:`ModelGraph.subgraphs`.  Raises
    :class:`ModelReadError` (one line, naming
    the file) for a missing, unreadable, empty, truncated, corrupt or non-TFLite input.
    """
    data, label = _load(source, name)
    fb = FlatBuffer(data, label)
    if fb.size < 8:
        fb.fail(f"file is truncated or not a TFLite flatbuffer ({counted(fb.size, 'byte')})")
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
        data = read_model_file(path, ".tflite")
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
        """Decode the whole model: the main subgraph (0) as the graph, every other subgraph (the
        bodies and conditions of control-flow operators) as a graph of its own in
        :attr:`ModelGraph.subgraphs`, keyed by its index."""
        model = self.fb.root()
        subgraphs = model.tables(_F.MODEL_SUBGRAPHS)
        if len(subgraphs) == 0:
            self.fail("has no subgraphs")
        self.buffers = model.tables(_F.MODEL_BUFFERS)
        self.opcodes = [self._opcode(code) for code in model.tables(_F.MODEL_OPERATOR_CODES)]
        others = {k: self._subgraph(sub, f"{name}/subgraph{k}")
                  for k, sub in enumerate(subgraphs) if k > 0}
        graph = self._subgraph(subgraphs[0], name, others)
        log.debug("read %s: %d layers, %d subgraphs", self.fb.source, len(graph),
                  len(subgraphs))
        return graph

    def _subgraph(self, sub: Table, name: str,
                  subgraphs: Mapping[int, ModelGraph] | None = None) -> ModelGraph:
        """One ``SubGraph`` table as a graph (tensor indices are local to the subgraph)."""
        self.tensors = self._tensors(sub.tables(_F.SUBGRAPH_TENSORS))
        layers = [self._layer(i, op) for i, op in enumerate(sub.tables(_F.SUBGRAPH_OPERATORS))]
        inputs = self._io_tensors(sub, _F.SUBGRAPH_INPUTS, "input")
        outputs = self._io_tensors(sub, _F.SUBGRAPH_OUTPUTS, "output")
        return ModelGraph(name, layers, inputs, outputs, source=self.fb.source,
                          subgraphs=subgraphs)

    def _index_vector(self, table: Table, field_id: int) -> tuple[int, ...]:
        """An ``[int]`` vector as Python ints (empty when absent)."""
        return table.ints(field_id) or ()

    def _io_tensors(self, sub: Table, field_id: int, what: str) -> list[TensorSpec]:
        specs = []
        for idx in self._index_vector(sub, field_id):
            if not 0 <= idx < len(self.tensors):
                self.fail(f"model {what} refers to tensor {idx}, but the subgraph has "
                          f"{counted(len(self.tensors), 'tensor')}")
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
        # the converter stores a size it cannot know (an open batch size upstream) as 1 and says
        # -1 in the signature; beyond the batch (dimension 0) the stored 1 is a placeholder
        signature = t.ints(_F.TENSOR_SHAPE_SIGNATURE) or ()
        open_dims = tuple(i for i, d in enumerate(signature)
                          if i > 0 and d == -1 and len(signature) == len(shape))
        return TensorSpec(name=name, shape=shape, dtype=dtype, quantization=quantization,
                          constant=constant, data=data, open_dims=open_dims)

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
                      f"{counted(count * np_dtype.itemsize, 'byte')} but its buffer has "
                      f"{len(raw)}")
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
                      f"{counted(len(self.tensors), 'tensor')}")
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

        Operators with a cost formula must have their activation input
        (``op_type.operands.data``) and an output, as :attr:`Layer.input` and
        :attr:`Layer.output` assume; operators without one (control flow, variables: some have
        no inputs or no outputs) and unsupported ones are kept as they are.
        """
        if op_type is OpType.UNSUPPORTED:
            return
        if op_type.has_formula:
            data = op_type.operands.data
            if self._input(data) is None:
                self.fail("has no first input" if data == 0 else f"has no input {data}")
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
        self._pairs_option("paddings", 1)

    # -- option families of the operators added with the full TFLM vocabulary -------------------
    def _pairs_option(self, key: str, position: int) -> None:
        """``options[key]`` = ``((a, b), ...)`` from a constant ``(n, 2)`` input, when known."""
        values = self._constant_ints(position)
        if values is not None and len(values) % 2 == 0:
            self.options[key] = tuple(zip(values[0::2], values[1::2]))

    def _ints_option(self, key: str, position: int, scalar: bool = False) -> None:
        """``options[key]`` from a constant integer input, when known (an int with ``scalar``)."""
        values = self._constant_ints(position)
        if values is None:
            return
        if scalar:
            if len(values) == 1:
                self.options[key] = values[0]
        else:
            self.options[key] = values

    def _flags(self, table: Table | None, *names: str) -> None:
        """Boolean fields ``names`` (field ids 0, 1, ...) as options; ``False`` when absent."""
        for field_id, name in enumerate(names):
            self.options[name] = table.bool(field_id) if table is not None else False

    def transpose_conv(self) -> None:
        """TransposeConvOptions: padding 0, stride_w 1, stride_h 2, activation 3.

        Inputs are ``output_shape`` (int32), weights OHWI, the input and an optional bias:
        ``kernel = (H, W)``; ``output_shape`` from the constant input 0 when it is constant.
        """
        t = self._required_options(_Opt.TRANSPOSE_CONV)
        self._padding(t)
        self.strides = self._pair(t, 2, 1, "strides", 0)
        self._activation(t, 3)
        _, k_h, k_w, _ = self._weights(4)
        self.kernel = (k_h, k_w)
        self._ints_option("output_shape", 0)

    def batch_matmul(self) -> None:
        """BatchMatMulOptions: adj_x 0, adj_y 1."""
        self._flags(self._options(_Opt.BATCH_MATMUL), "adj_x", "adj_y")

    def svdf(self) -> None:
        """SVDFOptions: rank 0, activation 1.  Inputs: input ``(batch, input_size)``,
        weights_feature ``(num_filters, input_size)``, weights_time ``(num_filters,
        memory_size)``, optional bias ``(num_units,)``, state variable; ``num_units =
        num_filters // rank``."""
        t = self._required_options(_Opt.SVDF)
        rank = t.int32(0)
        if rank < 1:
            self.fail(f"has invalid rank {rank}")
        self._activation(t, 1)
        time = self._input(2)
        if time is None or len(time.shape) != 2:
            self.fail(f"needs 2-D time weights as input 2, got {None if time is None else time.shape}")
        num_filters, memory_size = time.shape
        if num_filters % rank:
            self.fail(f"has {num_filters} filters, not a multiple of rank {rank}")
        self.options.update(rank=rank, memory_size=memory_size, num_filters=num_filters,
                            num_units=num_filters // rank)

    def lstm(self) -> None:
        """UnidirectionalSequenceLSTMOptions: activation 0, cell_clip 1, proj_clip 2,
        time_major 3.  ``n_cell`` and ``n_output`` from the input-to-forget (input 2,
        ``(n_cell, n_input)``) and recurrent-to-forget (input 6, ``(n_cell, n_output)``) weights."""
        t = self._options(_Opt.UNIDIRECTIONAL_SEQUENCE_LSTM)
        self._activation(t, 0)
        self.options["cell_clip"] = t.float32(1) if t is not None else 0.0
        self.options["proj_clip"] = t.float32(2) if t is not None else 0.0
        self.options["time_major"] = t.bool(3) if t is not None else False
        recurrent = self._input(6)
        if self._input(2) is None or recurrent is None or len(recurrent.shape) != 2:
            self.fail("needs input-to-forget (input 2) and 2-D recurrent-to-forget (input 6) "
                      "weights")
        self.options["n_cell"], self.options["n_output"] = recurrent.shape

    def l2_pool_2d(self) -> None:
        """Pool2DOptions, as for the other pooling operators."""
        self.pool_2d()

    def div(self) -> None:
        """DivOptions: activation 0."""
        self._activation(self._options(_Opt.DIV), 0)

    def l2_normalization(self) -> None:
        """L2NormOptions: activation 0."""
        self._activation(self._options(_Opt.L2_NORM), 0)

    def leaky_relu(self) -> None:
        """LeakyReluOptions: alpha 0 (float)."""
        t = self._options(_Opt.LEAKY_RELU)
        self.options["alpha"] = t.float32(0) if t is not None else 0.0

    def resize(self, expected: int, first_field: int) -> None:
        """ResizeBilinearOptions (align_corners 2, half_pixel_centers 3; ids 0 and 1 are
        deprecated) / ResizeNearestNeighborOptions (align_corners 0, half_pixel_centers 1);
        ``size`` ``(h, w)`` from the constant input 1."""
        t = self._options(expected)
        for offset, name in enumerate(("align_corners", "half_pixel_centers")):
            self.options[name] = t.bool(first_field + offset) if t is not None else False
        self._ints_option("size", 1)

    def reducer(self) -> None:
        """ReducerOptions: keep_dims 0; ``axes`` from the constant input 1 (SUM, REDUCE_MAX,
        REDUCE_MIN, as for MEAN)."""
        self.mean()

    def arg_reduce(self) -> None:
        """ArgMaxOptions / ArgMinOptions hold only the output type; ``axis`` from the constant
        input 1."""
        self._ints_option("axis", 1, scalar=True)

    def cumsum(self) -> None:
        """CumsumOptions: exclusive 0, reverse 1; ``axis`` from the constant input 1."""
        self._flags(self._options(_Opt.CUMSUM), "exclusive", "reverse")
        self._ints_option("axis", 1, scalar=True)

    def split(self) -> None:
        """SplitOptions: num_splits 0; inputs are ``axis`` (constant) and the input."""
        t = self._options(_Opt.SPLIT)
        if t is not None:
            self.options["num_splits"] = t.int32(0)
        self._ints_option("axis", 0, scalar=True)

    def split_v(self) -> None:
        """SplitVOptions: num_splits 0; ``size_splits`` from input 1, ``axis`` from input 2."""
        t = self._options(_Opt.SPLIT_V)
        if t is not None:
            self.options["num_splits"] = t.int32(0)
        self._ints_option("size_splits", 1)
        self._ints_option("axis", 2, scalar=True)

    def pack(self) -> None:
        """PackOptions: values_count 0, axis 1."""
        t = self._options(_Opt.PACK)
        if t is not None:
            self.options.update(values_count=t.int32(0), axis=t.int32(1))

    def unpack(self) -> None:
        """UnpackOptions: num 0, axis 1."""
        t = self._options(_Opt.UNPACK)
        if t is not None:
            self.options.update(num=t.int32(0), axis=t.int32(1))

    def gather(self) -> None:
        """GatherOptions: axis 0, batch_dims 1."""
        t = self._options(_Opt.GATHER)
        self.options["axis"] = t.int32(0) if t is not None else 0
        self.options["batch_dims"] = t.int32(1) if t is not None else 0

    def strided_slice(self) -> None:
        """StridedSliceOptions: begin_mask 0, end_mask 1, ellipsis_mask 2, new_axis_mask 3,
        shrink_axis_mask 4, offset 5; ``begin``, ``end``, ``strides`` from inputs 1-3."""
        t = self._options(_Opt.STRIDED_SLICE)
        for field_id, name in enumerate(("begin_mask", "end_mask", "ellipsis_mask",
                                         "new_axis_mask", "shrink_axis_mask")):
            self.options[name] = t.int32(field_id) if t is not None else 0
        if t is not None and t.bool(5):
            self.options["offset"] = True
        for position, name in enumerate(("begin", "end", "strides"), start=1):
            self._ints_option(name, position)

    def slice_(self) -> None:
        """``begin`` and ``size`` from the constant inputs 1 and 2."""
        self._ints_option("begin", 1)
        self._ints_option("size", 2)

    def squeeze(self) -> None:
        """SqueezeOptions: squeeze_dims 0 (a vector)."""
        t = self._options(_Opt.SQUEEZE)
        dims = t.ints(0) if t is not None else None
        self.options["squeeze_dims"] = tuple(dims) if dims else ()

    def expand_dims(self) -> None:
        """``axis`` from the constant input 1."""
        self._ints_option("axis", 1, scalar=True)

    def transpose(self) -> None:
        """``perm`` from the constant input 1."""
        self._ints_option("perm", 1)

    def tile(self) -> None:
        """``multiples`` from the constant input 1."""
        self._ints_option("multiples", 1)

    def mirror_pad(self) -> None:
        """MirrorPadOptions: mode 0 (0 reflect, 1 symmetric); ``paddings`` from input 1."""
        t = self._options(_Opt.MIRROR_PAD)
        code = t.int8(0) if t is not None else 0
        mode = _MIRROR_PAD_MODES.get(code)
        if mode is None:
            self.fail(f"has unknown mirror pad mode {code}")
        self.options["mode"] = mode
        self._pairs_option("paddings", 1)

    def space_to_batch(self) -> None:
        """``block_shape`` from input 1, ``paddings`` from input 2."""
        self._ints_option("block_shape", 1)
        self._pairs_option("paddings", 2)

    def batch_to_space(self) -> None:
        """``block_shape`` from input 1, ``crops`` from input 2."""
        self._ints_option("block_shape", 1)
        self._pairs_option("crops", 2)

    def block_size(self, expected: int) -> None:
        """SpaceToDepthOptions / DepthToSpaceOptions: block_size 0."""
        t = self._options(expected)
        if t is not None:
            self.options["block_size"] = t.int32(0)

    def broadcast_to(self) -> None:
        """``shape`` from the constant input 1."""
        self._ints_option("shape", 1)

    def fill(self) -> None:
        """``dims`` from the constant input 0."""
        self._ints_option("dims", 0)

    def subgraphs(self, expected: int, *names: str) -> None:
        """WhileOptions (cond 0, body 1) / IfOptions (then 0, else 1) / CallOnceOptions
        (init 0): the subgraph indices, for the pass that reads subgraphs."""
        t = self._options(expected)
        if t is not None:
            for field_id, name in enumerate(names):
                self.options[name] = t.int32(field_id)

    def var_handle(self) -> None:
        """VarHandleOptions: container 0, shared_name 1 (strings)."""
        t = self._options(_Opt.VAR_HANDLE)
        if t is not None:
            self.options["container"] = t.string(0) or ""
            self.options["shared_name"] = t.string(1) or ""


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
    OpType.TRANSPOSE_CONV: _Attributes.transpose_conv,
    OpType.BATCH_MATMUL: _Attributes.batch_matmul,
    OpType.SVDF: _Attributes.svdf,
    OpType.UNIDIRECTIONAL_SEQUENCE_LSTM: _Attributes.lstm,
    OpType.L2_POOL_2D: _Attributes.l2_pool_2d,
    OpType.DIV: _Attributes.div,
    OpType.L2_NORMALIZATION: _Attributes.l2_normalization,
    OpType.LEAKY_RELU: _Attributes.leaky_relu,
    OpType.RESIZE_BILINEAR: lambda a: a.resize(_Opt.RESIZE_BILINEAR, 2),
    OpType.RESIZE_NEAREST_NEIGHBOR: lambda a: a.resize(_Opt.RESIZE_NEAREST_NEIGHBOR, 0),
    OpType.SUM: _Attributes.reducer,
    OpType.REDUCE_MAX: _Attributes.reducer,
    OpType.REDUCE_MIN: _Attributes.reducer,
    OpType.ARG_MAX: _Attributes.arg_reduce,
    OpType.ARG_MIN: _Attributes.arg_reduce,
    OpType.CUMSUM: _Attributes.cumsum,
    OpType.SPLIT: _Attributes.split,
    OpType.SPLIT_V: _Attributes.split_v,
    OpType.PACK: _Attributes.pack,
    OpType.UNPACK: _Attributes.unpack,
    OpType.GATHER: _Attributes.gather,
    OpType.STRIDED_SLICE: _Attributes.strided_slice,
    OpType.SLICE: _Attributes.slice_,
    OpType.SQUEEZE: _Attributes.squeeze,
    OpType.EXPAND_DIMS: _Attributes.expand_dims,
    OpType.TRANSPOSE: _Attributes.transpose,
    OpType.TILE: _Attributes.tile,
    OpType.MIRROR_PAD: _Attributes.mirror_pad,
    OpType.SPACE_TO_BATCH_ND: _Attributes.space_to_batch,
    OpType.BATCH_TO_SPACE_ND: _Attributes.batch_to_space,
    OpType.SPACE_TO_DEPTH: lambda a: a.block_size(_Opt.SPACE_TO_DEPTH),
    OpType.DEPTH_TO_SPACE: lambda a: a.block_size(_Opt.DEPTH_TO_SPACE),
    OpType.BROADCAST_TO: _Attributes.broadcast_to,
    OpType.FILL: _Attributes.fill,
    OpType.WHILE: lambda a: a.subgraphs(_Opt.WHILE, "cond_subgraph", "body_subgraph"),
    OpType.IF: lambda a: a.subgraphs(_Opt.IF, "then_subgraph", "else_subgraph"),
    OpType.CALL_ONCE: lambda a: a.subgraphs(_Opt.CALL_ONCE, "init_subgraph"),
    OpType.VAR_HANDLE: _Attributes.var_handle,
})
