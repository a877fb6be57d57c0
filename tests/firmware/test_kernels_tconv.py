"""TRANSPOSE_CONV and BATCH_MATMUL kernels against TFLite's reference kernels, byte for byte.

Each ``tf`` test builds the Keras layer a practitioner writes (``Conv2DTranspose``; ``tf.matmul``
or ``keras.ops.matmul`` in a ``Lambda``), converts it to full int8, reads the flatbuffer with
tinymodel's reader and runs the layer with the host build of the firmware kernels
(``tests.support.hostkernels.run_layer``: the reader's options, the descriptor's padding rule and
:mod:`tinymodel.requantization`), comparing with ``tf.lite.Interpreter`` under ``BUILTIN_REF``.
The s8_ref scatter and the s8_opt SIMD gather of TRANSPOSE_CONV must agree bit for bit; the
float kernels are compared with the Keras model's float output.  Channel counts cover odd, even
and divisible-by-4 input channels (the SIMD body's 4-channel step and its tail).  Tests without
the ``tf`` mark cross-check the two int8 TRANSPOSE_CONV kernels on random parameters and the
kernels against a numpy transcription of the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from tflite_oracle import SingleOpModel, random_int8, single_op

from tests.support import hostkernels as hk
from tests.support.hostkernels import QuantS8
from tinymodel import requantization as rq
from tinymodel.dispatch import KernelPath
from tinymodel.ops import OpType
from tinymodel.readers.tflite import read_tflite


def _layer(flatbuffer: bytes, op: OpType):
    graph = read_tflite(flatbuffer, name="oracle")
    layers = [layer for layer in graph if layer.op is op]
    assert len(layers) == 1, [layer.op for layer in graph]
    return layers[0]


def _extreme(rng: np.random.Generator, shape) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -128, 127).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# TRANSPOSE_CONV

@dataclass(frozen=True)
class TconvCase:
    h: int
    w: int
    ic: int
    oc: int
    k: int
    stride: int
    padding: str
    bias: bool = True
    act: str | None = None

    def __str__(self) -> str:
        return (f"{self.h}x{self.w}x{self.ic}-oc{self.oc}-k{self.k}-s{self.stride}-{self.padding}"
                f"{'' if self.bias else '-nobias'}{'-' + self.act if self.act else ''}")


#: U-Net decoder blocks (kernel 3, stride 2, same) with and without bias, 'valid', odd / even /
#: divisible-by-4 input channels, odd output channels (the SIMD body's one-row tail), kernel 2
#: and 4, stride 1, a fused relu.
TCONV_CASES = [
    TconvCase(4, 4, 8, 6, 3, 2, "same"),
    TconvCase(4, 5, 6, 5, 3, 2, "same", bias=False),
    TconvCase(5, 4, 3, 4, 3, 2, "valid"),
    TconvCase(3, 3, 7, 3, 2, 2, "valid", act="relu"),
    TconvCase(4, 4, 5, 8, 4, 2, "same"),
    TconvCase(5, 5, 4, 7, 3, 1, "same"),
    TconvCase(3, 4, 12, 9, 3, 3, "same"),
]
FAST_TCONV = {str(TCONV_CASES[0]), str(TCONV_CASES[2])}


def _tconv_model(case: TconvCase, seed: int = 3):
    def make(keras):
        return keras.layers.Conv2DTranspose(
            case.oc, case.k, strides=case.stride, padding=case.padding, use_bias=case.bias,
            activation=case.act,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            bias_initializer=keras.initializers.RandomUniform(-0.3, 0.3, seed=seed + 1))
    return single_op(make, [(1, case.h, case.w, case.ic)], seed=seed)


@pytest.mark.tf
@pytest.mark.parametrize("case", [pytest.param(c, id=str(c), marks=() if str(c) in FAST_TCONV
                                               else pytest.mark.slow) for c in TCONV_CASES])
def test_transpose_conv_s8_matches_tflite(case):
    model, _ = _tconv_model(case)
    assert model.op_name == "TRANSPOSE_CONV"
    layer = _layer(model.flatbuffer, OpType.TRANSPOSE_CONV)
    assert (layer.bias is not None) == case.bias
    rng = np.random.default_rng(11)
    shape = (1, case.h, case.w, case.ic)
    for x in [random_int8(rng, shape) for _ in range(3)] + [_extreme(rng, shape)]:
        want = model.run(x)
        for family in ("ref", "opt"):
            got = hk.run_layer(layer, [x], family)
            np.testing.assert_array_equal(got, want, err_msg=f"{case} {family}")


@pytest.mark.tf
@pytest.mark.parametrize("case", [TCONV_CASES[0], TCONV_CASES[2]], ids=str)
def test_transpose_conv_f32_matches_keras(case):
    _, keras_model = _tconv_model(case)
    from tflite_oracle import tf_modules

    tf, _ = tf_modules()
    conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    layer = _layer(conv.convert(), OpType.TRANSPOSE_CONV)
    x = np.random.default_rng(5).uniform(-1, 1, (1, case.h, case.w, case.ic)).astype(np.float32)
    want = np.asarray(keras_model([x]))
    got = hk.run_layer(layer, [x], "f32")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _tconv_numpy(x, w, b, stride, pad, out_hw):
    """The scatter of tflite-op-arithmetic.md section 14(b), in int64 numpy (no requantization)."""
    n, h, wd, ic = x.shape
    oc, kh, kw, _ = w.shape
    acc = np.zeros((n, *out_hw, oc), np.int64)
    for y in range(h):
        for xx in range(wd):
            for ky in range(kh):
                for kx in range(kw):
                    oy, ox = y * stride - pad[0] + ky, xx * stride - pad[1] + kx
                    if 0 <= oy < out_hw[0] and 0 <= ox < out_hw[1]:
                        acc[:, oy, ox, :] += x[:, y, xx, :].astype(np.int64) @ \
                            w[:, ky, kx, :].astype(np.int64).T
    return acc + (0 if b is None else b)


@pytest.mark.parametrize("ic", [1, 3, 4, 6, 9])
def test_transpose_conv_ref_and_opt_agree_on_random_parameters(ic):
    from tinymodel.formulas import transpose_conv_padding

    rng = np.random.default_rng(ic)
    for trial in range(4):
        k, s = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        h, w, oc = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        same = bool(trial % 2)
        out_hw = (h * s, w * s) if same else ((h - 1) * s + k, (w - 1) * s + k)
        x = random_int8(rng, (2, h, w, ic))
        filt = rng.integers(-127, 128, (oc, k, k, ic)).astype(np.int8)
        bias = rng.integers(-5000, 5000, oc).astype(np.int32)
        quant = QuantS8.from_scales(0.03, int(rng.integers(-128, 128)),
                                    rng.uniform(0.001, 0.01, oc), 0.05, int(rng.integers(-20, 20)))
        ref = hk.transpose_conv(x, filt, bias, family="ref", output_hw=out_hw, quant=quant,
                                strides=s, padding="same" if same else "valid")
        opt = hk.transpose_conv(x, filt, bias, family="opt", output_hw=out_hw, quant=quant,
                                strides=s, padding="same" if same else "valid")
        np.testing.assert_array_equal(ref, opt)
        # and both are the rule: accumulate the scatter, requantize per channel
        pad = (transpose_conv_padding(out_hw[0], k, s, same)[0],
               transpose_conv_padding(out_hw[1], k, s, same)[0])
        acc = _tconv_numpy(x.astype(np.int64) + quant.input_offset, filt, bias, s, pad, out_hw)
        want = rq.multiply_by_quantized_multiplier(acc, quant.multiplier, quant.shift)
        want = np.clip(want + quant.output_offset, quant.act_min, quant.act_max)
        np.testing.assert_array_equal(ref, want.astype(np.int8))
    assert hk.transpose_conv_s8_opt_path(x.shape, filt.shape, out_hw) is KernelPath.TCONV_GATHER


def test_transpose_conv_scratch_is_one_batch_of_int32_outputs_for_ref_only():
    x = np.zeros((1, 2, 2, 3), np.int8)
    filt = np.zeros((4, 3, 3, 3), np.int8)
    need = hk.transpose_conv_scratch_bytes("ref", x.shape, filt.shape, (4, 4), 2)
    assert need == 4 * 4 * 4 * 4
    assert hk.transpose_conv_scratch_bytes("opt", x.shape, filt.shape, (4, 4), 2) == 0
    assert hk.transpose_conv_scratch_bytes("f32", x.shape, filt.shape, (4, 4), 2) == 0


# ---------------------------------------------------------------------------------------------
# BATCH_MATMUL

@dataclass(frozen=True)
class BmmCase:
    lhs: tuple[int, ...]
    rhs: tuple[int, ...]
    transpose_b: bool = False

    def __str__(self) -> str:
        return (f"{'x'.join(map(str, self.lhs))}@{'x'.join(map(str, self.rhs))}"
                f"{'-tb' if self.transpose_b else ''}")


#: attention scores q·kᵀ (transpose_b: adj_y), plain 3-D and 4-D (heads) products, odd / even /
#: divisible-by-4 reduction lengths, a broadcast batch dim.
BMM_CASES = [
    BmmCase((1, 5, 8), (1, 6, 8), True),
    BmmCase((1, 4, 7), (1, 7, 5)),
    BmmCase((1, 2, 3, 6), (1, 2, 6, 4)),
    BmmCase((1, 2, 4, 5), (1, 1, 5, 3)),
    BmmCase((1, 3, 4, 10), (1, 3, 9, 10), True),
]
FAST_BMM = {str(BMM_CASES[0])}


def _bmm_model(case: BmmCase, seed: int = 2) -> SingleOpModel:
    """The converted model; its inputs are named so that the converter, which orders a model's
    inputs by name, keeps LHS first (unnamed Keras inputs can sort as keras_tensor_10 < _9)."""
    from tflite_oracle import convert_int8, tf_modules

    tf, keras = tf_modules()
    keras.utils.set_random_seed(seed)
    a = keras.Input(shape=case.lhs[1:], batch_size=case.lhs[0], name="a_lhs")
    b = keras.Input(shape=case.rhs[1:], batch_size=case.rhs[0], name="b_rhs")
    out = keras.layers.Lambda(lambda t: tf.matmul(t[0], t[1], transpose_b=case.transpose_b))([a, b])
    model = SingleOpModel(convert_int8(keras.Model([a, b], out), [case.lhs, case.rhs],
                                       seed=seed + 1, ranges=[1.0, 2.0]))
    assert [t.shape for t in model.model_inputs] == [case.lhs, case.rhs]
    return model


@pytest.mark.tf
@pytest.mark.parametrize("case", [pytest.param(c, id=str(c), marks=() if str(c) in FAST_BMM
                                               else pytest.mark.slow) for c in BMM_CASES])
def test_batch_matmul_s8_matches_tflite(case):
    model = _bmm_model(case)
    assert model.op_name == "BATCH_MATMUL"
    layer = _layer(model.flatbuffer, OpType.BATCH_MATMUL)
    assert bool(layer.options.get("adj_y")) == case.transpose_b
    rng = np.random.default_rng(7)
    for trial in range(4):
        a = random_int8(rng, case.lhs) if trial < 3 else _extreme(rng, case.lhs)
        b = random_int8(rng, case.rhs) if trial < 3 else _extreme(rng, case.rhs)
        want = model.run(a, b)
        for family in ("ref", "opt"):
            np.testing.assert_array_equal(hk.run_layer(layer, [a, b], family), want,
                                          err_msg=f"{case} {family}")


@pytest.mark.parametrize("adj_x", [False, True])
@pytest.mark.parametrize("adj_y", [False, True])
def test_batch_matmul_kernels_follow_numpy(adj_x, adj_y):
    rng = np.random.default_rng(3 + 2 * adj_x + adj_y)
    a = rng.integers(-128, 128, (2, 1, 3, 5)).astype(np.int8)
    b = rng.integers(-128, 128, (1, 3, 5, 4)).astype(np.int8)
    a_in = np.swapaxes(a, -1, -2).copy() if adj_x else a
    b_in = np.swapaxes(b, -1, -2).copy() if adj_y else b
    mult, shift = rq.batch_matmul_multiplier(0.02, 0.03, 0.5)
    got = hk.batch_matmul(a_in, b_in, family="ref", adj_x=adj_x, adj_y=adj_y,
                          quant=(4, -3, 9, mult, shift))
    acc = np.matmul(a.astype(np.int64) - 4, b.astype(np.int64) + 3)
    want = np.clip(rq.multiply_by_quantized_multiplier(acc, mult, shift) + 9, -128, 127)
    np.testing.assert_array_equal(got, want.astype(np.int8))
    f = hk.batch_matmul(a_in.astype(np.float32), b_in.astype(np.float32), family="f32",
                        adj_x=adj_x, adj_y=adj_y)
    np.testing.assert_allclose(f, np.matmul(a.astype(np.float32), b.astype(np.float32)),
                               rtol=1e-6)


def test_batch_matmul_run_layer_with_a_constant_second_operand():
    """The host-built device runs a BATCH_MATMUL request with a runtime RHS (a second arena
    input) and with CONST_OPERAND (the RHS in the weight region)."""
    import tinymodel.firmware_interface as fi
    from calibration.protocol import Client, LayerRequest
    from tests.support.hostdevice import HostDeviceTransport

    m, e = rq.batch_matmul_multiplier(0.02, 0.05, 0.04)
    quant = fi.BMM_S8_QUANT.words(lhs_offset=3, rhs_offset=-7, output_offset=11, multiplier=m,
                                  shift=e, act_min=-128, act_max=127)
    with Client(HostDeviceTransport(), timeout_s=10) as c:
        for const in (False, True):
            req = LayerRequest(fi.Op.BATCH_MATMUL, "s8-opt", (1, 1, 6, 9), (1, 1, 6, 5),
                               (1, 1, 9, 5), fi.BMM_GEOM.words(adj_x=0, adj_y=0), quant,
                               bias=False, reps=1, warmups=0, const_operand=const)
            assert c.run_layer(req).reps == 1


def test_the_device_reports_the_transpose_conv_path_dispatch_predicts():
    from calibration.protocol import Client
    from calibration.requests import layer_request, point_layer
    from tests.support.hostdevice import HostDeviceTransport
    from tinymodel.dispatch import kernel_path

    spec = {"op": "TRANSPOSE_CONV", "input": [1, 3, 4, 7], "filters": 5, "kernel": [3, 3],
            "strides": [2, 2], "padding": "same"}
    with Client(HostDeviceTransport(), timeout_s=10) as c:
        for variant, want in (("s8-opt", KernelPath.TCONV_GATHER), ("s8-ref", None)):
            layer = point_layer(spec, variant)
            got = c.run_layer(layer_request(layer, variant, warmups=0, reps=1)).kernel_path
            assert got is want
            assert kernel_path(layer, variant) is (want or KernelPath.REF)
