"""QUANTIZE, DEQUANTIZE, MEAN over any axes and SUM: the firmware against TFLite, bit for bit.

Every test runs the whole device path on the host: the code generator writes the layer table of
a model (:func:`calibration.codegen.generate`), the device code with the kernels is compiled for
the host with that network linked in (:func:`tests.support.hostdevice.build_host_device`), and
INFER runs it; the outputs are compared with ``tf.lite.Interpreter`` using TFLite's reference
kernels (``BUILTIN_REF``, the oracle the other kernel tests use).

* int8 outputs must be identical; float outputs of DEQUANTIZE too (the kernel's one float32
  product is the correctly rounded value TFLite's exact double product rounds to).
* int8 SUM: TFLite's reference int8 SUM is broken (it reads the data as uint8, every output was
  -1, shared/reference/tflite-op-arithmetic.md 25), so its expected values come from a numpy
  transcription of TensorFlow Lite Micro's arithmetic (25(b): ``clamp(MBQM(Σ(q - zp_in),
  QuantizeMultiplier(s_in / s_out)) + zp_out)``) with :mod:`tinymodel.requantization`; the float
  SUM of the same axes is checked against the interpreter.
* The models are written directly as flatbuffers (TFLite's schema object API), so axes, ranks,
  keep_dims, quantizations and float inputs on rounding ties can be chosen; the Keras tests
  convert what practitioners write (the converter's default post-training recipe with float I/O,
  ``keras.ops.mean`` / ``keras.ops.sum``, a sigmoid branch concatenated with a conv branch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calibration import hostbuild
from tinymodel import requantization as rq

pytestmark = pytest.mark.tf

_INT8, _FLOAT32, _INT32 = "INT8", "FLOAT32", "INT32"


# -- one flatbuffer, several operators -----------------------------------------------------------

class FlatModel:
    """A TFLite model written with the schema object API: tensors, operators, inputs, outputs."""

    def __init__(self) -> None:
        from tflite_oracle import tf_modules

        tf_modules()
        from tensorflow.lite.python import schema_py_generated as schema

        self.schema = schema
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [schema.BufferT()]
        self.codes: dict[int, int] = {}
        self.ops: list[Any] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, name: str, shape: Sequence[int], ttype: str,
               quant: tuple[float, int] | None = None, data: np.ndarray | None = None,
               model_input: bool = False, model_output: bool = False) -> int:
        """Add a tensor; returns its index."""
        s = self.schema
        t = s.TensorT()
        b = s.BufferT()
        b.data = list(np.ascontiguousarray(data).tobytes()) if data is not None else None
        self.buffers.append(b)
        t.name, t.shape, t.type, t.buffer = name, [int(d) for d in shape], \
            getattr(s.TensorType, ttype), len(self.buffers) - 1
        if quant is not None:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(np.float32(quant[0]))], [int(quant[1])]
            t.quantization = q
        self.tensors.append(t)
        index = len(self.tensors) - 1
        if model_input:
            self.inputs.append(index)
        if model_output:
            self.outputs.append(index)
        return index

    def op(self, name: str, inputs: Sequence[int], outputs: Sequence[int],
           keep_dims: bool | None = None) -> None:
        """Add an operator (``keep_dims`` given: ReducerOptions)."""
        s = self.schema
        code = getattr(s.BuiltinOperator, name)
        if code not in self.codes:
            self.codes[code] = len(self.codes)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes[code], list(inputs), list(outputs)
        if keep_dims is not None:
            o.builtinOptionsType = s.BuiltinOptions.ReducerOptions
            o.builtinOptions = s.ReducerOptionsT()
            o.builtinOptions.keepDims = bool(keep_dims)
        self.ops.append(o)

    def reduce(self, op: str, x: int, axes: Sequence[int], keep_dims: bool, ttype: str,
               quant: tuple[float, int] | None) -> int:
        """A MEAN / SUM of tensor ``x`` over ``axes`` as a new model output; returns it."""
        shape = self.tensors[x].shape
        reduced = {int(a) % len(shape) for a in axes}
        out = [1 if i in reduced else d for i, d in enumerate(shape)] if keep_dims else \
            [d for i, d in enumerate(shape) if i not in reduced]
        k = len(self.ops)
        a = self.tensor(f"axes_{k}", [len(axes)], _INT32, data=np.asarray(axes, dtype="<i4"))
        y = self.tensor(f"{op.lower()}_{k}", out, ttype, quant, model_output=True)
        self.op(op, [x, a], [y], keep_dims)
        return y

    def flatbuffer(self) -> bytes:
        """The model's bytes."""
        from tensorflow.lite.tools import flatbuffer_utils

        s = self.schema
        codes = []
        for code in sorted(self.codes, key=self.codes.get):
            c = s.OperatorCodeT()
            c.builtinCode = code
            c.deprecatedBuiltinCode = min(code, 127)
            c.version = 2
            codes.append(c)
        g = s.SubGraphT()
        g.tensors, g.inputs, g.outputs, g.operators = self.tensors, self.inputs, self.outputs, \
            self.ops
        m = s.ModelT()
        m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, codes, [g], self.buffers
        return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


