"""The activation kernels (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, PRELU) against TensorFlow.

int8: bit for bit against TFLite's reference kernels (``BUILTIN_REF``), over all 256 input codes
for several (scale, zero point) pairs — one-operator models written directly with TFLite's schema,
since the converter picks quantizations itself — and for the quantizations the converter gives
Keras models (``Dense`` / ``Conv2D`` with ``activation='sigmoid'`` etc., ``LeakyReLU``,
``PReLU``).  TFLite builds a float table for int8 LOGISTIC / TANH while the kernels compute TFLite
Micro's fixed-point algorithm; the two can differ only on exact rounding ties, and these tests say
whether any of the tried scales hits one.

float: against the Keras layers evaluated eagerly, with test_kernels_f32.py's tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
from tflite_oracle import SingleOpModel, random_int8, single_op, tf_modules

from tests.support import hostkernels as hk
from tinymodel import requantization as rq

pytestmark = pytest.mark.tf

RTOL = 1e-5
ALL_CODES = np.arange(-128, 128, dtype=np.int8)


def _close(got: np.ndarray, want: np.ndarray) -> None:
    """test_kernels_f32.py's criterion: 1e-5 relative, absolute floor scaled to max |want|."""
    want = np.asarray(want, np.float32)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=RTOL,
                               atol=RTOL * max(scale, 1e-30))


def unary_model(op: str, shape: tuple[int, ...], input_quant: tuple[float, int],
                output_quant: tuple[float, int], *, alpha: float | None = None,
                prelu_alpha: np.ndarray | None = None,
                alpha_quant: tuple[float, int] | None = None) -> SingleOpModel:
    """A one-operator int8 model of TFLite builtin ``op`` with the given quantizations, written
    with TFLite's schema object API: LEAKY_RELU takes ``alpha``; PRELU a constant int8
    ``prelu_alpha`` quantized with ``alpha_quant``."""
    tf_modules()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    def tensor(name, dims, buffer, quant):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(dims), schema.TensorType.INT8, buffer
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(np.float32(quant[0]))], [int(quant[1])]
        t.quantization = q
        return t

    def buffer(data: bytes = b""):
        b = schema.BufferT()
        b.data = list(data) if data else None
        return b

    code = schema.OperatorCodeT()
    builtin = getattr(schema.BuiltinOperator, op)
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1 if op in ("HARD_SWISH", "PRELU") else 2
    o = schema.OperatorT()
    o.opcodeIndex = 0
    tensors = [tensor("input", shape, 1, input_quant), tensor("output", shape, 2, output_quant)]
    buffers = [buffer(), buffer(), buffer()]
    o.inputs, o.outputs = [0], [1]
    if op == "LEAKY_RELU":
        options = schema.LeakyReluOptionsT()
        options.alpha = float(alpha)
        o.builtinOptionsType = schema.BuiltinOptions.LeakyReluOptions
        o.builtinOptions = options
    if op == "PRELU":
        tensors.append(tensor("alpha", prelu_alpha.shape, 3, alpha_quant))
        buffers.append(buffer(np.ascontiguousarray(prelu_alpha, np.int8).tobytes()))
        o.inputs = [0, 2]
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [0], [1], [o]
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes, model.subgraphs, model.buffers = [code], [graph], buffers
    return SingleOpModel(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


# -- LOGISTIC and TANH ----------------------------------------------------------------------------

#: (input scale, input zero point): typical converter scales, the saturation edges (radius below
#: one code, radius beyond the whole int8 range) and extreme zero points.
SIGMOID_INPUTS = [(0.0235, -3), (0.05, 0), (0.0625, -128), (0.1, 127), (0.0039215, 12),
                  (0.3, -20), (1.0 / 16.0, 5), (0.5, 0), (1.0, -1), (0.0173, 64)]


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("s_in,zp_in", SIGMOID_INPUTS)
def test_logistic_and_tanh_every_code(op, s_in, zp_in):
    out_q = rq.LOGISTIC_OUTPUT_QUANTIZATION if op == "LOGISTIC" else rq.TANH_OUTPUT_QUANTIZATION
    model = unary_model(op, (1, 256), (s_in, zp_in), out_q)
    want = model.run(ALL_CODES).reshape(-1)
    fn = hk.logistic if op == "LOGISTIC" else hk.tanh
    params = rq.logistic_params(s_in, zp_in)
    for family in ("ref", "opt"):
        got = fn(ALL_CODES, family=family, params=params)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{op} s_in={s_in} zp={zp_in}: codes {ALL_CODES[bad][:8]} give "
                               f"{got[bad][:8]}, TFLite {want[bad][:8]}")


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("s_in", [2.0, 4.0, 6.0])
def test_huge_input_scales_saturate_where_tflite_micro_does(op, s_in):
    """Above an input scale of about 1.26 (LOGISTIC; 4.4 for TANH) — inputs spanning more than
    +/-160 — TFLite Micro's saturation radius floor(15 * 2^27 / 2^e) codes cuts off inputs whose
    TFLite table entry is not yet saturated; the kernels follow TFLite Micro, so the two differ
    exactly there and nowhere else."""
    out_q = rq.LOGISTIC_OUTPUT_QUANTIZATION if op == "LOGISTIC" else rq.TANH_OUTPUT_QUANTIZATION
    want = unary_model(op, (1, 256), (s_in, 0), out_q).run(ALL_CODES).reshape(-1)
    params = rq.logistic_params(s_in, 0)
    got = (hk.logistic if op == "LOGISTIC" else hk.tanh)(ALL_CODES, family="ref", params=params)
    bad = np.flatnonzero(got != want)
    x = ALL_CODES.astype(int)[bad]
    assert np.all(np.abs(x) >= params.input_range_radius), (x, params.input_range_radius)
    assert np.all(np.isin(got[bad], (-128, 127)))


