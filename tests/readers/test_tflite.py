"""Tests for :mod:`tinymodel.readers.tflite` and its flatbuffer accessor.

Four groups:

* the four MLPerf Tiny reference models (skipped when the files are not found), checked against
  the op counts, MACs and weight counts published with them (``README.md`` next to the files);
* hand-built flatbuffers (``flatbuffers.Builder``) for cases converters never write: several
  subgraphs, custom and unknown operators, missing bias, duplicate names, the large-model buffer
  layout, and deliberately broken references;
* bad inputs, including a hypothesis property test that mutates a real file;
* models built and converted with TensorFlow (marker ``tf``), checked attribute by attribute and
  against TensorFlow's own interpreter.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from tinymodel.errors import ModelReadError
from tinymodel.graph import ModelGraph
from tinymodel.ops import Activation, OpType, Padding
from tinymodel.readers.flatbuffer import FlatBuffer
from tinymodel.readers.tflite import BUILTIN_NAMES, BUILTIN_OPS, TENSOR_TYPES, read_tflite

REPO_ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------------------------
# Locating the MLPerf Tiny models
# ------------------------------------------------------------------------------------------------
MODEL_DIRS = (REPO_ROOT / "tinymodel" / "examples" / "mlperf",
              REPO_ROOT / ".." / "shared" / "models" / "mlperf_tiny")


def mlperf_model(filename: str) -> Path:
    """Path of an MLPerf Tiny model: the packaged copy first, then the shared one; else skip."""
    for directory in MODEL_DIRS:
        path = directory / filename
        if path.is_file():
            return path
    pytest.skip(f"{filename} not found in {', '.join(str(d) for d in MODEL_DIRS)}")


KWS = "kws_ref_model.tflite"
VWW = "vww_96_int8.tflite"
IC = "pretrainedResnet_quant.tflite"
AD = "ad01_int8.tflite"


@dataclass(frozen=True)
class Expected:
    """Published facts about one MLPerf Tiny model (README.md next to the files)."""

    ops: dict[OpType, int]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    macs: int
    int8_weights: int
    int32_constants: int


EXPECTED = {
    KWS: Expected({OpType.CONV_2D: 5, OpType.DEPTHWISE_CONV_2D: 4, OpType.AVERAGE_POOL_2D: 1,
                   OpType.FULLY_CONNECTED: 1, OpType.SOFTMAX: 1},
                  (1, 49, 10, 1), (1, 12), 2_656_768, 22_016, 590),
    VWW: Expected({OpType.CONV_2D: 14, OpType.DEPTHWISE_CONV_2D: 13, OpType.AVERAGE_POOL_2D: 1,
                   OpType.FULLY_CONNECTED: 1, OpType.SOFTMAX: 1},
                  (1, 96, 96, 3), (1, 2), 7_489_664, 208_112, 2_740),
    IC: Expected({OpType.CONV_2D: 9, OpType.ADD: 3, OpType.AVERAGE_POOL_2D: 1,
                  OpType.FULLY_CONNECTED: 1, OpType.SOFTMAX: 1},
                 (1, 32, 32, 3), (1, 10), 12_501_632, 77_360, 348),
    AD: Expected({OpType.FULLY_CONNECTED: 10}, (1, 640), (1, 640), 264_192, 264_192, 1_672),
}

#: Ops a converter may add around the published ones without changing the model.
HOUSEKEEPING_OPS = {OpType.RESHAPE, OpType.QUANTIZE, OpType.DEQUANTIZE}


def conventional_macs(graph: ModelGraph) -> int:
    """K·K·Cin/groups·Cout per output pixel for conv, K·K per output element for depthwise,
    in·out for dense: the convention of the MLPerf README's MAC column."""
    macs = 0
    for layer in graph:
        out = layer.output.shape
        if layer.op is OpType.CONV_2D:
            assert layer.kernel is not None and layer.weights is not None
            in_c = layer.input.shape[-1]
            assert layer.weights.shape[3] == in_c // layer.groups
            macs += out[1] * out[2] * out[3] * layer.kernel[0] * layer.kernel[1] * (
                in_c // layer.groups)
        elif layer.op is OpType.DEPTHWISE_CONV_2D:
            assert layer.kernel is not None
            macs += out[1] * out[2] * out[3] * layer.kernel[0] * layer.kernel[1]
        elif layer.op is OpType.FULLY_CONNECTED:
            assert layer.weights is not None
            macs += layer.weights.shape[0] * layer.weights.shape[1]
    return macs


@pytest.fixture(scope="module", params=list(EXPECTED))
def mlperf(request: pytest.FixtureRequest) -> tuple[str, ModelGraph]:
    """(filename, graph) for each MLPerf Tiny model."""
    return request.param, read_tflite(mlperf_model(request.param))


class TestMlperfModels:
    def test_op_counts(self, mlperf: tuple[str, ModelGraph]) -> None:
        filename, graph = mlperf
        counts = Counter(layer.op for layer in graph)
        expected = EXPECTED[filename].ops
        assert {op: counts[op] for op in expected} == expected
        extras = set(counts) - set(expected)
        assert extras <= HOUSEKEEPING_OPS, extras
        assert graph.unsupported == ()
        assert len(graph) == sum(counts.values())

    def test_io_shapes(self, mlperf: tuple[str, ModelGraph]) -> None:
        filename, graph = mlperf
        (x,), (y,) = graph.inputs, graph.outputs
        assert x.shape == EXPECTED[filename].input_shape
        assert y.shape == EXPECTED[filename].output_shape
        assert x.dtype == y.dtype == "int8"
        assert x.quantization is not None and not x.quantization.per_channel
        assert graph.layers[0].input == x and graph.layers[-1].output == y

    def test_macs_and_weights_match_published_counts(self, mlperf: tuple[str, ModelGraph]) -> None:
        filename, graph = mlperf
        expected = EXPECTED[filename]
        assert conventional_macs(graph) == expected.macs
        constants = {t.name: t for layer in graph for t in layer.constant_inputs}
        assert sum(t.size for t in constants.values() if t.dtype == "int8") == expected.int8_weights
        assert sum(t.size for t in constants.values()
                   if t.dtype == "int32") == expected.int32_constants

    def test_per_channel_weights(self, mlperf: tuple[str, ModelGraph]) -> None:
        _, graph = mlperf
        for layer in graph:
            w = layer.weights
            if layer.op not in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D):
                continue
            assert w is not None and w.quantization is not None
            out_c = layer.output.shape[-1]
            axis = 0 if layer.op is OpType.CONV_2D else 3
            assert w.quantization.per_channel
            assert w.quantization.axis == axis
            assert len(w.quantization.scale) == len(w.quantization.zero_point) == out_c
            assert w.shape[axis] == out_c
            assert all(z == 0 for z in w.quantization.zero_point)
            assert layer.bias is not None and layer.bias.dtype == "int32"
            assert layer.bias.shape == (out_c,)

    def test_constant_data_is_read_only_view(self, mlperf: tuple[str, ModelGraph]) -> None:
        _, graph = mlperf
        for layer in graph:
            for t in layer.constant_inputs:
                assert t.constant and t.data is not None
                assert t.data.shape == t.shape
                assert t.data.dtype == np.dtype(t.dtype)
                assert not t.data.flags.writeable
            for t in layer.activation_inputs:
                assert t.data is None and not t.constant
        weights = next(layer.weights for layer in graph if layer.weights is not None)
        assert weights is not None and weights.data is not None
        with pytest.raises(ValueError):
            weights.data[(0,) * weights.data.ndim] = 1
        assert np.any(weights.data != 0)

    def test_names_and_order(self, mlperf: tuple[str, ModelGraph]) -> None:
        _, graph = mlperf
        for i, layer in enumerate(graph.layers):
            assert layer.name == f"{layer.op.label.lower()}_{i}"
            assert layer.source_op == layer.op.label
            assert layer.options["tensor_name"] == layer.output.name
        # every one of these is a chain or a DAG whose file order is already topological
        assert [graph.position(layer) for layer in graph] == list(range(len(graph)))