# -- running a model on the host device and in the interpreter ---------------------------------

def _need_compiler() -> None:
    try:
        hostbuild.find_host_compiler()
    except hostbuild.HostBuildError as e:  # pragma: no cover - no compiler on this machine
        pytest.skip(str(e))


def _interpreter(fb: bytes):
    from tflite_oracle import tf_modules

    tf, _ = tf_modules()
    it = tf.lite.Interpreter(
        model_content=fb,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return it


def tflite_outputs(fb: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The interpreter's (BUILTIN_REF) outputs, in the model's output order."""
    it = _interpreter(fb)
    for d, x in zip(it.get_input_details(), inputs, strict=True):
        it.set_tensor(d["index"], np.asarray(x, dtype=d["dtype"]).reshape(d["shape"]))
    it.invoke()
    return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]


class DeviceModel:
    """A model deployed to the host build of the device code (generate, link, INFER)."""

    def __init__(self, fb: bytes, variant: str, out_dir: Path, name: str = "quant") -> None:
        from calibration.codegen import generate
        from tinymodel.readers.tflite import read_tflite

        _need_compiler()
        self.graph = read_tflite(fb, name=name)
        generate(self.graph, variant, out_dir)
        self.out_dir = out_dir

    def run(self, inputs_list: Sequence[Sequence[np.ndarray]]) -> list[list[np.ndarray]]:
        """INFER each list of inputs; the outputs as arrays of the graph's output dtypes."""
        from calibration.protocol import Client
        from tests.support.hostdevice import HostDeviceTransport, build_host_device

        dtypes = [np.float32 if t.dtype == "float32" else np.int8 for t in self.graph.outputs]
        results = []
        with Client(HostDeviceTransport(build_host_device(self.out_dir)), timeout_s=30) as c:
            for inputs in inputs_list:
                outs, _ = c.infer([np.ascontiguousarray(x).tobytes() for x in inputs])
                results.append([np.frombuffer(o, dtype=d) for o, d in zip(outs, dtypes,
                                                                          strict=True)])
        return results


def tflm_sum_s8(x: np.ndarray, axes: Sequence[int], s_in: float, zp_in: int, s_out: float,
                zp_out: int) -> np.ndarray:
    """TensorFlow Lite Micro's int8 SUM (tflite-op-arithmetic.md 25(b)), flattened."""
    m, e = rq.requantize_multiplier(s_in, s_out)
    axes = tuple(sorted({int(a) % x.ndim for a in axes}))
    acc = (x.astype(np.int64) - zp_in).sum(axis=axes)
    acc = np.clip(acc, -(1 << 31), (1 << 31) - 1)
    y = rq.multiply_by_quantized_multiplier(acc, m, e) + zp_out
    return np.clip(y, -128, 127).astype(np.int8).ravel()


# -- MEAN and SUM over any axes ----------------------------------------------------------------

#: (op, axes, keep_dims, output quantization) on a 4-D int8 input (2, 5, 6, 7) of scale 0.02,
#: zero point -3: every axis alone, pairs, three axes, negative axes, the spatial form, with
#: reduction lengths odd, even and divisible by 4.
_REDUCE_4D = (
    ("MEAN", (3,), True, (0.013, 5)), ("MEAN", (1, 2), False, (0.011, -7)),
    ("MEAN", (1, 2), True, (0.02, -3)), ("MEAN", (0,), False, (0.017, 2)),
    ("MEAN", (-1, -3), True, (0.009, 0)), ("MEAN", (1, 2, 3), False, (0.004, -128)),
    ("MEAN", (2,), True, (0.03, 127)),
    ("SUM", (3,), True, (0.09, 4)), ("SUM", (1, 2), False, (0.35, -10)),
    ("SUM", (0, 3), True, (0.1, 0)), ("SUM", (-2,), False, (0.05, 100)),
)
#: The same on a 3-D input (3, 10, 4) (Conv1D / sequence models) and a 2-D one (4, 9).
_REDUCE_3D = (("MEAN", (1,), False, (0.012, 1)), ("MEAN", (-1,), True, (0.02, -5)),
              ("SUM", (1,), False, (0.2, -1)), ("SUM", (0, 2), True, (0.3, 3)))
_REDUCE_2D = (("MEAN", (1,), False, (0.015, 0)), ("SUM", (-1,), False, (0.1, 2)))


def _reduce_model(ttype: str) -> tuple[bytes, list[tuple[str, int, Sequence[int], Any]]]:
    m = FlatModel()
    q_in = (0.02, -3) if ttype == _INT8 else None
    specs = []
    for shape, cases in (((2, 5, 6, 7), _REDUCE_4D), ((3, 10, 4), _REDUCE_3D),
                         ((4, 9), _REDUCE_2D)):
        x = m.tensor(f"x{len(shape)}", shape, ttype, q_in, model_input=True)
        for op, axes, keep, q_out in cases:
            m.reduce(op, x, axes, keep, ttype, q_out if ttype == _INT8 else None)
            specs.append((op, len(m.inputs) - 1, axes, q_out))
    return m.flatbuffer(), specs


def test_int8_mean_and_sum_over_any_axes_match_tflite(tmp_path):
    fb, specs = _reduce_model(_INT8)
    device = DeviceModel(fb, "s8-opt", tmp_path)
    rng = np.random.default_rng(17)
    shapes = [tuple(t.shape) for t in device.graph.inputs]
    cases = [[rng.integers(-128, 128, size=s).astype(np.int8) for s in shapes] for _ in range(3)]
    # extremes: all codes at one end (sums saturate the int8 output)
    cases.append([np.full(s, 127, np.int8) for s in shapes])
    cases.append([np.full(s, -128, np.int8) for s in shapes])
    for inputs, got in zip(cases, device.run(cases), strict=True):
        ref = tflite_outputs(fb, inputs)
        for i, (op, which, axes, q_out) in enumerate(specs):
            want = ref[i].ravel() if op == "MEAN" else tflm_sum_s8(
                inputs[which], axes, 0.02, -3, *q_out)
            np.testing.assert_array_equal(got[i], want, err_msg=f"{op} {axes} output {i}")


def test_float_mean_and_sum_over_any_axes_match_tflite(tmp_path):
    fb, specs = _reduce_model(_FLOAT32)
    device = DeviceModel(fb, "f32", tmp_path)
    rng = np.random.default_rng(3)
    shapes = [tuple(t.shape) for t in device.graph.inputs]
    cases = [[rng.normal(0.0, 1.0, size=s).astype(np.float32) for s in shapes]
             for _ in range(2)]
    for inputs, got in zip(cases, device.run(cases), strict=True):
        for i, want in enumerate(tflite_outputs(fb, inputs)):
            np.testing.assert_allclose(got[i], want.ravel(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{specs[i][0]} {specs[i][2]}")


def test_the_spatial_mean_keeps_its_descriptor_and_other_axes_name_theirs():
    """MEAN over (1, 2) of a 4-D tensor is written exactly as before (geom[] at its defaults, so
    the example models' layer tables do not change); other axes carry their bit mask."""
    import tinymodel.firmware_interface as fi
    from tinymodel.builder import GraphBuilder
    from tinymodel.descriptors import describe_layer

    b = GraphBuilder("m", dtype="int8", with_data=True)
    x = b.input((1, 6, 5, 8))
    y = b.input((1, 12, 8))
    g = b.build([b.mean(x, axes=(1, 2)), b.mean(x, axes=(-1,), keep_dims=True),
                 b.mean(y, axes=(1,))])
    spatial, channels, seq = (describe_layer(layer, "s8-ref") for layer in g)
    assert spatial.geom == fi.default_geom() and spatial.output == (1, 1, 1, 8)
    assert channels.geom == fi.REDUCE_GEOM.words(axes=0b1000)
    assert channels.output == (1, 6, 5, 1)
    # a 3-D (1, 12, 8) tensor is (1, 1, 12, 8) to the kernels: its axis 1 is their dimension 2
    assert seq.geom == fi.REDUCE_GEOM.words(axes=0b0100) and seq.output == (1, 1, 1, 8)
    m12, e12 = rq.mean_multiplier(0.05, 0.05, 12)
    assert (seq.quant[fi.QuantSlot.MULT], seq.quant[fi.QuantSlot.SHIFT]) == (m12, e12)


# -- QUANTIZE and DEQUANTIZE -------------------------------------------------------------------

def _convert_model() -> bytes:
    """float (3, 37) -> QUANTIZE -> int8 q1 -> DEQUANTIZE -> float (output 0);
    q1 -> QUANTIZE (int8 -> int8, another scale and zero point) -> q2 -> DEQUANTIZE (output 1);
    q1 itself (output 2), q2 (output 3)."""
    m = FlatModel()
    x = m.tensor("x", (3, 37), _FLOAT32, model_input=True)
    q1 = m.tensor("q1", (3, 37), _INT8, (0.0173, -9), model_output=True)
    q2 = m.tensor("q2", (3, 37), _INT8, (0.041, 13), model_output=True)
    f1 = m.tensor("f1", (3, 37), _FLOAT32, model_output=True)
    f2 = m.tensor("f2", (3, 37), _FLOAT32, model_output=True)
    m.outputs = [f1, f2, q1, q2]
    m.op("QUANTIZE", [x], [q1])
    m.op("QUANTIZE", [q1], [q2])
    m.op("DEQUANTIZE", [q1], [f1])
    m.op("DEQUANTIZE", [q2], [f2])
    return m.flatbuffer()


def _convert_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    s = np.float32(0.0173)
    cases = [rng.uniform(-2.5, 2.5, size=(3, 37)).astype(np.float32)]
    # ties of x / s (k + 1/2 times the scale), both signs, and values beyond the int8 range
    k = rng.integers(-140, 140, size=(3, 37)).astype(np.float32)
    cases.append(((k + np.float32(0.5)) * s).astype(np.float32))
    cases.append(np.linspace(-1e4, 1e4, 3 * 37, dtype=np.float32).reshape(3, 37))
    return cases


def test_quantize_and_dequantize_match_tflite(tmp_path):
    fb = _convert_model()
    device = DeviceModel(fb, "s8-ref", tmp_path)
    assert [layer.op.label for layer in device.graph] == ["QUANTIZE", "QUANTIZE", "DEQUANTIZE",
                                                          "DEQUANTIZE"]
    cases = [[x] for x in _convert_inputs(np.random.default_rng(5))]
    for inputs, got in zip(cases, device.run(cases), strict=True):
        ref = tflite_outputs(fb, inputs)
        for i, (g, want) in enumerate(zip(got, ref, strict=True)):
            # float outputs too: identical bits, not merely close
            np.testing.assert_array_equal(g, want.ravel(), err_msg=f"output {i}")


def test_requantize_covers_every_int8_code():
    """int8 -> int8 QUANTIZE on all 256 codes for scale ratios below and above 1, against a numpy
    transcription of reference_ops::Requantize (the host kernel, no device build)."""
    import ctypes

    from tests.support.hostkernels import load_library

    lib = load_library()
    fn = lib.tm_requantize_s8
    fn.restype = ctypes.c_int32

    class Params(ctypes.Structure):
        _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32),
                    ("multiplier", ctypes.c_int32), ("shift", ctypes.c_int32),
                    ("scale", ctypes.c_float)]

    codes = np.arange(-128, 128, dtype=np.int8)
    for s_in, zp_in, s_out, zp_out in ((0.0039, -128, 0.00715, -2), (0.05, 3, 0.01, -100),
                                       (0.02, 0, 0.02, 7), (1e-4, 127, 0.9, 0)):
        m, e = rq.requantize_multiplier(s_in, s_out)
        out = np.zeros(256, np.int8)
        p = Params(-zp_in, zp_out, m, e, 0.0)
        assert fn(ctypes.byref(p), 256, codes.ctypes.data_as(ctypes.c_void_p),
                  out.ctypes.data_as(ctypes.c_void_p)) == 0
        want = np.clip(rq.multiply_by_quantized_multiplier(codes.astype(np.int64) - zp_in, m, e)
                       + zp_out, -128, 127)
        np.testing.assert_array_equal(out, want, err_msg=f"{s_in}/{s_out}")


# -- what practitioners' Keras models convert to ---------------------------------------------

def _keras():
    from tflite_oracle import tf_modules

    return tf_modules()[1]


def _cnn_ptq() -> bytes:
    """Conv2D -> GlobalAveragePooling2D -> Dense, converted with the default post-training int8
    recipe: float32 input and output, QUANTIZE / DEQUANTIZE at the ends."""
    from tests.support.converters import convert

    keras = _keras()
    keras.utils.set_random_seed(11)
    x = keras.Input((9, 9, 3), batch_size=1)
    y = keras.layers.Conv2D(8, 3, activation="relu")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return convert(keras.Model(x, keras.layers.Dense(5)(y)), "ptq")


def test_a_default_post_training_model_with_float_io_runs_bit_exact(tmp_path):
    from tinymodel.descriptors import deployability, firmware_dtype

    fb = _cnn_ptq()
    device = DeviceModel(fb, "s8-opt", tmp_path, name="cnn_ptq")
    g = device.graph
    assert [t.dtype for t in (*g.inputs, *g.outputs)] == ["float32", "float32"]
    assert g.layers[0].op.label == "QUANTIZE" and g.layers[-1].op.label == "DEQUANTIZE"
    assert firmware_dtype(g) == "int8" and deployability(g, "s8-ref").accepted
    rng = np.random.default_rng(2)
    cases = [[rng.uniform(0.0, 1.0, size=(1, 9, 9, 3)).astype(np.float32)] for _ in range(4)]
    from tests.support.hostkernels import run_model

    for inputs, got in zip(cases, device.run(cases), strict=True):
        want = tflite_outputs(fb, inputs)[0].ravel()
        np.testing.assert_array_equal(got[0], want)
        # the layer-by-layer host runner (tests.support.hostkernels) gives the same bits
        np.testing.assert_array_equal(run_model(g, inputs, "opt")[0].ravel(), want)


def test_keras_sequence_means_and_sums_run_bit_exact(tmp_path):
    """A Conv1D model's GlobalAveragePooling1D and ``keras.ops.mean(x, axis=-1)`` (MEAN over a
    3-D tensor's axis 1 and 2), and ``keras.ops.sum`` over the time axis, full int8."""
    from tests.support.converters import convert
    from tests.support.hostkernels import run_model

    keras = _keras()
    keras.utils.set_random_seed(4)
    x = keras.Input((16, 6), batch_size=1)
    c = keras.layers.Conv1D(8, 3, activation="relu")(x)
    pooled = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(c))
    feature_mean = keras.ops.mean(c, axis=-1)
    total = keras.ops.sum(x, axis=1)
    fb = convert(keras.Model(x, [pooled, feature_mean, total]), "int8")
    device = DeviceModel(fb, "s8-ref", tmp_path, name="seq_int8")
    ops = [layer.op.label for layer in device.graph]
    assert ops.count("MEAN") == 2 and ops.count("SUM") == 1, ops
    it = _interpreter(fb)
    inp = it.get_input_details()[0]
    s_in, zp_in = inp["quantization"]
    outs = it.get_output_details()
    sum_out = next(d for d in outs if tuple(d["shape"]) == (1, 6))
    rng = np.random.default_rng(8)
    cases = [[rng.integers(-128, 128, size=(1, 16, 6)).astype(np.int8)] for _ in range(3)]
    for inputs, got in zip(cases, device.run(cases), strict=True):
        ref = tflite_outputs(fb, inputs)
        by_name = {t.name: i for i, t in enumerate(device.graph.outputs)}
        host = run_model(device.graph, inputs, "ref")
        for d, want in zip(outs, ref, strict=True):
            mine = got[by_name[d["name"]]]
            np.testing.assert_array_equal(host[by_name[d["name"]]].ravel(), mine)
            if d is sum_out:      # TFLite's reference int8 SUM is broken: TFLM's arithmetic
                want = tflm_sum_s8(inputs[0], (1,), s_in, zp_in, *d["quantization"])
            np.testing.assert_array_equal(mine, want.ravel(), err_msg=d["name"])


def test_a_sigmoid_branch_concatenated_gets_an_int8_requantize():
    """The converter reconciles LOGISTIC's fixed output scale with CONCATENATION's shared one by
    a QUANTIZE int8 -> int8 (tflite-op-arithmetic.md 1.9); it is described as a requantization."""
    import tinymodel.firmware_interface as fi
    from tests.support.converters import convert
    from tinymodel.descriptors import describe_layer
    from tinymodel.readers.tflite import read_tflite

    keras = _keras()
    keras.utils.set_random_seed(9)
    x = keras.Input((6, 6, 3), batch_size=1)
    a = keras.layers.Conv2D(4, 3, padding="same")(x)
    b = keras.layers.Activation("sigmoid")(keras.layers.Conv2D(4, 3, padding="same")(x))
    g = read_tflite(convert(keras.Model(x, keras.layers.Concatenate()([a, b])), "int8"),
                    name="branches")
    requant = [layer for layer in g if layer.op.label == "QUANTIZE"]
    assert requant and all(layer.input.dtype == layer.output.dtype == "int8"
                           for layer in requant)
    d = describe_layer(requant[0], "s8-opt")
    assert d.geom[fi.ConvertGeomSlot.IN_DTYPE] == d.geom[fi.ConvertGeomSlot.OUT_DTYPE] == fi.DType.S8
    s_in = requant[0].input.quantization.scale[0]
    s_out = requant[0].output.quantization.scale[0]
    assert (d.quant[fi.ConvertQuantSlot.MULT], d.quant[fi.ConvertQuantSlot.SHIFT]) == \
        rq.requantize_multiplier(s_in, s_out)


@pytest.mark.slow
def test_a_float_io_model_validates_on_the_virtual_board(tmp_path):
    """``tinymodel validate`` of the default post-training model on the virtual L4 (s8-opt):
    deployed, run, and INFER verified against the interpreter."""
    import json

    from calibration.firmware import toolchain_available
    from tinymodel.cli import main

    if not toolchain_available():
        pytest.skip("arm-none-eabi-gcc not installed")
    model = tmp_path / "cnn_ptq.tflite"
    model.write_bytes(_cnn_ptq())
    out = tmp_path / "v"
    assert main(["validate", "--models", str(model), "--board", "L4", "--variant", "s8-opt",
                 "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok"]
    assert records[0]["verification"]["status"] == "passed"