def test_logistic_params_follow_tflite_micro_prepare():
    # s_in = 0.05: r = 0.05 * 2^27 = 6710886.4 = 0.8 * 2^23
    p = rq.logistic_params(0.05, 3)
    assert (p.input_offset, p.input_left_shift) == (-3, 23)
    assert p.input_multiplier == round(float(np.float32(0.05)) * 2**27 / 2**23 * 2**31)
    assert p.input_range_radius == (15 << 27) >> 23 == 240
    with pytest.raises(rq.TinymodelError):
        rq.logistic_params(2.0**-30, 0)      # e < 0: beyond the kernel's shifts


# -- HARD_SWISH -------------------------------------------------------------------------------

#: (s_in, zp_in, s_out, zp_out): ranges a MobileNetV3 block gives (output about 2/3 of the
#: input range on the positive side), a wide and a narrow input, extreme zero points.
HARD_SWISH_QUANTS = [(0.0235, -3, 0.0172, -110), (0.05, 10, 0.04, -100), (0.1, 0, 0.08, -120),
                     (0.004, -128, 0.003, -128), (0.2, 127, 0.02, 0), (0.0117, 40, 0.0117, 40)]


@pytest.mark.parametrize("s_in,zp_in,s_out,zp_out", HARD_SWISH_QUANTS)
def test_hard_swish_every_code(s_in, zp_in, s_out, zp_out):
    model = unary_model("HARD_SWISH", (1, 256), (s_in, zp_in), (s_out, zp_out))
    want = model.run(ALL_CODES).reshape(-1)
    params = rq.hard_swish_params(s_in, zp_in, s_out, zp_out)
    for family in ("ref", "opt"):
        got = hk.hard_swish(ALL_CODES, family=family, params=params)
        np.testing.assert_array_equal(got, want, err_msg=f"{params}")


# -- LEAKY_RELU -------------------------------------------------------------------------------

LEAKY_QUANTS = [(0.1, 0.02, 5, 0.018, 10), (0.2, 0.05, -20, 0.05, -20), (0.3, 0.0078, 127,
                                                                          0.007, 100),
                (0.01, 0.04, -128, 0.035, -128), (-0.5, 0.03, 0, 0.03, 0),
                (1.7, 0.02, 3, 0.04, 20)]


@pytest.mark.parametrize("alpha,s_in,zp_in,s_out,zp_out", LEAKY_QUANTS)
def test_leaky_relu_every_code(alpha, s_in, zp_in, s_out, zp_out):
    model = unary_model("LEAKY_RELU", (1, 256), (s_in, zp_in), (s_out, zp_out), alpha=alpha)
    want = model.run(ALL_CODES).reshape(-1)
    params = rq.leaky_relu_params(s_in, zp_in, np.float32(alpha), s_out, zp_out)
    for family in ("ref", "opt"):
        got = hk.leaky_relu(ALL_CODES, family=family, params=params)
        np.testing.assert_array_equal(got, want, err_msg=f"alpha {alpha} {params}")


# -- PRELU --------------------------------------------------------------------------------------

#: (input shape, alpha shape): per-channel alpha (PReLU(shared_axes=[1, 2])), a full alpha (no
#: shared axes), a scalar one, one shared along H only; odd / even / divisible-by-4 channels.
PRELU_SHAPES = [((1, 4, 5, 3), (1, 1, 3)), ((1, 3, 3, 8), (3, 3, 8)), ((1, 2, 7, 5), (1, 1, 1)),
                ((1, 5, 2, 4), (1, 2, 4)), ((1, 256), (256,)), ((2, 3, 1, 6), (3, 1, 6))]