def test_kws_layer_attributes() -> None:
    graph = read_tflite(mlperf_model(KWS))
    first = graph.layer("conv_2d_0")
    assert first.kernel == (10, 4) and first.strides == (2, 2) and first.padding is Padding.SAME
    assert first.activation is Activation.RELU and first.groups == 1
    assert first.output.shape == (1, 25, 5, 64)
    dw = graph.layer("depthwise_conv_2d_1")
    assert dw.kernel == (3, 3) and dw.strides == (1, 1) and dw.depth_multiplier == 1
    assert dw.dilation == (1, 1)
    pool = graph.layer("average_pool_2d_9")
    assert pool.kernel == (25, 5) and pool.strides == (25, 5) and pool.padding is Padding.VALID
    reshape = graph.layer("reshape_10")
    assert reshape.options["new_shape"] == (-1, 64)
    fc = graph.layer("fully_connected_11")
    assert fc.options["keep_num_dims"] is False and fc.weights is not None
    assert fc.weights.shape == (12, 64)
    assert graph.layer("softmax_12").options["beta"] == 1.0
    assert graph.predecessors(fc) == (reshape,)


def test_resnet_skip_connections() -> None:
    graph = read_tflite(mlperf_model(IC))
    adds = [layer for layer in graph if layer.op is OpType.ADD]
    assert all(len(graph.predecessors(a)) == 2 for a in adds)
    assert all(a.activation is Activation.RELU for a in adds)
    # the first residual block's input feeds both the block and the add
    first = graph.layer("conv_2d_0")
    assert {s.name for s in graph.successors(first)} == {"conv_2d_1", "add_3"}


def test_bytes_source_and_name() -> None:
    path = mlperf_model(KWS)
    from_path = read_tflite(path)
    from_bytes = read_tflite(path.read_bytes())
    named = read_tflite(path.read_bytes(), name="kws")
    assert from_path.name == "kws_ref_model" and from_path.source == str(path)
    assert from_bytes.name == "model" and named.name == "kws"
    assert [layer.name for layer in from_bytes] == [layer.name for layer in from_path]
    assert read_tflite(bytearray(path.read_bytes())).layers == from_path.layers


def test_import_and_read_do_not_import_tensorflow() -> None:
    path = mlperf_model(KWS)
    code = ("import sys\n"
            "import tinymodel.readers.tflite as t\n"
            "assert 'tensorflow' not in sys.modules, 'import'\n"
            f"g = t.read_tflite({str(path)!r})\n"
            "assert len(g) > 0\n"
            "assert 'tensorflow' not in sys.modules, 'read'\n"
            "assert 'tflite' not in sys.modules, 'tflite'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------------------
# The mapping tables
# ------------------------------------------------------------------------------------------------
class TestTables:
    def test_builtin_names_match_schema_codes(self) -> None:
        # spot checks against schema.fbs ``enum BuiltinOperator``
        known = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONCATENATION": 2, "CONV_2D": 3,
                 "DEPTHWISE_CONV_2D": 4, "DEQUANTIZE": 6, "FULLY_CONNECTED": 9, "LOGISTIC": 14,
                 "MAX_POOL_2D": 17, "MUL": 18, "RELU": 19, "RELU6": 21, "RESHAPE": 22,
                 "SOFTMAX": 25, "TANH": 28, "CUSTOM": 32, "PAD": 34, "MEAN": 40, "SUB": 41,
                 "STRIDED_SLICE": 45, "PADV2": 60, "QUANTIZE": 114, "HARD_SWISH": 117,
                 "BATCH_MATMUL": 126, "PLACEHOLDER_FOR_GREATER_OP_CODES": 127, "CUMSUM": 128,
                 "GELU": 150, "STABLEHLO_LOGISTIC": 162, "DILATE": 203, "COMPLEX": 207}
        for name, code in known.items():
            assert BUILTIN_NAMES[code] == name
        assert len(BUILTIN_NAMES) == 208
        assert len(set(BUILTIN_NAMES)) == len(BUILTIN_NAMES)

    def test_mapping_agrees_with_names(self) -> None:
        for code, op in BUILTIN_OPS.items():
            expected = "PAD" if BUILTIN_NAMES[code] == "PADV2" else BUILTIN_NAMES[code]
            assert op.label == expected, (code, op)

    def test_every_op_type_is_reachable(self) -> None:
        assert set(BUILTIN_OPS.values()) == set(OpType) - {OpType.UNSUPPORTED}
        assert isinstance(BUILTIN_OPS, MappingProxyType)

    def test_tensor_types(self) -> None:
        assert TENSOR_TYPES[0] == "float32" and TENSOR_TYPES[9] == "int8"
        assert TENSOR_TYPES[2] == "int32" and TENSOR_TYPES[3] == "uint8"
        assert TENSOR_TYPES[17] == "int4" and TENSOR_TYPES[18] == "bfloat16"


# ------------------------------------------------------------------------------------------------
# A minimal TFLite writer for tests (field ids from schema.fbs)
# ------------------------------------------------------------------------------------------------
INT8, INT32, FLOAT32 = 9, 2, 0
CONV_2D, FULLY_CONNECTED, STRIDED_SLICE, CUSTOM, GELU = 3, 9, 45, 32, 150
TOPK_V2 = BUILTIN_NAMES.index("TOPK_V2")        # a builtin the vocabulary does not map


@dataclass
class T:
    """A tensor to write: buffer 0 is the empty sentinel."""

    shape: tuple[int, ...]
    name: str = ""
    dtype: int = INT8
    buffer: int = 0
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int = 0
    variable: bool = False


@dataclass
class Op:
    """An operator to write; ``options`` is ``(union type, table builder)``."""

    opcode_index: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: tuple[int, Callable[..., int]] | None = None


@dataclass
class Code:
    """An ``OperatorCode``."""

    deprecated: int = 0
    builtin: int | None = None
    custom: str | None = None


@dataclass
class Buf:
    """A ``Buffer``: inline ``data``, or ``external`` data placed after the flatbuffer."""

    data: bytes = b""
    external: bytes | None = None
    bad_offset: int | None = None


@dataclass
class Model:
    """A whole model to write; ``subgraphs`` copies of the one subgraph."""

    tensors: list[T]
    ops: list[Op]
    codes: list[Code]
    buffers: list[Buf] = field(default_factory=lambda: [Buf()])
    inputs: tuple[int, ...] = (0,)
    outputs: tuple[int, ...] = ()
    subgraphs: int = 1
    identifier: bytes = b"TFL3"


def conv_options(padding: int = 1, stride: tuple[int, int] = (1, 1), activation: int = 0,
                 dilation: tuple[int, int] = (1, 1)) -> tuple[int, Callable[..., int]]:
    """Conv2DOptions (union type 1)."""
    def build(b: object) -> int:
        b.StartObject(7)  # type: ignore[attr-defined]
        b.PrependInt8Slot(0, padding, 0)  # type: ignore[attr-defined]
        b.PrependInt32Slot(1, stride[1], 0)  # type: ignore[attr-defined]
        b.PrependInt32Slot(2, stride[0], 0)  # type: ignore[attr-defined]
        b.PrependInt8Slot(3, activation, 0)  # type: ignore[attr-defined]
        b.PrependInt32Slot(4, dilation[1], 1)  # type: ignore[attr-defined]
        b.PrependInt32Slot(5, dilation[0], 1)  # type: ignore[attr-defined]
        return b.EndObject()  # type: ignore[attr-defined, no-any-return]
    return 1, build


