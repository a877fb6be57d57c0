"""Oracle tests for tinymodel.requantization: every expected integer is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinymodel import requantization as rq
from tinymodel.errors import TinymodelError
from tinymodel.ops import Activation


@pytest.mark.parametrize("real, expected", [
    (0.0, (0, 0)),
    (0.5, (1 << 30, 0)),             # frexp(0.5) = (0.5, 0); 0.5·2^31 = 2^30
    (1.0, (1 << 30, 1)),             # frexp(1) = (0.5, 1)
    (0.25, (1 << 30, -1)),
    (0.75, (1610612736, 0)),         # 0.75·2^31
    (3.0, (1610612736, 2)),          # 3 = 0.75·2^2
    (0.1, (1717986918, -3)),         # 0.1 = 0.8·2^-3; 0.8·2^31 = 1717986918.4 -> 1717986918
    (2.0 ** -31, (1 << 30, -30)),    # still representable
    (2.0 ** -33, (0, 0)),            # frexp exponent -32 < -31: flushed to zero
])
def test_quantize_multiplier_values(real, expected):
    assert rq.quantize_multiplier(real) == expected


def test_quantize_multiplier_rounds_up_to_next_power():
    # q = 1 - 2^-40 rounds to 2^31 in 31 bits: halved to 2^30 and the exponent bumped.
    assert rq.quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)
    # Round half away from zero at the 31st bit: q·2^31 = 2^30 + 0.5 -> 2^30 + 1.
    real = (2.0 ** 30 + 0.5) / 2.0 ** 31
    assert rq.quantize_multiplier(real) == ((1 << 30) + 1, 0)


def test_quantize_multiplier_single_rounding_saturates_large_shift():
    big = 2.0 ** 40
    assert rq.quantize_multiplier(big) == (1 << 30, 41)
    assert rq.quantize_multiplier(big, rounding=rq.SINGLE_ROUNDING) == ((1 << 31) - 1, 30)


def test_quantize_multiplier_reconstructs():
    rng = np.random.default_rng(0)
    for real in rng.uniform(1e-6, 10.0, size=500):
        m, e = rq.quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert math.isclose(m * 2.0 ** (e - 31), real, rel_tol=2.0 ** -30)


def test_quantize_multiplier_rejects_bad_input():
    with pytest.raises(TinymodelError):
        rq.quantize_multiplier(float("inf"))
    with pytest.raises(TinymodelError):
        rq.quantize_multiplier_smaller_than_one(1.5)
    with pytest.raises(TinymodelError):
        rq.quantize_multiplier_greater_than_one(0.5)
    with pytest.raises(TinymodelError):
        rq.quantize_multiplier(0.5, rounding="triple")


def test_conv_multipliers_per_channel():
    # M_c = 0.5 · s_w[c] / 0.25 = 2·s_w[c]: s_w = 0.25 -> 0.5, 0.125 -> 0.25, 0.375 -> 0.75
    mult, shift = rq.conv_multipliers(0.5, [0.25, 0.125, 0.375], 0.25)
    assert mult.tolist() == [1 << 30, 1 << 30, 1610612736]
    assert shift.tolist() == [0, -1, 0]
    assert mult.dtype == np.int32 and shift.dtype == np.int32


@pytest.mark.parametrize("a, b, expected", [
    (1 << 30, 1 << 30, 1 << 29),             # 2·2^60 / 2^32
    (-(1 << 31), -(1 << 31), (1 << 31) - 1),  # the one overflow: saturates
    (-1, 1 << 30, 0),                         # -2^30 + (1 - 2^30) = 1 - 2^31 -> trunc 0
    (1, 1 << 30, 1),                          # (2^30 + 2^30) / 2^31 = 1
    (3, 1 << 30, 2),                          # 1.5 -> 2
    (-3, 1 << 30, -1),                        # -1.5 -> -1: halves round toward +inf
    (5, -(1 << 31), -5),                      # -5·2^31·2 / 2^32 = -5 exactly
])
def test_srdhm(a, b, expected):
    assert int(rq.saturating_rounding_doubling_high_mul(a, b)) == expected


@pytest.mark.parametrize("x, n, expected", [
    (5, 1, 3), (-5, 1, -3), (3, 1, 2), (-3, 1, -2), (4, 1, 2), (1, 1, 1), (-1, 1, -1),
    (7, 2, 2), (-7, 2, -2), (6, 2, 2), (-6, 2, -2), (100, 0, 100), (-(1 << 31), 31, -1),
])
def test_rounding_divide_by_pot(x, n, expected):
    assert int(rq.rounding_divide_by_pot(x, n)) == expected


def test_multiply_by_quantized_multiplier_modes():
    # M = 0.5 = (2^30, 0).  Halves round up (toward +inf) in srdhm: 1.5 -> 2, -1.5 -> -1.
    for mode in (rq.DOUBLE_ROUNDING, rq.SINGLE_ROUNDING):
        assert rq.multiply_by_quantized_multiplier([3, -3, 100], 1 << 30, 0,
                                                   rounding=mode).tolist() == [2, -1, 50]
    # M = 2 = (2^30, 2): the left shift is applied before the multiply.
    assert int(rq.multiply_by_quantized_multiplier(7, 1 << 30, 2)) == 14
    # The double-rounding artefact: x = 1, m = 0.75·2^31 + 1, e = -1, exact value 0.375 + tiny.
    # double: srdhm(1, m) = round(0.75 + tiny) = 1, then 1 / 2 = 0.5 rounds away from zero -> 1;
    # single: floor(0.375 + tiny + 0.5) = 0.
    m = 1610612737
    assert int(rq.multiply_by_quantized_multiplier(1, m, -1)) == 1
    assert int(rq.multiply_by_quantized_multiplier(1, m, -1, rounding=rq.SINGLE_ROUNDING)) == 0
    # x = 2, m = 0.75·2^31 - 1, e = -1: exact 0.75 - tiny; both modes give 1.
    m = 1610612735
    for mode in (rq.DOUBLE_ROUNDING, rq.SINGLE_ROUNDING):
        assert int(rq.multiply_by_quantized_multiplier(2, m, -1, rounding=mode)) == 1


@pytest.mark.parametrize("act, scale, zp, expected", [
    (Activation.NONE, 0.1, 3, (-128, 127)),
    (Activation.RELU, 0.1, -128, (-128, 127)),
    (Activation.RELU, 0.1, -5, (-5, 127)),
    (Activation.RELU6, 0.05, -128, (-128, -8)),       # 6 / 0.05 = 120 -> -128 + 120
    (Activation.RELU6, 0.02, -128, (-128, 127)),      # 300 -> clamped
    (Activation.RELU_N1_TO_1, 0.01, 0, (-100, 100)),
    ("relu6", 0.1, 0, (0, 60)),
])
def test_activation_range(act, scale, zp, expected):
    assert rq.activation_range(act, scale, zp) == expected


def test_quantize_value_rounds_half_away():
    assert rq.quantize_value(0.25, 0.5, 0) == 1    # 0.5 -> 1
    assert rq.quantize_value(-0.25, 0.5, 0) == -1  # -0.5 -> -1
    assert rq.quantize_value(0.74, 0.5, 10) == 11


def test_add_params():
    # s1 = 0.1, s2 = 0.2: twice_max = 0.4; M1 = 0.25, M2 = 0.5; M_out = 0.4 / (2^20 · 0.5)
    p = rq.add_params(0.1, 3, 0.2, -4, 0.5, 7)
    assert (p.input1_offset, p.input2_offset, p.output_offset, p.left_shift) == (-3, 4, 7, 20)
    assert (p.input1_multiplier, p.input1_shift) == rq.quantize_multiplier(
        float(np.float32(0.1)) / (2 * float(np.float32(0.2))))
    assert (p.input2_multiplier, p.input2_shift) == (1 << 30, 0)
    m, e = p.output_multiplier, p.output_shift
    assert math.isclose(m * 2.0 ** (e - 31), 2 * float(np.float32(0.2)) / (2 ** 20 * 0.5),
                        rel_tol=1e-9)


def test_softmax_params():
    # beta·s·2^26 = 2^-4·2^26 = 2^22 = 0.5·2^23: m = 2^30, e = 23;
    # radius = floor(31·2^26 / 2^23) = 248
    p = rq.softmax_params(1.0, 2.0 ** -4)
    assert p == rq.SoftmaxParams(input_multiplier=1 << 30, input_left_shift=23, diff_min=-248)
    # huge scales clamp the real multiplier at 2^31 - 1 = (1 - 2^-31)·2^31: m = 2^31 - 1, e = 31
    big = rq.softmax_params(1.0, 1000.0)
    assert (big.input_multiplier, big.input_left_shift) == ((1 << 31) - 1, 31)


def test_logistic_params_follow_tflite_micro_prepare():
    # s_in = float32(0.05): r = s_in * 2^27 = 0.80000001 * 2^23, m = round(0.80000001 * 2^31)
    p = rq.logistic_params(0.05, 3)
    assert (p.input_offset, p.input_multiplier, p.input_left_shift) == (-3, 1717986944, 23)
    assert p.input_range_radius == (15 << 27) >> 23 == 240
    with pytest.raises(TinymodelError, match="outside int32 / shifts 0..31"):
        rq.logistic_params(2.0 ** -30, 0)    # e < 0
    with pytest.raises(TinymodelError, match="positive"):
        rq.logistic_params(0.0, 0)


def test_hard_swish_params():
    # hires = s_in/128; output (s_in/128)/s_out = 0.0097656 = 0.625 * 2^-6 -> m32 = 0.625 * 2^31,
    # m16 = m32 / 2^16 = 20480; reluish (s_in/128)/(3/32768) = 4.2667 = 0.5333 * 2^3 -> 17476
    p = rq.hard_swish_params(0.05, 3, 0.04, -9)
    assert p == rq.HardSwishParams(input_offset=-3, output_offset=-9, output_multiplier=20480,
                                   output_shift=-6, reluish_multiplier=17476, reluish_shift=3)


def test_leaky_relu_and_prelu_params_use_float32_ratios():
    # s_in * alpha / s_out in float32 is 0.25000003 (binary64 of the same float32 scales gives
    # 0.25000002): TFLite's LeakyReluPrepare computes in float, so the multiplier is 2^30 + 128
    p = rq.leaky_relu_params(0.05, 3, 0.2, 0.04, -9)
    assert (p.identity_multiplier, p.identity_shift) == (1 << 30 | 1 << 28, 1)   # 1.25
    assert (p.alpha_multiplier, p.alpha_shift) == ((1 << 30) + 128, -1)
    assert rq.leaky_relu_params(0.05, 0, -0.5, 0.05, 0).alpha_multiplier == -(1 << 30)
    q = rq.prelu_params(0.05, 3, 0.002, -1, 0.04, -9)
    assert (q.input_offset, q.alpha_offset, q.output_offset) == (-3, 1, -9)
    assert (q.alpha_multiplier, q.alpha_shift) == (1374389632, -8)     # 0.0025 in float32


def test_softmax_params_refuse_what_tflite_refuses():
    """``beta · s_in · 2^26`` must be above 1 (QuantizeMultiplierGreaterThanOne): at 2e-8 it is
    1.34 and TFLite runs the model; at 2^-26 (exactly 1) and below, TFLite aborts."""
    ok = rq.softmax_params(1.0, 2e-8)
    assert ok.input_left_shift == 1 and ok.input_multiplier > 1 << 30   # 1.34 = 0.67 · 2^1
    for beta, s_in in ((1.0, 2.0 ** -26), (1.0, 1.4e-8), (1.0, 7.8e-9), (0.5, 2e-8)):
        with pytest.raises(TinymodelError, match=r"not above 1: TFLite's PreprocessSoftmaxScaling"):
            rq.softmax_params(beta, s_in)


def test_batch_matmul_multiplier_rounds_the_scale_product_to_float32():
    # s_l·s_r in float32 is 4.3640135118039325e-05 (binary64: 4.364013606391378e-05); divided by
    # the float32 output scale 0.019999999552965164 that is 0.55859...·2^-8, i.e. 1199570927·2^-39;
    # the binary64 product of CONV_2D's rule gives 1199570953 (26 apart)
    s_l, s_r, s_o = 0.0078125 * 1.1, 0.00390625 * 1.3, 0.02
    assert rq.batch_matmul_multiplier(s_l, s_r, s_o) == (1199570927, -8)
    m, e = rq.conv_multipliers(s_l, [s_r], s_o)
    assert (int(m[0]), int(e[0])) == (1199570953, -8)
    with pytest.raises(TinymodelError, match="output scale"):
        rq.batch_matmul_multiplier(0.1, 0.1, 0.0)
def test_mul_params_use_tflites_float32_ratio():
    """TFLite's mul.cc: s1·s2/s_out in float32, then QuantizeMultiplier (the shift may be > 0)."""
    from tinymodel import requantization as rq

    p = rq.mul_params(0.06405920535326004, -3, 0.027708884328603745, 7, 0.005056378897279501, 11)
    assert (p.input1_offset, p.input2_offset, p.output_offset) == (3, -7, 11)
    assert (p.output_multiplier, p.output_shift) == (1507720448, -1)     # binary64: 1507720493
    big = rq.mul_params(0.5, 0, 0.5, 0, 0.01, 0)                         # M = 25 = 0.78 · 2^5
    assert big.output_shift == 5


def test_sub_params_are_adds():
    from tinymodel import requantization as rq

    args = (0.02, 3, 0.05, -7, 0.04, 11)
    assert rq.sub_params(*args) == rq.add_params(*args)