@pytest.mark.parametrize("shape,alpha_shape", PRELU_SHAPES)
def test_prelu_broadcasts_like_tflite(shape, alpha_shape):
    rng = np.random.default_rng(len(shape) * 10 + sum(alpha_shape))
    alpha = random_int8(rng, alpha_shape)
    quants = [((0.03, -7), (0.004, 3), (0.02, 12)), ((0.1, 127), (0.0078, 0), (0.12, 100)),
              ((0.0117, -128), (0.02, -50), (0.009, -128))]
    for in_q, a_q, out_q in quants:
        model = unary_model("PRELU", shape, in_q, out_q, prelu_alpha=alpha, alpha_quant=a_q)
        x = random_int8(rng, shape)
        x.reshape(-1)[:256] = ALL_CODES[:x.size]
        want = model.run(x)
        params = rq.prelu_params(in_q[0], in_q[1], a_q[0], a_q[1], out_q[0], out_q[1])
        for family in ("ref", "opt"):
            got = hk.prelu(x, alpha, family=family, params=params)
            np.testing.assert_array_equal(got.reshape(want.shape), want,
                                          err_msg=f"{shape} alpha {alpha_shape} {params}")


# -- what the converter gives Keras models ------------------------------------------------------

def _converted(make_layer, shape, seed=0, ranges=None):
    model, _ = single_op(make_layer, [shape], seed=seed, ranges=ranges)
    return model


def _check_converted(model: SingleOpModel, seed: int) -> None:
    """Run the model (reference kernels, every tensor kept) on random int8 inputs and the last
    operator with the host kernels on the values its input had."""
    tf, _ = tf_modules()
    from tinymodel.readers import load_model

    layer = list(load_model(model.flatbuffer))[-1]
    interp = tf.lite.Interpreter(
        model_content=model.flatbuffer, experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    rng = np.random.default_rng(seed)
    x_in = model.model_inputs[0]
    interp.set_tensor(x_in.index, random_int8(rng, x_in.shape))
    interp.invoke()
    x = np.array(interp.get_tensor(model.op_inputs[0].index))
    want = np.array(interp.get_tensor(model.op_outputs[0].index))
    assert len(np.unique(x)) > 20, "the operator's input hardly varies"
    for family in ("ref", "opt"):
        got = hk.run_layer(layer, [x], family)
        np.testing.assert_array_equal(got.reshape(want.shape), want,
                                      err_msg=f"{layer.op.label} ({family})")


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "hard_swish"])
def test_converted_dense_activation(act):
    """Dense(activation=...) converts to FULLY_CONNECTED then a separate activation op."""
    model = _converted(lambda k: k.layers.Dense(24, activation=act), (16, 17), ranges=[3.0])
    assert model.op_name == {"sigmoid": "LOGISTIC", "tanh": "TANH",
                             "hard_swish": "HARD_SWISH"}[act], model.ops
    _check_converted(model, 1)


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.3])
def test_converted_leaky_relu(alpha):
    model = _converted(lambda k: k.layers.LeakyReLU(negative_slope=alpha), (1, 6, 6, 5))
    assert model.op_name == "LEAKY_RELU", model.ops
    _check_converted(model, 2)


@pytest.mark.slow
@pytest.mark.parametrize("shared_axes", [[1, 2], None])
def test_converted_prelu(shared_axes):
    def make(k):
        init = k.initializers.RandomUniform(-0.5, 0.5, seed=3)
        return k.layers.PReLU(alpha_initializer=init, shared_axes=shared_axes)
    model = _converted(make, (1, 5, 6, 7))
    assert model.op_name == "PRELU", model.ops
    _check_converted(model, 3)


@pytest.mark.slow
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "hard_swish"])
def test_converted_conv_activation(act):
    model = _converted(lambda k: k.layers.Conv2D(6, 3, activation=act), (1, 7, 7, 3),
                       ranges=[2.0])
    _check_converted(model, 4)


# -- float -----------------------------------------------------------------------------------------

def test_float_kernels_match_keras():
    _, keras = tf_modules()
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 4, 500), np.linspace(-20, 20, 401),
                        [0.0, -0.0, 1e-7, -1e-7, 16.7, -9.1, 88.0, -88.0]]).astype(np.float32)
    ops = keras.ops
    _close(hk.logistic(x, family="f32"), np.asarray(ops.sigmoid(x)))
    _close(hk.tanh(x, family="f32"), np.tanh(x.astype(np.float64)))
    _close(hk.hard_swish(x, family="f32"), np.asarray(ops.hard_swish(x)))
    for alpha in (0.1, 0.3, 1.7):
        _close(hk.leaky_relu(x, family="f32", alpha=alpha),
               np.asarray(keras.layers.LeakyReLU(negative_slope=alpha)(x)))
    _close(hk.leaky_relu(x, family="f32", alpha=-0.5), np.where(x > 0, x, np.float32(-0.5) * x))
    x4 = rng.normal(0, 2, (2, 3, 4, 5)).astype(np.float32)
    for a_shape in ((1, 1, 5), (3, 4, 5), (1, 1, 1), (3, 1, 5)):
        a = rng.normal(0, 0.5, a_shape).astype(np.float32)
        _close(hk.prelu(x4, a, family="f32"), np.where(x4 >= 0, x4, x4 * a))