def fc_options(activation: int = 0) -> tuple[int, Callable[..., int]]:
    """FullyConnectedOptions (union type 8)."""
    def build(b: object) -> int:
        b.StartObject(5)  # type: ignore[attr-defined]
        b.PrependInt8Slot(0, activation, 0)  # type: ignore[attr-defined]
        return b.EndObject()  # type: ignore[attr-defined, no-any-return]
    return 8, build


def write_tflite(model: Model) -> bytes:
    """Serialize ``model`` with ``flatbuffers.Builder``.

    External buffers are written after the flatbuffer, 16-byte aligned; the flatbuffer is built
    twice so the offsets it stores are the final ones (the ``ulong`` fields keep its size fixed).
    """
    if not any(b.external for b in model.buffers):
        return _write(model, {})
    placeholder = {i: 1 << 40 for i, b in enumerate(model.buffers) if b.external}
    size = len(_write(model, placeholder))
    offsets, blob, pos = {}, bytearray(), size
    for i, b in enumerate(model.buffers):
        if b.external:
            pad = -pos % 16
            blob += bytes(pad)
            pos += pad
            offsets[i] = pos
            blob += b.external
            pos += len(b.external)
    data = _write(model, offsets)
    assert len(data) == size
    return data + bytes(blob)


def _write(model: Model, external: dict[int, int]) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def ints(values: Sequence[int], dtype: str = "<i4") -> int:
        return b.CreateNumpyVector(np.asarray(values, dtype=dtype))

    def tables(offsets: Sequence[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    buffers = []
    for i, buf in enumerate(model.buffers):
        data = b.CreateNumpyVector(np.frombuffer(buf.data, np.uint8)) if buf.data else None
        b.StartObject(3)
        if data is not None:
            b.PrependUOffsetTRelativeSlot(0, data, 0)
        if buf.external is not None or buf.bad_offset is not None:
            offset = buf.bad_offset if buf.bad_offset is not None else external[i]
            size = len(buf.external) if buf.external is not None else 64
            b.PrependUint64Slot(1, offset, 0)
            b.PrependUint64Slot(2, size, 0)
        buffers.append(b.EndObject())

    codes = []
    for code in model.codes:
        custom = b.CreateString(code.custom) if code.custom is not None else None
        b.StartObject(4)
        b.PrependInt8Slot(0, code.deprecated, 0)
        if custom is not None:
            b.PrependUOffsetTRelativeSlot(1, custom, 0)
        b.PrependInt32Slot(2, 1, 1)
        if code.builtin is not None:
            b.PrependInt32Slot(3, code.builtin, 0)
        codes.append(b.EndObject())

    subgraphs = []
    for _ in range(model.subgraphs):
        tensors = []
        for t in model.tensors:
            shape, name = ints(t.shape), b.CreateString(t.name)
            quant = None
            if t.scale:
                scale = b.CreateNumpyVector(np.asarray(t.scale, "<f4"))
                zero = ints(t.zero_point, "<i8")
                b.StartObject(7)
                b.PrependUOffsetTRelativeSlot(2, scale, 0)
                b.PrependUOffsetTRelativeSlot(3, zero, 0)
                b.PrependInt32Slot(6, t.axis, 0)
                quant = b.EndObject()
            b.StartObject(10)
            b.PrependUOffsetTRelativeSlot(0, shape, 0)
            b.PrependInt8Slot(1, t.dtype, 0)
            b.PrependUint32Slot(2, t.buffer, 0)
            b.PrependUOffsetTRelativeSlot(3, name, 0)
            if quant is not None:
                b.PrependUOffsetTRelativeSlot(4, quant, 0)
            b.PrependBoolSlot(5, t.variable, False)
            tensors.append(b.EndObject())
        ops = []
        for op in model.ops:
            inputs, outputs = ints(op.inputs), ints(op.outputs)
            options = op.options[1](b) if op.options else None
            b.StartObject(13)
            b.PrependUint32Slot(0, op.opcode_index, 0)
            b.PrependUOffsetTRelativeSlot(1, inputs, 0)
            b.PrependUOffsetTRelativeSlot(2, outputs, 0)
            if op.options and options is not None:
                b.PrependUint8Slot(3, op.options[0], 0)
                b.PrependUOffsetTRelativeSlot(4, options, 0)
            ops.append(b.EndObject())
        tensor_vec, op_vec = tables(tensors), tables(ops)
        in_vec, out_vec = ints(model.inputs), ints(model.outputs)
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, tensor_vec, 0)
        b.PrependUOffsetTRelativeSlot(1, in_vec, 0)
        b.PrependUOffsetTRelativeSlot(2, out_vec, 0)
        b.PrependUOffsetTRelativeSlot(3, op_vec, 0)
        subgraphs.append(b.EndObject())

    code_vec, sub_vec, buf_vec = tables(codes), tables(subgraphs), tables(buffers)
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, code_vec, 0)
    b.PrependUOffsetTRelativeSlot(2, sub_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, buf_vec, 0)
    b.Finish(b.EndObject(), file_identifier=model.identifier)
    return bytes(b.Output())


def dense_model(**changes: object) -> Model:
    """x (1, 4) -> FULLY_CONNECTED(w (3, 4), b (3,)) -> y (1, 3), int8 with int32 bias."""
    w = np.arange(12, dtype=np.int8).reshape(3, 4)
    bias = np.array([1, -2, 3], dtype="<i4")
    model = Model(
        tensors=[T((1, 4), "x", scale=(0.5,), zero_point=(-3,)),
                 T((3, 4), "w", buffer=1, scale=(0.1, 0.2, 0.3), zero_point=(0, 0, 0)),
                 T((3,), "b", dtype=INT32, buffer=2),
                 T((1, 3), "y", scale=(0.25,), zero_point=(1,))],
        ops=[Op(0, (0, 1, 2), (3,), fc_options(activation=1))],
        codes=[Code(FULLY_CONNECTED)],
        buffers=[Buf(), Buf(w.tobytes()), Buf(bias.tobytes())],
        inputs=(0,), outputs=(3,))
    for key, value in changes.items():
        setattr(model, key, value)
    return model


def conv_model() -> Model:
    """x (1, 8, 8, 4) -> CONV_2D(w (6, 3, 3, 2): two groups, no bias) -> y (1, 4, 4, 6)."""
    w = np.ones((6, 3, 3, 2), np.float32)
    return Model(
        tensors=[T((1, 8, 8, 4), "x", dtype=FLOAT32),
                 T((6, 3, 3, 2), "w", dtype=FLOAT32, buffer=1),
                 T((1, 4, 4, 6), "y", dtype=FLOAT32)],
        ops=[Op(0, (0, 1, -1), (2,), conv_options(padding=0, stride=(2, 2), activation=3,
                                                    dilation=(1, 2)))],
        codes=[Code(CONV_2D, CONV_2D)],
        buffers=[Buf(), Buf(w.tobytes())],
        inputs=(0,), outputs=(2,))


