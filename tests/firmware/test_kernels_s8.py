"""int8 kernels: s8_ref and s8_opt against TFLite's reference kernels, byte for byte.

Each ``tf`` test builds a one-layer Keras model, converts it to a full-int8 TFLite model, runs it in
``tf.lite.Interpreter`` with the ``BUILTIN_REF`` resolver, and runs our kernels (host build, through
``tests.support.hostkernels``) on the same int8 inputs with the weights and quantization read back
from the interpreter.  The shape classes cover odd / even / divisible-by-4 channels and lengths,
stride 1 and 2, same and valid padding, depth multipliers 1 and 2 and per-channel quantization;
the larger sweeps are ``slow``.  The tests without the ``tf`` mark cross-check s8_opt against
s8_ref on random parameters (no TensorFlow needed) and the C requantization helper against
:mod:`tinymodel.requantization`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from tflite_oracle import random_int8, single_op

from tests.support import hostkernels as hk
from tests.support.hostkernels import QuantS8
from tinymodel.dispatch import KernelPath
from tinymodel import requantization as rq

S8_FAMILIES = ("ref", "opt")
N_INPUTS = 3  # random inputs per converted model (plus one extreme input)


def _inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> list[np.ndarray]:
    xs = [random_int8(rng, shape) for _ in range(N_INPUTS)]
    extreme = np.where(rng.random(shape) < 0.5, -128, 127).astype(np.int8)
    return [*xs, extreme]


def _init(keras, seed: int):
    return (keras.initializers.GlorotUniform(seed=seed),
            keras.initializers.RandomUniform(-0.5, 0.5, seed=seed + 7))


def _same_pad_1(in_size: int, k: int, s: int, d: int) -> int:
    from tinymodel.formulas import same_padding
    return same_padding(in_size, k, s, d)[0]


# ---------------------------------------------------------------------------------------------
# CONV_2D

@dataclass(frozen=True)
class ConvCase:
    h: int
    w: int
    ic: int
    oc: int
    k: tuple[int, int]
    stride: int = 1
    padding: str = "valid"
    dilation: int = 1
    act: str = "none"

    def __str__(self) -> str:
        return (f"{self.h}x{self.w}x{self.ic}-oc{self.oc}-k{self.k[0]}x{self.k[1]}-s{self.stride}-"
                f"{self.padding}-d{self.dilation}-{self.act}")

    def expected_path(self) -> KernelPath:
        if self.k == (1, 1) and self.stride == 1 and self.ic % 4 == 0:
            return KernelPath.CONV_1X1
        return KernelPath.CONV_IM2COL


CONV_CASES = [
    ConvCase(7, 7, 3, 5, (3, 3), 1, "same", act="relu"),         # odd ic, odd oc
    ConvCase(8, 9, 6, 6, (3, 3), 1, "valid"),                    # even ic
    ConvCase(9, 9, 8, 8, (3, 3), 2, "same", act="relu6"),        # ic % 4 == 0, stride 2
    ConvCase(8, 8, 5, 3, (3, 3), 2, "valid"),
    ConvCase(6, 5, 8, 7, (1, 1), 1, "valid", act="relu"),        # 1x1 fast path
    ConvCase(5, 6, 7, 4, (1, 1), 1, "valid"),                    # 1x1, odd ic: im2col fallback
    ConvCase(5, 5, 6, 5, (1, 1), 1, "same"),                     # 1x1, even ic: fallback
    ConvCase(7, 7, 8, 4, (1, 1), 2, "valid"),                    # 1x1 stride 2: im2col
    ConvCase(5, 5, 16, 9, (1, 1), 1, "valid"),                   # 1x1, 16-wide blocks
    ConvCase(9, 8, 2, 4, (5, 5), 1, "same"),
    ConvCase(9, 9, 4, 3, (3, 3), 1, "same", dilation=2),
    ConvCase(12, 12, 1, 6, (5, 5), 1, "valid", act="relu"),      # LeNet-like first layer
    ConvCase(5, 5, 17, 6, (3, 3), 1, "same"),                    # K = 153 (odd column stride)
    ConvCase(6, 6, 3, 4, (2, 2), 1, "same"),                     # asymmetric same padding
]

CONV_SWEEP = [ConvCase(h, h, ic, oc, (k, k), s, p)
              for h, ic, oc, k, s, p in itertools.product(
                  (7,), (1, 2, 3, 4, 5, 12, 15, 16), (1, 3, 8), (1, 3), (1, 2),
                  ("same", "valid"))]


def _check_conv(case: ConvCase, seed: int) -> None:
    model, _ = single_op(
        lambda keras: keras.layers.Conv2D(
            case.oc, case.k, strides=case.stride, padding=case.padding,
            dilation_rate=case.dilation, activation=None if case.act == "none" else case.act,
            kernel_initializer=_init(keras, seed)[0], bias_initializer=_init(keras, seed)[1]),
        [(1, case.h, case.w, case.ic)], seed=seed)
    assert model.ops == ["CONV_2D"]
    x_info, w_info, b_info = model.op_inputs
    y_info = model.op_outputs[0]
    assert len(w_info.scales) == case.oc  # per-channel quantization
    w, b = model.tensor(w_info), model.tensor(b_info)
    quant = QuantS8.from_scales(x_info.scale, x_info.zero_point, w_info.scales, y_info.scale,
                                y_info.zero_point, case.act)
    geo = {"strides": case.stride, "padding": case.padding, "dilation": case.dilation}
    assert hk.conv2d_s8_opt_path(x_info.shape, w.shape, **geo) is case.expected_path()
    rng = np.random.default_rng(seed)
    for x in _inputs(rng, x_info.shape):
        want = model.run(x)
        for family in S8_FAMILIES:
            got = hk.conv2d(x, w, b, family=family, quant=quant, **geo)
            np.testing.assert_array_equal(got, want, err_msg=f"{family} {case}")
        forced = hk.conv2d_s8_path_kernel(KernelPath.CONV_IM2COL, x, w, b, quant=quant, **geo)
        np.testing.assert_array_equal(forced, want, err_msg=f"forced im2col {case}")


@pytest.mark.tf
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_bit_exact(case: ConvCase) -> None:
    _check_conv(case, seed=CONV_CASES.index(case))


@pytest.mark.tf
@pytest.mark.slow
@pytest.mark.parametrize("case", CONV_SWEEP, ids=str)
def test_conv2d_bit_exact_sweep(case: ConvCase) -> None:
    _check_conv(case, seed=100 + CONV_SWEEP.index(case))


# ---------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D

@dataclass(frozen=True)
class DwCase:
    h: int
    w: int
    ch: int
    mult: int
    k: tuple[int, int]
    stride: int = 1
    padding: str = "valid"
    dilation: int = 1
    act: str = "none"

    def __str__(self) -> str:
        return (f"{self.h}x{self.w}x{self.ch}-m{self.mult}-k{self.k[0]}x{self.k[1]}-s{self.stride}"
                f"-{self.padding}-d{self.dilation}-{self.act}")

    def expected_path(self) -> KernelPath:
        if self.mult != 1:
            return KernelPath.REF
        pad_h = _same_pad_1(self.h, self.k[0], self.stride, self.dilation) \
            if self.padding == "same" else 0
        pad_w = _same_pad_1(self.w, self.k[1], self.stride, self.dilation) \
            if self.padding == "same" else 0
        if self.k == (3, 3) and self.dilation == 1 and pad_h <= 1 and pad_w <= 1:
            return KernelPath.DW_3X3
        return KernelPath.DW_GENERIC


DW_CASES = [
    DwCase(8, 8, 8, 1, (3, 3), 1, "same", act="relu6"),    # 3x3 path, ch % 4 == 0
    DwCase(7, 7, 7, 1, (3, 3), 1, "same"),                 # 3x3 path, 3 tail channels
    DwCase(9, 8, 6, 1, (3, 3), 2, "same", act="relu"),     # 3x3 path, stride 2, even ch
    DwCase(6, 7, 5, 1, (3, 3), 1, "valid"),                # 3x3 path, pad 0
    DwCase(9, 9, 8, 1, (5, 5), 1, "same"),                 # generic: pad 2
    DwCase(10, 9, 6, 1, (5, 5), 2, "valid"),               # generic, stride 2
    DwCase(6, 6, 3, 2, (3, 3), 1, "same"),                 # ch_mult 2: scalar path
    DwCase(7, 7, 4, 2, (3, 3), 2, "valid", act="relu"),
    DwCase(9, 9, 4, 1, (3, 3), 1, "same", dilation=2),     # generic: dilation
    DwCase(6, 6, 9, 1, (2, 2), 1, "same"),                 # generic, even tap count
    DwCase(6, 6, 1, 1, (3, 3), 1, "same"),                 # a single channel
    DwCase(7, 5, 6, 1, (3, 1), 1, "same"),                 # generic, 3 taps (odd)
    DwCase(10, 10, 16, 1, (3, 3), 1, "same", act="relu"),
]

DW_SWEEP = [DwCase(h, h, ch, m, (k, k), s, p)
            for h, ch, m, k, s, p in itertools.product(
                (7,), (1, 2, 3, 4, 5, 8, 13, 16), (1, 2), (3, 5), (1, 2), ("same", "valid"))]


def _check_dw(case: DwCase, seed: int) -> None:
    model, _ = single_op(
        lambda keras: keras.layers.DepthwiseConv2D(
            case.k, strides=case.stride, padding=case.padding, depth_multiplier=case.mult,
            dilation_rate=case.dilation, activation=None if case.act == "none" else case.act,
            depthwise_initializer=_init(keras, seed)[0], bias_initializer=_init(keras, seed)[1]),
        [(1, case.h, case.w, case.ch)], seed=seed)
    assert model.ops == ["DEPTHWISE_CONV_2D"]
    x_info, w_info, b_info = model.op_inputs
    y_info = model.op_outputs[0]
    assert len(w_info.scales) == case.ch * case.mult and w_info.axis == 3
    w, b = model.tensor(w_info), model.tensor(b_info)
    quant = QuantS8.from_scales(x_info.scale, x_info.zero_point, w_info.scales, y_info.scale,
                                y_info.zero_point, case.act)
    geo = {"strides": case.stride, "padding": case.padding, "dilation": case.dilation,
               "depth_multiplier": case.mult}
    assert hk.depthwise_conv2d_s8_opt_path(x_info.shape, w.shape, **geo) is case.expected_path()
    rng = np.random.default_rng(seed)
    for x in _inputs(rng, x_info.shape):
        want = model.run(x)
        for family in S8_FAMILIES:
            got = hk.depthwise_conv2d(x, w, b, family=family, quant=quant, **geo)
            np.testing.assert_array_equal(got, want, err_msg=f"{family} {case}")
        if case.mult == 1:
            forced = hk.conv2d_s8_path_kernel(KernelPath.DW_GENERIC, x, w, b, quant=quant, **geo)
            np.testing.assert_array_equal(forced, want, err_msg=f"forced generic {case}")


@pytest.mark.tf
@pytest.mark.parametrize("case", DW_CASES, ids=str)
def test_depthwise_conv2d_bit_exact(case: DwCase) -> None:
    _check_dw(case, seed=200 + DW_CASES.index(case))


@pytest.mark.tf
@pytest.mark.slow
@pytest.mark.parametrize("case", DW_SWEEP, ids=str)
def test_depthwise_conv2d_bit_exact_sweep(case: DwCase) -> None:
    _check_dw(case, seed=300 + DW_SWEEP.index(case))


# ---------------------------------------------------------------------------------------------
# FULLY_CONNECTED

FC_CASES = [  # (batch rows, in_features, out_features, bias, activation)
    (1, 1, 4, True, "none"),
    (1, 15, 5, True, "relu"),
    (1, 16, 4, True, "none"),      # exactly one 16-column block
    (1, 17, 3, False, "none"),     # one block + 1 tail column, no bias
    (1, 30, 10, True, "none"),     # even, 14 tail columns
    (1, 32, 1, True, "relu6"),     # a single output row
    (1, 33, 7, True, "none"),
    (1, 64, 8, True, "relu"),
    (3, 20, 6, True, "none"),      # batched (Dense on a 3-D input)
    (1, 50, 9, True, "none"),
]
FC_SWEEP = [(1, k, n, True, "none") for k, n in itertools.product(range(1, 50), (1, 2, 5))]


def _check_fc(case, seed: int) -> None:
    rows, k, n, use_bias, act = case
    shape = (1, k) if rows == 1 else (1, rows, k)
    model, _ = single_op(
        lambda keras: keras.layers.Dense(
            n, use_bias=use_bias, activation=None if act == "none" else act,
            kernel_initializer=_init(keras, seed)[0], bias_initializer=_init(keras, seed)[1]),
        [shape], seed=seed)
    assert model.ops == ["FULLY_CONNECTED"]
    x_info, w_info = model.op_inputs[:2]
    b_info = model.op_inputs[2] if len(model.op_inputs) > 2 else None
    y_info = model.op_outputs[0]
    w, b = model.tensor(w_info), model.tensor(b_info)
    assert w.shape == (n, k)
    quant = QuantS8.from_scales(x_info.scale, x_info.zero_point, w_info.scales, y_info.scale,
                                y_info.zero_point, act)
    rng = np.random.default_rng(seed)
    for x in _inputs(rng, x_info.shape):
        want = model.run(x)
        for family in S8_FAMILIES:
            got = hk.fully_connected(x, w, b, family=family, quant=quant)
            np.testing.assert_array_equal(got.reshape(want.shape), want,
                                          err_msg=f"{family} {case}")


@pytest.mark.tf
@pytest.mark.parametrize("case", FC_CASES, ids=lambda c: f"b{c[0]}-k{c[1]}-n{c[2]}-{c[4]}")
def test_fully_connected_bit_exact(case) -> None:
    _check_fc(case, seed=400 + FC_CASES.index(case))


@pytest.mark.tf
@pytest.mark.slow
@pytest.mark.parametrize("case", FC_SWEEP, ids=lambda c: f"k{c[1]}-n{c[2]}")
def test_fully_connected_bit_exact_sweep(case) -> None:
    _check_fc(case, seed=500 + FC_SWEEP.index(case))


# ---------------------------------------------------------------------------------------------
# pooling

POOL_CASES = [  # (h, w, c, pool, stride, padding)
    (8, 8, 4, (2, 2), (2, 2), "valid"),
    (9, 9, 5, (3, 3), (2, 2), "same"),
    (6, 7, 4, (3, 3), (1, 1), "same"),
    (7, 8, 3, (2, 3), (1, 2), "valid"),
    (7, 7, 10, (7, 7), (7, 7), "valid"),   # global pooling as in the MLPerf models
    (5, 5, 9, (2, 2), (2, 2), "same"),     # odd size: a one-tap row / column at the edge
]


@pytest.mark.tf
@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0]}x{c[1]}x{c[2]}-p{c[3]}-s{c[4]}-{c[5]}")
def test_pool_bit_exact(kind: str, case) -> None:
    h, w, c, pool, stride, padding = case
    seed = 600 + POOL_CASES.index(case)
    layer = "AveragePooling2D" if kind == "avg" else "MaxPooling2D"
    model, _ = single_op(
        lambda keras: getattr(keras.layers, layer)(pool, strides=stride, padding=padding),
        [(1, h, w, c)], seed=seed, ranges=[3.0])
    assert model.ops == ["AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D"]
    x_info, y_info = model.op_inputs[0], model.op_outputs[0]
    assert (x_info.scale, x_info.zero_point) == (y_info.scale, y_info.zero_point)
    fn = hk.avg_pool2d if kind == "avg" else hk.max_pool2d
    rng = np.random.default_rng(seed)
    for x in _inputs(rng, x_info.shape):
        want = model.run(x)
        for family in S8_FAMILIES:
            got = fn(x, pool, strides=stride, padding=padding, family=family)
            np.testing.assert_array_equal(got, want, err_msg=f"{family} {kind} {case}")


# ---------------------------------------------------------------------------------------------
# ADD, SOFTMAX, RELU, RESHAPE

ADD_CASES = [  # (shape, ranges of the two inputs, fused activation)
    ((1, 5, 5, 3), (1.0, 3.0), "none"),
    ((1, 4, 4, 8), (2.0, 0.5), "relu"),
    ((1, 3, 11), (1.0, 1.0), "none"),
    ((1, 6, 6, 7), (4.0, 1.5), "relu6"),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", ADD_CASES, ids=lambda c: f"{'x'.join(map(str, c[0]))}-{c[2]}")
def test_add_bit_exact(case) -> None:
    shape, ranges, act = case
    seed = 700 + ADD_CASES.index(case)

    def combine(layer, inputs):
        y = layer(inputs)
        if act == "relu":
            return _keras().layers.ReLU()(y)
        if act == "relu6":
            return _keras().layers.ReLU(max_value=6.0)(y)
        return y

    model, _ = single_op(lambda keras: keras.layers.Add(), [shape, shape], seed=seed,
                         ranges=ranges, combine=combine)
    assert model.ops == ["ADD"]
    a_info, b_info = model.op_inputs
    y_info = model.op_outputs[0]
    params = rq.add_params(a_info.scale, a_info.zero_point, b_info.scale, b_info.zero_point,
                           y_info.scale, y_info.zero_point)
    act_range = rq.activation_range(act, y_info.scale, y_info.zero_point)
    # The two model inputs may be listed in either order; map them by tensor index.
    order = [d.index for d in model.model_inputs]
    rng = np.random.default_rng(seed)
    for _ in range(N_INPUTS + 1):
        xa, xb = random_int8(rng, shape), random_int8(rng, shape)
        feed = {a_info.index: xa, b_info.index: xb}
        want = model.run(*(feed[i] for i in order))
        for family in S8_FAMILIES:
            got = hk.add(xa, xb, family=family, params=params, act_range=act_range)
            np.testing.assert_array_equal(got, want, err_msg=f"{family} {case}")


def _keras():
    from tflite_oracle import tf_modules
    return tf_modules()[1]


SOFTMAX_CASES = [  # (shape, input range)
    ((1, 10), 5.0),
    ((1, 3), 1.0),
    ((1, 37), 20.0),
    ((1, 2, 12), 8.0),
    ((1, 100), 0.2),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", SOFTMAX_CASES, ids=lambda c: f"{'x'.join(map(str, c[0]))}-r{c[1]}")
def test_softmax_bit_exact(case) -> None:
    shape, rng_half = case
    seed = 800 + SOFTMAX_CASES.index(case)
    model, _ = single_op(lambda keras: keras.layers.Softmax(), [shape], seed=seed,
                         ranges=[rng_half])
    assert model.ops == ["SOFTMAX"]
    x_info, y_info = model.op_inputs[0], model.op_outputs[0]
    assert (y_info.scale, y_info.zero_point) == (1.0 / 256.0, -128)
    params = rq.softmax_params(1.0, x_info.scale)
    rng = np.random.default_rng(seed)
    xs = _inputs(rng, x_info.shape)
    xs.append(np.full(x_info.shape, 5, np.int8))  # all equal: exp(0) everywhere
    for x in xs:
        want = model.run(x)
        for family in S8_FAMILIES:
            got = hk.softmax(x, family=family, params=params)
            np.testing.assert_array_equal(got, want, err_msg=f"{family} {case}")


RELU_CASES = [("relu", 8.0), ("relu6", 8.0), ("relu", 0.5), ("relu6", 3.0)]


@pytest.mark.tf
@pytest.mark.parametrize("case", RELU_CASES, ids=lambda c: f"{c[0]}-r{c[1]}")
def test_relu_bit_exact(case) -> None:
    act, half = case
    seed = 900 + RELU_CASES.index(case)
    model, _ = single_op(
        lambda keras: keras.layers.ReLU(max_value=6.0 if act == "relu6" else None),
        [(1, 4, 5, 3)], seed=seed, ranges=[half])
    assert model.ops == [act.upper()]
    x_info, y_info = model.op_inputs[0], model.op_outputs[0]
    quant = QuantS8.from_scales(x_info.scale, x_info.zero_point, 1.0, y_info.scale,
                                y_info.zero_point, act)
    rng = np.random.default_rng(seed)
    for x in _inputs(rng, x_info.shape):
        want = model.run(x)
        for family in S8_FAMILIES:
            got = hk.relu(x, family=family, quant=quant, activation=act)
            np.testing.assert_array_equal(got, want, err_msg=f"{family} {case}")


@pytest.mark.tf
def test_reshape_bit_exact() -> None:
    model, _ = single_op(lambda keras: keras.layers.Reshape((12, 5)), [(1, 3, 4, 5)], seed=1000)
    assert model.ops == ["RESHAPE"]
    x_info = model.op_inputs[0]
    rng = np.random.default_rng(0)
    x = random_int8(rng, x_info.shape)
    want = model.run(x)
    np.testing.assert_array_equal(hk.reshape(x, want.shape), want)


# ---------------------------------------------------------------------------------------------
# rounding: which MultiplyByQuantizedMultiplier the interpreter uses

def _numpy_conv_acc(x: np.ndarray, w: np.ndarray, b: np.ndarray, zx: int) -> np.ndarray:
    """Valid, stride-1 int32 accumulators of a conv (plain numpy)."""
    _, h, wd, _ = x.shape
    oc, kh, kw, _ = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    xx = x[0].astype(np.int64) - zx
    acc = np.zeros((oh, ow, oc), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            acc += np.einsum("hwi,oi->hwo", xx[ky:ky + oh, kx:kx + ow], w[:, ky, kx, :].astype(np.int64))
    return acc + b.astype(np.int64)


def _mismatches(acc: np.ndarray, want: np.ndarray, x_info, w_info, y_info) -> dict[str, int]:
    counts = {}
    for mode in (rq.DOUBLE_ROUNDING, rq.SINGLE_ROUNDING):
        m, e = rq.conv_multipliers(x_info.scale, w_info.scales, y_info.scale, rounding=mode)
        y = np.clip(rq.multiply_by_quantized_multiplier(acc, m, e, rounding=mode)
                    + y_info.zero_point, -128, 127)
        counts[mode] = int(np.count_nonzero(y != want))
    return counts


@pytest.mark.tf
def test_rounding_modes() -> None:
    """TF 2.21's reference CONV_2D and DEPTHWISE_CONV_2D round twice (srdhm, then a rounding
    shift), its FULLY_CONNECTED rounds once: the named mode matches every output and the other
    one does not."""
    rng = np.random.default_rng(1)
    totals = {op: {rq.DOUBLE_ROUNDING: 0, rq.SINGLE_ROUNDING: 0}
              for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    # CONV_2D, 3x3 valid
    model, _ = single_op(lambda keras: keras.layers.Conv2D(
        8, 3, kernel_initializer=_init(keras, 1)[0], bias_initializer=_init(keras, 1)[1]),
        [(1, 10, 10, 6)], seed=1100)
    x_info, w_info, b_info = model.op_inputs
    w, b = model.tensor(w_info), model.tensor(b_info)
    for _ in range(40):
        x = random_int8(rng, x_info.shape)
        acc = _numpy_conv_acc(x, w, b, x_info.zero_point)
        for k, v in _mismatches(acc, model.run(x)[0], x_info, w_info,
                                model.op_outputs[0]).items():
            totals["CONV_2D"][k] += v
    # DEPTHWISE_CONV_2D, 3x3 valid
    model, _ = single_op(lambda keras: keras.layers.DepthwiseConv2D(
        3, depthwise_initializer=_init(keras, 2)[0], bias_initializer=_init(keras, 2)[1]),
        [(1, 10, 10, 16)], seed=1101)
    x_info, w_info, b_info = model.op_inputs
    w, b = model.tensor(w_info)[0].astype(np.int64), model.tensor(b_info).astype(np.int64)
    for _ in range(40):
        x = random_int8(rng, x_info.shape)
        xx = x[0].astype(np.int64) - x_info.zero_point
        acc = sum(xx[ky:ky + 8, kx:kx + 8, :] * w[ky, kx] for ky in range(3) for kx in range(3))
        for k, v in _mismatches(acc + b, model.run(x)[0], x_info, w_info,
                                model.op_outputs[0]).items():
            totals["DEPTHWISE_CONV_2D"][k] += v
    # FULLY_CONNECTED, 64 -> 32
    model, _ = single_op(lambda keras: keras.layers.Dense(
        32, kernel_initializer=_init(keras, 3)[0], bias_initializer=_init(keras, 3)[1]),
        [(1, 64)], seed=1102)
    x_info, w_info, b_info = model.op_inputs
    w, b = model.tensor(w_info).astype(np.int64), model.tensor(b_info).astype(np.int64)
    for _ in range(300):
        x = random_int8(rng, x_info.shape)
        acc = w @ (x[0].astype(np.int64) - x_info.zero_point) + b
        for k, v in _mismatches(acc, model.run(x)[0], x_info, w_info,
                                model.op_outputs[0]).items():
            totals["FULLY_CONNECTED"][k] += v
    for op, counts in totals.items():
        chosen = rq.ROUNDING_BY_OP[op]
        other = rq.SINGLE_ROUNDING if chosen == rq.DOUBLE_ROUNDING else rq.DOUBLE_ROUNDING
        assert counts[chosen] == 0, (op, counts)
        assert counts[other] > 0, (op, counts)


# ---------------------------------------------------------------------------------------------
# without TensorFlow: the C requantization helper, and s8_opt against s8_ref

def test_c_requantize_matches_numpy() -> None:
    """tm_requantize (through the stand-alone RELU kernel with a full clamp range) equals
    :func:`tinymodel.requantization.multiply_by_quantized_multiplier`."""
    rng = np.random.default_rng(5)
    x = np.arange(-128, 128, dtype=np.int8)
    for _ in range(300):
        m = int(rng.integers(1 << 30, (1 << 31) - 1))
        e = int(rng.integers(-12, 2))
        in_off = int(rng.integers(-127, 129))
        quant = QuantS8(in_off, 0, -128, 127, np.array([m], np.int32), np.array([e], np.int32))
        want = np.clip(rq.multiply_by_quantized_multiplier(x.astype(np.int64) + in_off, m, e),
                       -128, 127)
        np.testing.assert_array_equal(hk.relu(x, family="ref", quant=quant), want)


def test_c_requantize_fc_matches_numpy() -> None:
    """The dense kernels' single-rounding output stage (1 input feature, weight 1) equals the
    numpy single-rounding oracle."""
    rng = np.random.default_rng(6)
    x = np.arange(-128, 128, dtype=np.int8).reshape(-1, 1)
    for _ in range(300):
        m = int(rng.integers(1 << 30, (1 << 31) - 1))
        e = int(rng.integers(-12, 2))
        in_off = int(rng.integers(-127, 129))
        bias = np.array([int(rng.integers(-300, 300))], np.int32)
        quant = QuantS8(in_off, 0, -128, 127, np.array([m], np.int32), np.array([e], np.int32))
        want = np.clip(rq.multiply_by_quantized_multiplier(
            x.astype(np.int64) + in_off + int(bias[0]), m, e, rounding=rq.SINGLE_ROUNDING),
            -128, 127)
        for family in S8_FAMILIES:
            got = hk.fully_connected(x, np.ones((1, 1), np.int8), bias, family=family,
                                     quant=quant)
            np.testing.assert_array_equal(got, want)


def _random_quant(rng: np.random.Generator, channels: int, k_total: int) -> QuantS8:
    """Multipliers that map a typical accumulator (~ sqrt(K)·128·64) onto the int8 range."""
    per_channel = bool(rng.integers(0, 2)) or channels == 1
    n = channels if per_channel else 1
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=n).astype(np.int32)
    typical = max(1.0, np.sqrt(k_total) * 128 * 64)
    base = -int(np.ceil(np.log2(typical / 100.0)))
    shift = (base + rng.integers(-1, 2, size=n)).astype(np.int32)
    zp_out = int(rng.integers(-128, 128))
    lo = int(rng.integers(-128, 0)) if rng.random() < 0.3 else -128
    hi = int(rng.integers(0, 128)) if rng.random() < 0.3 else 127
    return QuantS8(int(rng.integers(-127, 129)), zp_out, lo, hi, mult, shift)


def _opt_symbols_present() -> bool:
    lib = hk.load_library()
    return all(hasattr(lib, n) for n in ("tm_conv2d_s8_opt", "tm_depthwise_conv2d_s8_opt",
                                         "tm_fully_connected_s8_opt"))


needs_opt = pytest.mark.skipif("not _opt_symbols_present()", reason="s8_opt kernels not built")


@needs_opt
def test_conv2d_opt_matches_ref_random() -> None:
    rng = np.random.default_rng(11)
    for trial in range(150):
        ic = int(rng.integers(1, 21))
        oc = int(rng.integers(1, 10))
        k = int(rng.choice([1, 1, 2, 3, 5]))
        s = int(rng.integers(1, 3))
        d = 1 if rng.random() < 0.8 else 2
        h, w = int(rng.integers(k * d, 11)), int(rng.integers(k * d, 11))
        pad = str(rng.choice(["same", "valid"]))
        x = random_int8(rng, (int(rng.integers(1, 3)), h, w, ic))
        wt = random_int8(rng, (oc, k, k, ic))
        b = rng.integers(-5000, 5000, size=oc).astype(np.int32) if rng.random() < 0.8 else None
        quant = _random_quant(rng, oc, k * k * ic)
        geo = {"strides": s, "padding": pad, "dilation": d}
        ref = hk.conv2d(x, wt, b, family="ref", quant=quant, **geo)
        msg = f"trial {trial}: x{x.shape} w{wt.shape} {geo}"
        np.testing.assert_array_equal(hk.conv2d(x, wt, b, family="opt", quant=quant, **geo), ref,
                                      err_msg=msg)
        np.testing.assert_array_equal(
            hk.conv2d_s8_path_kernel(KernelPath.CONV_IM2COL, x, wt, b, quant=quant, **geo), ref,
            err_msg=msg)


@needs_opt
def test_conv2d_1x1_path_domain() -> None:
    """The 1x1 fast path runs for 1x1 / stride 1 / no padding / ic % 4 == 0 and refuses the rest."""
    rng = np.random.default_rng(12)
    for ic in (4, 8, 12, 16, 20, 32, 36, 64):
        for oc in (1, 2, 3, 7):
            x = random_int8(rng, (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), ic))
            wt = random_int8(rng, (oc, 1, 1, ic))
            b = rng.integers(-5000, 5000, size=oc).astype(np.int32)
            quant = _random_quant(rng, oc, ic)
            assert hk.conv2d_s8_opt_path(x.shape, wt.shape) is KernelPath.CONV_1X1
            ref = hk.conv2d(x, wt, b, family="ref", quant=quant)
            np.testing.assert_array_equal(
                hk.conv2d_s8_path_kernel(KernelPath.CONV_1X1, x, wt, b, quant=quant), ref)
    x = random_int8(rng, (1, 4, 4, 6))
    wt = random_int8(rng, (3, 1, 1, 6))
    quant = _random_quant(rng, 3, 6)
    assert hk.conv2d_s8_opt_path(x.shape, wt.shape) is KernelPath.CONV_IM2COL
    with pytest.raises(hk.KernelError, match="UNSUPPORTED"):
        hk.conv2d_s8_path_kernel(KernelPath.CONV_1X1, x, wt, None, quant=quant)


@needs_opt
def test_depthwise_opt_matches_ref_random() -> None:
    rng = np.random.default_rng(13)
    for trial in range(150):
        ch = int(rng.integers(1, 20))
        mult = 1 if rng.random() < 0.8 else 2
        kh = int(rng.choice([1, 2, 3, 3, 3, 5]))
        kw = kh if rng.random() < 0.8 else int(rng.choice([1, 3]))
        s = int(rng.integers(1, 3))
        d = 1 if rng.random() < 0.85 else 2
        h, w = int(rng.integers(kh * d, 11)), int(rng.integers(kw * d, 11))
        pad = str(rng.choice(["same", "valid"]))
        x = random_int8(rng, (int(rng.integers(1, 3)), h, w, ch))
        wt = random_int8(rng, (1, kh, kw, ch * mult))
        b = rng.integers(-5000, 5000, size=ch * mult).astype(np.int32) \
            if rng.random() < 0.8 else None
        quant = _random_quant(rng, ch * mult, kh * kw)
        geo = {"strides": s, "padding": pad, "dilation": d, "depth_multiplier": mult}
        ref = hk.depthwise_conv2d(x, wt, b, family="ref", quant=quant, **geo)
        msg = f"trial {trial}: x{x.shape} w{wt.shape} {geo}"
        np.testing.assert_array_equal(
            hk.depthwise_conv2d(x, wt, b, family="opt", quant=quant, **geo), ref, err_msg=msg)
        if mult == 1:
            np.testing.assert_array_equal(
                hk.conv2d_s8_path_kernel(KernelPath.DW_GENERIC, x, wt, b, quant=quant, **geo),
                ref, err_msg=msg)


@needs_opt
def test_fully_connected_opt_matches_ref_random() -> None:
    rng = np.random.default_rng(14)
    for k in range(1, 70):
        for n in (1, 2, 3, 6):
            batches = int(rng.integers(1, 3))
            x = random_int8(rng, (batches, k))
            wt = random_int8(rng, (n, k))
            b = rng.integers(-5000, 5000, size=n).astype(np.int32) if k % 3 else None
            quant = _random_quant(rng, n, k)
            ref = hk.fully_connected(x, wt, b, family="ref", quant=quant)
            np.testing.assert_array_equal(
                hk.fully_connected(x, wt, b, family="opt", quant=quant), ref,
                err_msg=f"k={k} n={n}")


@needs_opt
def test_pool_and_add_opt_match_ref_random() -> None:
    rng = np.random.default_rng(15)
    for _ in range(60):
        c = int(rng.integers(1, 20))
        f = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        x = random_int8(rng, (int(rng.integers(1, 3)), int(rng.integers(3, 9)),
                              int(rng.integers(3, 9)), c))
        pad = str(rng.choice(["same", "valid"]))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, size=2))
        for fn in (hk.avg_pool2d, hk.max_pool2d):
            ref = fn(x, f, strides=s, padding=pad, family="ref", act_range=(lo, hi))
            opt = fn(x, f, strides=s, padding=pad, family="opt", act_range=(lo, hi))
            np.testing.assert_array_equal(opt, ref)
        params = rq.add_params(float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128)),
                               float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128)),
                               float(rng.uniform(0.01, 0.2)), int(rng.integers(-128, 128)))
        x2 = random_int8(rng, x.shape)
        np.testing.assert_array_equal(
            hk.add(x, x2, family="opt", params=params, act_range=(lo, hi)),
            hk.add(x, x2, family="ref", params=params, act_range=(lo, hi)))


def test_kernel_errors_are_reported() -> None:
    """Bad arguments come back as a status and raise KernelError; nothing crashes."""
    x = np.zeros((1, 4, 4, 3), np.int8)
    wt = np.zeros((2, 3, 3, 3), np.int8)
    bad_clamp = QuantS8(0, 0, 10, -10, np.array([1 << 30], np.int32), np.array([0], np.int32))
    with pytest.raises(hk.KernelError, match="ERR_PARAM"):
        hk.conv2d(x, wt, None, family="ref", quant=bad_clamp)
    bad_shift = QuantS8(0, 0, -128, 127, np.array([1 << 30], np.int32), np.array([40], np.int32))
    with pytest.raises(hk.KernelError, match="ERR_PARAM"):
        hk.fully_connected(x.reshape(1, -1), np.zeros((2, 48), np.int8), None, family="ref",
                           quant=bad_shift)
    with pytest.raises(hk.KernelError, match="multipliers"):
        hk.conv2d(x, wt, None, family="ref",
                  quant=QuantS8(0, 0, -128, 127, np.ones(3, np.int32), np.zeros(3, np.int32)))