class TestHandBuiltModels:
    def test_dense(self) -> None:
        graph = read_tflite(write_tflite(dense_model()), name="dense")
        (layer,) = graph.layers
        assert layer.name == "fully_connected_0" and layer.op is OpType.FULLY_CONNECTED
        assert layer.activation is Activation.RELU
        assert layer.options["keep_num_dims"] is False
        x, w, b = layer.inputs
        assert x is not None and w is not None and b is not None
        assert x.quantization is not None and x.quantization.zero_point == (-3,)
        assert w.quantization is not None and w.quantization.per_channel
        assert w.quantization.scale == pytest.approx((0.1, 0.2, 0.3))
        assert w.data is not None and w.data.dtype == np.int8 and w.data[2, 3] == 11
        assert b.data is not None and b.data.tolist() == [1, -2, 3] and b.constant
        assert not x.constant and x.data is None
        assert graph.inputs == (x,) and graph.outputs == (layer.output,)

    def test_conv_attributes_and_missing_bias(self) -> None:
        (layer,) = read_tflite(write_tflite(conv_model())).layers
        assert layer.op is OpType.CONV_2D
        assert layer.inputs[2] is None and layer.bias is None
        assert layer.kernel == (3, 3) and layer.groups == 2
        assert layer.strides == (2, 2) and layer.padding is Padding.SAME
        assert layer.dilation == (1, 2) and layer.activation is Activation.RELU6
        assert layer.weights is not None and layer.weights.dtype == "float32"

    def test_new_style_opcode_uses_larger_field(self) -> None:
        """Codes >= 127 sit in builtin_code with 127 in the deprecated byte."""
        model = dense_model(codes=[Code(127, GELU)])
        model.ops[0].options = None
        (layer,) = read_tflite(write_tflite(model)).layers
        assert layer.op is OpType.UNSUPPORTED and layer.source_op == "GELU"
        assert layer.name == "gelu_0"

    def test_old_style_opcode_has_only_deprecated_byte(self) -> None:
        model = dense_model(codes=[Code(FULLY_CONNECTED, None)])
        (layer,) = read_tflite(write_tflite(model)).layers
        assert layer.op is OpType.FULLY_CONNECTED

    def test_unsupported_and_custom_ops_are_kept(self) -> None:
        model = Model(
            tensors=[T((1, 8), "x"), T((1, 4), "a"), T((1, 4), "b"), T((1, 4), "c"),
                     T((2,), "begin", dtype=INT32, buffer=1)],
            ops=[Op(0, (0, 4), (1,)), Op(1, (1,), (2,)), Op(2, (2, -1), (3,))],
            codes=[Code(TOPK_V2, TOPK_V2), Code(CUSTOM, CUSTOM, "MyFancyOp"),
                   Code(127, 250)],
            buffers=[Buf(), Buf(np.array([0, 2], "<i4").tobytes())],
            inputs=(0,), outputs=(3,))
        graph = read_tflite(write_tflite(model))
        assert [layer.name for layer in graph] == ["topk_v2_0", "myfancyop_1",
                                                   "builtin_250_2"]
        assert [layer.source_op for layer in graph] == ["TOPK_V2", "MyFancyOp",
                                                        "BUILTIN_250"]
        assert all(layer.op is OpType.UNSUPPORTED for layer in graph)
        assert graph.unsupported == graph.layers
        slice_layer = graph.layers[0]
        assert [t.name for t in slice_layer.inputs if t] == ["x", "begin"]
        assert slice_layer.inputs[1] is not None and slice_layer.inputs[1].constant
        assert graph.layers[2].inputs[1] is None
        assert graph.predecessors("builtin_250_2") == (graph.layers[1],)

    def test_custom_op_without_code(self) -> None:
        model = dense_model(codes=[Code(CUSTOM, CUSTOM)])
        model.ops[0].options = None
        (layer,) = read_tflite(write_tflite(model)).layers
        assert layer.op is OpType.UNSUPPORTED and layer.source_op == "CUSTOM"

    def test_duplicate_and_empty_tensor_names_are_made_unique(self) -> None:
        model = dense_model()
        for t in model.tensors[:3]:
            t.name = "same"
        model.tensors[3].name = ""
        graph = read_tflite(write_tflite(model))
        (layer,) = graph.layers
        assert [t.name for t in layer.inputs if t] == ["same", "same#1", "same#2"]
        assert layer.output.name == "tensor#3"
        assert layer.options["tensor_name"] == ""
        assert len(graph.tensors) == 4

    def test_variable_tensor_is_not_constant(self) -> None:
        model = dense_model()
        model.tensors[2].variable = True
        (layer,) = read_tflite(write_tflite(model)).layers
        assert layer.bias is not None
        assert not layer.bias.constant and layer.bias.data is None
        assert layer.bias in layer.activation_inputs

    def test_dtype_without_numpy_view_is_constant_without_data(self) -> None:
        model = dense_model()
        model.tensors[1] = T((3, 4), "w", dtype=17, buffer=1)  # int4, two values per byte
        model.buffers[1] = Buf(bytes(6))
        (layer,) = read_tflite(write_tflite(model)).layers
        assert layer.weights is not None and layer.weights.dtype == "int4"
        assert layer.weights.constant and layer.weights.data is None

    def test_large_model_buffer_layout(self) -> None:
        model = dense_model()
        weights = np.arange(12, dtype=np.int8).reshape(3, 4)[::-1].copy()
        model.buffers[1] = Buf(external=weights.tobytes())
        data = write_tflite(model)
        (layer,) = read_tflite(data).layers
        assert layer.weights is not None and layer.weights.data is not None
        assert np.array_equal(layer.weights.data, weights)
        assert layer.weights.constant

    def test_large_model_buffer_outside_file(self) -> None:
        model = dense_model()
        model.buffers[1] = Buf(bad_offset=1 << 40)
        with pytest.raises(ModelReadError, match="data of buffer 1"):
            read_tflite(write_tflite(model))

    def test_two_subgraphs(self) -> None:
        """Further subgraphs (control-flow bodies) are graphs of their own, by index."""
        g = read_tflite(write_tflite(dense_model(subgraphs=2)))
        assert len(g) == 1 and list(g.subgraphs) == [1]
        assert [la.op.label for la in g.subgraphs[1]] == ["FULLY_CONNECTED"]
        assert g.subgraphs[1].name == "model/subgraph1"

    def test_zero_subgraphs(self) -> None:
        with pytest.raises(ModelReadError, match="m.tflite: has no subgraphs"):
            read_tflite(write_tflite(dense_model(subgraphs=0)), name="m.tflite")

    def test_operator_tensor_index_out_of_range(self) -> None:
        model = dense_model()
        model.ops[0].inputs = (0, 1, 7)
        with pytest.raises(ModelReadError, match=r"operator 0 \(FULLY_CONNECTED\) has input "
                                                  r"tensor 7, but the subgraph has 4 tensors"):
            read_tflite(write_tflite(model))
        model.ops[0].inputs, model.ops[0].outputs = (0, 1, 2), (-1,)
        with pytest.raises(ModelReadError, match="output tensor -1"):
            read_tflite(write_tflite(model))

    def test_model_io_index_out_of_range(self) -> None:
        with pytest.raises(ModelReadError, match="model output refers to tensor 9"):
            read_tflite(write_tflite(dense_model(outputs=(9,))))

    def test_tensor_buffer_out_of_range(self) -> None:
        model = dense_model()
        model.tensors[1].buffer = 5
        with pytest.raises(ModelReadError, match="tensor 'w' refers to buffer 5, but the model "
                                                  "has 3 buffers"):
            read_tflite(write_tflite(model))

    def test_opcode_index_out_of_range(self) -> None:
        model = dense_model()
        model.ops[0].opcode_index = 3
        with pytest.raises(ModelReadError, match="operator 0 refers to operator code 3"):
            read_tflite(write_tflite(model))

    def test_buffer_size_must_match_shape(self) -> None:
        model = dense_model()
        model.tensors[1].shape = (3, 5)
        model.tensors[1].scale, model.tensors[1].zero_point = (0.1,), (0,)
        with pytest.raises(ModelReadError, match=r"tensor 'w' of shape \(3, 5\) and type int8 "
                                                  r"needs 15 bytes but its buffer has 12"):
            read_tflite(write_tflite(model))

    def test_per_channel_scales_must_match_shape(self) -> None:
        model = dense_model()
        model.tensors[1].axis = 1
        with pytest.raises(ModelReadError, match="3 per-channel scales along dimension 1"):
            read_tflite(write_tflite(model))

    def test_scale_and_zero_point_lengths_must_agree(self) -> None:
        model = dense_model()
        model.tensors[1].zero_point = (0, 0)
        with pytest.raises(ModelReadError, match="3 quantization scales but 2 zero points"):
            read_tflite(write_tflite(model))

    def test_negative_dimension(self) -> None:
        model = dense_model()
        model.tensors[0].shape = (-1, 4)
        with pytest.raises(ModelReadError, match="negative dimension"):
            read_tflite(write_tflite(model))

    def test_unknown_tensor_type(self) -> None:
        model = dense_model()
        model.tensors[3].dtype = 99
        with pytest.raises(ModelReadError, match="tensor 'y' has unknown type code 99"):
            read_tflite(write_tflite(model))

    def test_wrong_options_type(self) -> None:
        model = conv_model()
        model.ops[0].options = (8, fc_options()[1])
        with pytest.raises(ModelReadError, match=r"operator 0 \(CONV_2D\) has builtin options "
                                                  r"of type 8, expected 1"):
            read_tflite(write_tflite(model))

    def test_conv_without_options(self) -> None:
        model = conv_model()
        model.ops[0].options = None
        with pytest.raises(ModelReadError, match="has no builtin options"):
            read_tflite(write_tflite(model))

    def test_invalid_stride_and_activation(self) -> None:
        model = conv_model()
        model.ops[0].options = conv_options(stride=(0, 1))
        with pytest.raises(ModelReadError, match=r"invalid strides \(0, 1\)"):
            read_tflite(write_tflite(model))
        model.ops[0].options = conv_options(activation=9)
        with pytest.raises(ModelReadError, match="unknown fused activation code 9"):
            read_tflite(write_tflite(model))
        model.ops[0].options = conv_options(padding=5)
        with pytest.raises(ModelReadError, match="unknown padding code 5"):
            read_tflite(write_tflite(model))

    def test_conv_channels_must_divide(self) -> None:
        model = conv_model()
        model.tensors[1] = T((6, 3, 3, 3), "w", dtype=FLOAT32, buffer=1)
        model.buffers[1] = Buf(np.ones((6, 3, 3, 3), np.float32).tobytes())
        with pytest.raises(ModelReadError, match="4 input channels, not a multiple of the "
                                                  "weights' 3"):
            read_tflite(write_tflite(model))

    def test_two_writers_of_one_tensor(self) -> None:
        model = dense_model()
        model.ops.append(Op(0, (0, 1, 2), (3,)))
        with pytest.raises(ModelReadError, match="tensor 'y' is written by both"):
            read_tflite(write_tflite(model))

    def test_huge_vector_length_fails_fast(self) -> None:
        data = bytearray(write_tflite(dense_model()))
        tensors_vector = FlatBuffer(bytes(data), "m").root().tables(2)[0].target(0)
        assert tensors_vector is not None
        struct.pack_into("<I", data, tensors_vector, 2**31)
        with pytest.raises(ModelReadError, match="vector of 2147483648 elements"):
            read_tflite(bytes(data))


# ------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------
class TestBadInputs:
    def _error(self, source: object) -> str:
        with pytest.raises(ModelReadError) as info:
            read_tflite(source)  # type: ignore[arg-type]
        message = str(info.value)
        assert "\n" not in message
        return message

    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.tflite"
        assert self._error(path) == f"{path}: no such file"

    def test_directory(self, tmp_path: Path) -> None:
        assert self._error(tmp_path) == f"{tmp_path}: is a directory, not a .tflite file"

    def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.tflite"
        path.write_bytes(b"")
        assert self._error(path) == f"{path}: file is empty"
        assert self._error(b"") == "<bytes>: file is empty"

    def test_tiny_file(self, tmp_path: Path) -> None:
        path = tmp_path / "tiny.tflite"
        path.write_bytes(b"\x10\x00\x00")
        assert self._error(path) == (f"{path}: file is truncated or not a TFLite flatbuffer "
                                     f"(3 bytes)")

    def test_text_file(self, tmp_path: Path) -> None:
        path = tmp_path / "model.tflite"
        path.write_text("this is not a model\n" * 10)
        message = self._error(path)
        assert message.startswith(f"{path}: not a TFLite flatbuffer")

    def test_png_file(self, tmp_path: Path) -> None:
        path = tmp_path / "picture.tflite"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
        assert self._error(path).startswith(f"{path}: not a TFLite flatbuffer")

    def test_wrong_identifier(self) -> None:
        data = write_tflite(dense_model(identifier=b"TFL2"))
        assert self._error(data) == ("<bytes>: not a TFLite flatbuffer (file identifier is "
                                     "b'TFL2', expected b'TFL3')")

    def test_truncated_real_file(self, tmp_path: Path) -> None:
        data = mlperf_model(KWS).read_bytes()
        path = tmp_path / "cut.tflite"
        for length in (8, 100, len(data) // 2, len(data) - 1):
            path.write_bytes(data[:length])
            message = self._error(path)
            assert message.startswith(f"{path}: ")
            assert "truncated" in message

    def test_corrupt_root_offset(self) -> None:
        data = bytearray(write_tflite(dense_model()))
        struct.pack_into("<I", data, 0, 0xFFFFFFF0)
        assert "corrupt or truncated flatbuffer: table at offset 4294967280" in self._error(
            bytes(data))

    def test_corrupt_vtable(self) -> None:
        data = bytearray(write_tflite(dense_model()))
        root = struct.unpack_from("<I", data, 0)[0]
        struct.pack_into("<i", data, root, -(1 << 30))
        assert "vtable at offset" in self._error(bytes(data))

    def test_invalid_utf8_name(self) -> None:
        data = write_tflite(dense_model())
        index = data.index(b"\x01\x00\x00\x00w\x00")  # the string "w"
        broken = data[:index + 4] + b"\xff" + data[index + 5:]
        assert "is not valid UTF-8" in self._error(broken)

    def test_nul_in_path(self) -> None:
        assert "cannot read" in self._error("bad\0name.tflite")

    def test_wrong_source_type(self) -> None:
        with pytest.raises(TypeError):
            read_tflite(3.5)  # type: ignore[arg-type]


def _structural_positions(data: bytes) -> list[int]:
    """Byte positions outside the buffers' payloads: where mutations hit tables and offsets."""
    root = FlatBuffer(data, "kws").root()
    payload = np.zeros(len(data), dtype=bool)
    for buf in root.tables(4):
        view = buf.bytes_view(0)
        start = buf.target(0)
        if view is not None and start is not None:
            payload[start + 4:start + 4 + len(view)] = True
    return np.flatnonzero(~payload).tolist()


def test_mutated_files_read_or_fail_cleanly() -> None:
    """Any mutation of a real file either reads or raises ModelReadError: nothing else."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    base = mlperf_model(KWS).read_bytes()
    positions = _structural_positions(base)
    position = st.one_of(st.sampled_from(positions), st.integers(0, len(base) - 1))
    chunk = st.one_of(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                       b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x01"]),
                      st.binary(min_size=1, max_size=8))
    mutation = st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("overwrite"), position, chunk),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("insert"), position, chunk),
    )

    @hypothesis.settings(max_examples=300, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.lists(mutation, min_size=1, max_size=3))
    def check(mutations: list[tuple]) -> None:
        data = bytearray(base)
        for kind, pos, *arg in mutations:
            pos = min(pos, max(len(data) - 1, 0))
            if kind == "flip" and data:
                data[pos] ^= 1 << arg[0]
            elif kind == "overwrite":
                data[pos:pos + len(arg[0])] = arg[0]
            elif kind == "truncate":
                del data[pos:]
            elif kind == "insert":
                data[pos:pos] = arg[0]
        try:
            graph = read_tflite(bytes(data))
        except ModelReadError as exc:
            assert "\n" not in str(exc)
        else:
            assert isinstance(graph, ModelGraph)

    check()


# ------------------------------------------------------------------------------------------------
# Models converted by TensorFlow
# ------------------------------------------------------------------------------------------------
def _keras_model() -> object:
    """Covers every attribute the reader extracts; shapes are small so conversion is quick."""
    import keras
    from keras import layers

    x = keras.Input((16, 16, 4), batch_size=1)
    a = layers.Conv2D(8, (3, 5), strides=(2, 1), padding="same", activation="relu6")(x)
    b = layers.Conv2D(8, 3, dilation_rate=(2, 2), padding="valid", activation="relu")(x)
    b = layers.DepthwiseConv2D((3, 3), depth_multiplier=2, padding="same", strides=(1, 2))(b)
    g = layers.Conv2D(8, 3, groups=2, padding="same")(x)
    c = layers.MaxPooling2D((2, 1), strides=(2, 1))(g)
    d = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(a)
    e = layers.Concatenate(axis=-1)([c, d])
    e = layers.Add()([e, e * 0.5])
    s = layers.Subtract()([e, e])
    m = layers.Multiply()([e, s])
    f = layers.ZeroPadding2D(((1, 2), (0, 1)))(m)
    h = keras.ops.mean(f, axis=(1, 2), keepdims=True)
    h = layers.Reshape((16,))(h)
    h = layers.Dense(10, activation="tanh")(h)
    h = layers.Activation("hard_swish")(h)
    h = layers.Activation("sigmoid")(h)
    out = layers.Softmax()(h)
    o2 = layers.Dense(3)(layers.Flatten()(b))
    return keras.Model(x, [out, o2])


@pytest.fixture(scope="module")
def converted() -> dict[str, bytes]:
    """The test model converted to float32 and to full-integer int8 TFLite."""
    tf = pytest.importorskip("tensorflow")
    model = _keras_model()
    result = {"float32": tf.lite.TFLiteConverter.from_keras_model(model).convert()}

    def representative() -> object:
        rng = np.random.default_rng(0)
        for _ in range(8):
            yield [rng.standard_normal((1, 16, 16, 4)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result["int8"] = converter.convert()
    return result


def _by_op(graph: ModelGraph, op: OpType) -> list:
    return [layer for layer in graph if layer.op is op]


@pytest.mark.tf
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_converted_model_attributes(converted: dict[str, bytes], dtype: str) -> None:
    graph = read_tflite(converted[dtype], name=dtype)
    assert graph.unsupported == ()
    assert graph.inputs[0].dtype == dtype and graph.inputs[0].shape == (1, 16, 16, 4)

    convs = {layer.kernel: layer for layer in _by_op(graph, OpType.CONV_2D)}
    strided = convs[(3, 5)]
    assert strided.strides == (2, 1) and strided.padding is Padding.SAME
    assert strided.activation is Activation.RELU6 and strided.groups == 1
    assert strided.output.shape == (1, 8, 16, 8)
    three = [layer for layer in _by_op(graph, OpType.CONV_2D) if layer.kernel == (3, 3)]
    dilated = next(layer for layer in three if layer.dilation != (1, 1))
    grouped = next(layer for layer in three if layer.groups != 1)
    assert dilated.dilation == (2, 2) and dilated.padding is Padding.VALID
    assert dilated.activation is Activation.RELU and dilated.output.shape == (1, 12, 12, 8)
    assert grouped.groups == 2 and grouped.weights is not None
    assert grouped.weights.shape == (8, 3, 3, 2)

    (dw,) = _by_op(graph, OpType.DEPTHWISE_CONV_2D)
    assert dw.depth_multiplier == 2 and dw.kernel == (3, 3) and dw.strides == (1, 2)
    assert dw.padding is Padding.SAME and dw.output.shape == (1, 12, 6, 16)

    (maxpool,) = _by_op(graph, OpType.MAX_POOL_2D)
    assert maxpool.kernel == (2, 1) and maxpool.strides == (2, 1)
    assert maxpool.padding is Padding.VALID
    (avgpool,) = _by_op(graph, OpType.AVERAGE_POOL_2D)
    assert avgpool.kernel == (3, 3) and avgpool.strides == (1, 1)
    assert avgpool.padding is Padding.SAME

    (concat,) = _by_op(graph, OpType.CONCATENATION)
    assert concat.options["axis"] in (-1, 3) and concat.output.shape == (1, 8, 16, 16)
    assert _by_op(graph, OpType.ADD) and _by_op(graph, OpType.SUB) and _by_op(graph, OpType.MUL)
    (pad,) = _by_op(graph, OpType.PAD)
    assert pad.options["paddings"] == ((0, 0), (1, 2), (0, 1), (0, 0))
    (mean,) = _by_op(graph, OpType.MEAN)
    assert mean.options["keep_dims"] is True and mean.options["axes"] == (1, 2)
    assert _by_op(graph, OpType.RESHAPE)[0].options["new_shape"][-1] in (16, 1152)
    for op in (OpType.TANH, OpType.HARD_SWISH, OpType.LOGISTIC, OpType.SOFTMAX):
        assert len(_by_op(graph, op)) == 1, op
    assert _by_op(graph, OpType.SOFTMAX)[0].options["beta"] == 1.0

    dense = _by_op(graph, OpType.FULLY_CONNECTED)
    assert len(dense) == 2 and all(layer.weights is not None for layer in dense)

    weights = strided.weights
    assert weights is not None and weights.data is not None and weights.constant
    if dtype == "int8":
        assert weights.dtype == "int8" and weights.quantization is not None
        assert weights.quantization.per_channel and weights.quantization.axis == 0
        assert strided.bias is not None and strided.bias.dtype == "int32"
        assert dw.weights is not None and dw.weights.quantization is not None
        assert dw.weights.quantization.axis == 3
    else:
        assert weights.dtype == "float32" and weights.quantization is None


def _interpreter(data: bytes) -> object:
    tf = pytest.importorskip("tensorflow")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(
            model_content=data,
            experimental_op_resolver_type=(
                tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    return interpreter  # not allocated: tensor details and constants are available without it


def _compare_with_interpreter(data: bytes) -> None:
    """Every operator's name, inputs and outputs agree with TensorFlow Lite's interpreter."""
    graph = read_tflite(data)
    interpreter = _interpreter(data)
    tensor_details = interpreter.get_tensor_details()  # type: ignore[attr-defined]
    details = {d["index"]: d for d in tensor_details}
    ops = interpreter._get_ops_details()  # type: ignore[attr-defined]
    layers = sorted(graph.layers, key=lambda layer: int(layer.name.rsplit("_", 1)[1]))
    assert len(ops) == len(layers)
    for op, layer in zip(ops, layers):
        assert op["op_name"] == layer.source_op
        pairs = list(zip(op["inputs"], layer.inputs)) + list(zip(op["outputs"], layer.outputs))
        assert len(pairs) == len(op["inputs"]) + len(op["outputs"])
        for index, spec in pairs:
            if index < 0:
                assert spec is None
                continue
            d = details[int(index)]
            assert spec is not None
            assert spec.shape == tuple(d["shape"].tolist())
            assert np.dtype(spec.dtype) == np.dtype(d["dtype"])
            q = d["quantization_parameters"]
            if spec.quantization is None:
                assert len(q["scales"]) == 0
            else:
                np.testing.assert_array_equal(np.float32(spec.quantization.scale), q["scales"])
                assert list(spec.quantization.zero_point) == q["zero_points"].tolist()
                assert spec.quantization.axis == q["quantized_dimension"]
            if spec.data is not None:
                np.testing.assert_array_equal(
                    spec.data, interpreter.get_tensor(int(index)))  # type: ignore[attr-defined]


@pytest.mark.tf
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_converted_model_matches_interpreter(converted: dict[str, bytes], dtype: str) -> None:
    _compare_with_interpreter(converted[dtype])


@pytest.mark.tf
@pytest.mark.parametrize("filename", list(EXPECTED))
def test_mlperf_model_matches_interpreter(filename: str) -> None:
    _compare_with_interpreter(mlperf_model(filename).read_bytes())


# ------------------------------------------------------------------------------------------------
# Operators beyond the firmware's, converted by TensorFlow: mapped ops and options, and costs
# computed by hand from the Keras layer configurations
# ------------------------------------------------------------------------------------------------
def _operators_model() -> tuple[object, dict[str, object]]:
    """A model whose float32 conversion has LEAKY_RELU, PRELU, TRANSPOSE_CONV,
    RESIZE_NEAREST_NEIGHBOR, CONCATENATION, SPLIT, STRIDED_SLICE, TRANSPOSE, GATHER, SUM, EXP,
    DIV and a dense layer whose (all-zero) bias the converter drops; and its Keras layers."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(0)
    cfg: dict[str, object] = {
        "conv": layers.Conv2D(6, 3, padding="same"),
        "leaky": layers.LeakyReLU(0.25),
        "prelu": layers.PReLU(shared_axes=[1, 2]),
        "tconv": layers.Conv2DTranspose(6, 3, strides=2, padding="same"),
        "resize": layers.Resizing(16, 16, interpolation="nearest"),
        "dense": layers.Dense(10),
    }
    x = keras.Input((8, 8, 4), batch_size=1)
    b = cfg["prelu"](cfg["leaky"](cfg["conv"](x)))
    e = layers.Concatenate()([cfg["tconv"](b), cfg["resize"](b)])       # (1, 16, 16, 12)
    s1, s2 = ops.split(e, 2, axis=-1)
    g = s2[:, 2:10:2, :, 1:5]                                             # (1, 4, 16, 4)
    h = ops.transpose(g, (0, 2, 1, 3))                                    # (1, 16, 4, 4)
    i = ops.take(h, np.array([0, 3, 1], dtype=np.int32), axis=2)          # (1, 16, 3, 4)
    j = ops.sum(i, axis=(1, 2))                                           # (1, 4)
    out = ops.divide(ops.exp(j), j + 2.0)
    dense = cfg["dense"](layers.Flatten()(s1))
    return keras.Model(x, [out, dense]), cfg


@pytest.fixture(scope="module")
def operators_model() -> tuple[ModelGraph, dict[str, object]]:
    tf = pytest.importorskip("tensorflow")
    model, cfg = _operators_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return read_tflite(data, name="operators"), cfg


@pytest.mark.tf
def test_converted_operators_are_mapped(operators_model) -> None:
    graph, _ = operators_model
    assert graph.unsupported == ()
    assert Counter(layer.op for layer in graph) == Counter({
        OpType.CONV_2D: 1, OpType.LEAKY_RELU: 1, OpType.PRELU: 1, OpType.TRANSPOSE_CONV: 1,
        OpType.RESIZE_NEAREST_NEIGHBOR: 1, OpType.CONCATENATION: 1, OpType.SPLIT: 1,
        OpType.STRIDED_SLICE: 1, OpType.TRANSPOSE: 1, OpType.GATHER: 1, OpType.SUM: 1,
        OpType.ADD: 1, OpType.EXP: 1, OpType.DIV: 1, OpType.RESHAPE: 1,
        OpType.FULLY_CONNECTED: 1})


@pytest.mark.tf
def test_converted_operator_options(operators_model) -> None:
    graph, cfg = operators_model
    (leaky,) = _by_op(graph, OpType.LEAKY_RELU)
    assert leaky.options["alpha"] == pytest.approx(cfg["leaky"].negative_slope)
    (tconv,) = _by_op(graph, OpType.TRANSPOSE_CONV)
    assert tconv.input.shape == (1, 8, 8, 6) and tconv.inputs[0].shape == (4,)
    assert tconv.kernel == (3, 3) and tconv.strides == (2, 2) and tconv.padding is Padding.SAME
    assert tconv.options["output_shape"] == (1, 16, 16, 6)
    (resize,) = _by_op(graph, OpType.RESIZE_NEAREST_NEIGHBOR)
    assert resize.options["size"] == (16, 16) and resize.options["align_corners"] is False
    (split,) = _by_op(graph, OpType.SPLIT)
    assert split.options["num_splits"] == 2 and split.options["axis"] in (-1, 3)
    assert split.input.shape == (1, 16, 16, 12) and len(split.outputs) == 2
    (sliced,) = _by_op(graph, OpType.STRIDED_SLICE)
    assert sliced.options["strides"] == (1, 2, 1, 1) and sliced.output.shape == (1, 4, 16, 4)
    (transpose,) = _by_op(graph, OpType.TRANSPOSE)
    assert transpose.options["perm"] == (0, 2, 1, 3)
    (gather,) = _by_op(graph, OpType.GATHER)
    assert gather.options["axis"] == 2 and gather.output.shape == (1, 16, 3, 4)
    (total,) = _by_op(graph, OpType.SUM)
    assert total.options["axes"] == (1, 2) and total.options["keep_dims"] is False


@pytest.mark.tf
def test_converted_operator_costs_by_hand(operators_model) -> None:
    from tinymodel.costs import analyze
    from tinymodel.formulas import TRANSCENDENTAL_FLOPS

    graph, cfg = operators_model
    m = analyze(graph)

    def cost(op: OpType):
        (layer,) = _by_op(graph, op)
        return m.cost(layer)

    prelu, tconv, dense = cfg["prelu"], cfg["tconv"], cfg["dense"]
    assert cost(OpType.PRELU).params == 6                # alpha shared over H and W: one per channel
    assert cost(OpType.PRELU).flops == 8 * 8 * 6
    k_h, k_w = tconv.kernel_size
    # every one of the 8x8x6 input elements meets the k_h*k_w*filters weights of its channel
    assert cost(OpType.TRANSPOSE_CONV).macs == 8 * 8 * 6 * k_h * k_w * tconv.filters == 20_736
    # the untrained (zero) bias is dropped by the converter, and counted anyway
    assert cost(OpType.TRANSPOSE_CONV).params == tconv.count_params() == 330
    assert cost(OpType.FULLY_CONNECTED).params == dense.count_params() == 16 * 16 * 6 * 10 + 10
    assert cost(OpType.FULLY_CONNECTED).macs == 1536 * 10
    assert cost(OpType.RESIZE_NEAREST_NEIGHBOR).bytes_moved == 16 * 16 * 6 * 4
    assert cost(OpType.CONCATENATION).bytes_moved == 16 * 16 * 12 * 4
    assert cost(OpType.SPLIT).bytes_moved == 2 * 16 * 16 * 6 * 4
    assert cost(OpType.STRIDED_SLICE).bytes_moved == 4 * 16 * 4 * 4
    assert cost(OpType.TRANSPOSE).bytes_moved == cost(OpType.GATHER).bytes_moved * 4 // 3
    assert cost(OpType.SUM).flops == 16 * 3 * 4
    assert cost(OpType.EXP).flops == 4 * TRANSCENDENTAL_FLOPS and cost(OpType.DIV).flops == 4
    assert cost(OpType.LEAKY_RELU).flops == 8 * 8 * 6
    assert prelu.count_params() == 6


def _unrolled_lstm(units: int = 16, steps: int = 20, features: int = 8, classes: int = 4) -> object:
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    x = keras.Input((steps, features))      # no fixed batch, as practitioners write it
    y = layers.LSTM(units, unroll=True)(x)
    return keras.Model(x, layers.Dense(classes)(y))


@pytest.mark.tf
def test_converted_unrolled_lstm_is_analysable() -> None:
    """Keras's unrolled LSTM converts to per-step dense layers, splits and gates: every operator
    is mapped and the MACs are the LSTM's ``steps · 4 · units · (features + units)``."""
    tf = pytest.importorskip("tensorflow")
    from tinymodel.costs import analyze

    units, steps, features, classes = 16, 20, 8, 4
    model = _unrolled_lstm(units, steps, features, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    graph = read_tflite(data)
    assert graph.unsupported == ()
    ops = Counter(layer.op for layer in graph)
    assert {OpType.SHAPE, OpType.STRIDED_SLICE, OpType.TRANSPOSE, OpType.UNPACK, OpType.PACK,
            OpType.FILL, OpType.SPLIT, OpType.LOGISTIC, OpType.TANH} <= set(ops)
    assert ops[OpType.SPLIT] == steps and ops[OpType.FULLY_CONNECTED] == 2 * steps + 1
    m = analyze(graph)
    assert m.totals["macs"] == steps * 4 * units * (features + units) + units * classes
    fcs = [(layer, m.cost(layer)) for layer in _by_op(graph, OpType.FULLY_CONNECTED)]
    # the gates' matrices (64 x 8 input, 64 x 16 recurrent) carry no bias in the file (the
    # converter adds it with an ADD): each counts one per output row
    assert {c.params for layer, c in fcs if layer.output.shape[-1] == 4 * units} == \
        {4 * units * features + 4 * units, 4 * units * units + 4 * units}
    (split, *_) = _by_op(graph, OpType.SPLIT)
    assert split.options["num_splits"] == 4 and [t.shape for t in split.outputs] == \
        [(1, units)] * 4
    assert m.no_formula == ()


# ------------------------------------------------------------------------------------------------
# Hand-built operators the stock converter does not write for Keras 3 models: SVDF, the fused
# LSTM, control flow and variables (option field ids as declared in schema.fbs)
# ------------------------------------------------------------------------------------------------
def table_options(union: int, *slots: tuple[str, int, object]) -> tuple[int, Callable[..., int]]:
    """An options table of union type ``union`` with ``(kind, field id, value)`` scalar slots,
    kind one of ``Int8``, ``Int32``, ``Bool``, ``Float32``."""
    def build(b: object) -> int:
        b.StartObject(max((s[1] for s in slots), default=0) + 1)  # type: ignore[attr-defined]
        for kind, field_id, value in slots:
            getattr(b, f"Prepend{kind}Slot")(field_id, value, 0)
        return b.EndObject()  # type: ignore[attr-defined, no-any-return]
    return union, build


def _code(name: str) -> Code:
    code = BUILTIN_NAMES.index(name)
    return Code(min(code, 127), code)


def _floats(n: int) -> bytes:
    return np.arange(n, dtype="<f4").tobytes()


def test_hand_built_svdf() -> None:
    from tinymodel.costs import layer_cost

    model = Model(
        tensors=[T((1, 10), "x", dtype=FLOAT32), T((16, 10), "wf", dtype=FLOAT32, buffer=1),
                 T((16, 6), "wt", dtype=FLOAT32, buffer=2), T((8,), "b", dtype=FLOAT32, buffer=3),
                 T((1, 96), "state", dtype=FLOAT32, variable=True),
                 T((1, 8), "y", dtype=FLOAT32)],
        ops=[Op(0, (0, 1, 2, 3, 4), (5,), table_options(6, ("Int32", 0, 2), ("Int8", 1, 1)))],
        codes=[_code("SVDF")],
        buffers=[Buf(), Buf(_floats(160)), Buf(_floats(96)), Buf(_floats(8))],
        outputs=(5,))
    (layer,) = read_tflite(write_tflite(model)).layers
    assert layer.op is OpType.SVDF and layer.activation is Activation.RELU
    assert dict(layer.options, tensor_name=None) == {
        "rank": 2, "memory_size": 6, "num_filters": 16, "num_units": 8, "tensor_name": None}
    c = layer_cost(layer)
    # 16 filters * (10 inputs + 6 memory); paper adds the 8 unit biases
    assert (c.macs, c.paper_macs, c.params) == (256, 264, 160 + 96 + 8)


def test_hand_built_time_major_lstm() -> None:
    from tinymodel.costs import layer_cost

    steps, n_in, cell = 20, 8, 16
    tensors = [T((steps, 1, n_in), "x", dtype=FLOAT32)]
    buffers = [Buf()]
    inputs: list[int] = [0]

    def weight(name: str, shape: tuple[int, ...]) -> None:
        buffers.append(Buf(_floats(int(np.prod(shape)))))
        tensors.append(T(shape, name, dtype=FLOAT32, buffer=len(buffers) - 1))
        inputs.append(len(tensors) - 1)

    for g in "ifco":
        weight(f"w_{g}", (cell, n_in))
    for g in "ifco":
        weight(f"r_{g}", (cell, cell))
    inputs += [-1, -1, -1]                                  # no peepholes
    for g in "ifco":
        weight(f"b_{g}", (cell,))
    inputs += [-1, -1]                                      # no projection
    for state in ("h", "c"):
        tensors.append(T((1, cell), state, dtype=FLOAT32, variable=True))
        inputs.append(len(tensors) - 1)
    inputs += [-1] * 4                                      # no layer norm
    tensors.append(T((steps, 1, cell), "y", dtype=FLOAT32))
    model = Model(tensors=tensors,
                  ops=[Op(0, tuple(inputs), (len(tensors) - 1,),
                          table_options(71, ("Int8", 0, 4), ("Float32", 1, 10.0),
                                        ("Bool", 3, True)))],
                  codes=[_code("UNIDIRECTIONAL_SEQUENCE_LSTM")], buffers=buffers,
                  outputs=(len(tensors) - 1,))
    (layer,) = read_tflite(write_tflite(model)).layers
    assert layer.op is OpType.UNIDIRECTIONAL_SEQUENCE_LSTM and len(layer.inputs) == 24
    assert layer.options["time_major"] is True and layer.options["cell_clip"] == 10.0
    assert (layer.options["n_cell"], layer.options["n_output"]) == (cell, cell)
    assert layer.activation is Activation.TANH
    c = layer_cost(layer)
    assert c.macs == steps * 4 * cell * (n_in + cell) == 30_720
    assert c.params == 4 * cell * (n_in + cell + 1)          # state variables are not parameters


def test_hand_built_control_flow_and_variables_have_no_formula() -> None:
    from tinymodel.costs import analyze

    resource = 13
    model = Model(
        tensors=[T((1, 4), "x", dtype=FLOAT32), T((), "handle", dtype=resource),
                 T((1, 4), "y", dtype=FLOAT32)],
        ops=[Op(0, (), (1,)), Op(1, (1, 0), ()),
             Op(2, (0,), (2,), table_options(93, ("Int32", 0, 1), ("Int32", 1, 2)))],
        codes=[_code("VAR_HANDLE"), _code("ASSIGN_VARIABLE"), _code("WHILE")],
        outputs=(2,))
    graph = read_tflite(write_tflite(model))
    assert [layer.op for layer in graph] == [OpType.VAR_HANDLE, OpType.ASSIGN_VARIABLE,
                                             OpType.WHILE]
    loop = graph.layers[2]
    assert (loop.options["cond_subgraph"], loop.options["body_subgraph"]) == (1, 2)
    assert graph.layers[1].outputs == () and graph.layers[0].inputs == ()
    m = analyze(graph)
    assert m.no_formula == graph.layers and m.unsupported == ()
    assert all(not c.costed and c.macs == c.flops == 0 for _, c in m.layers)
