"""TFLite's integer requantization arithmetic, host side, in pure numpy.

An int8 layer computes an int32 accumulator ``acc`` and must turn it into an int8 output
``q_out = clamp(zp_out + acc · M)`` where ``M = s_in·s_w / s_out`` is a real number.  TFLite (and
the firmware kernels under ``firmware/``) never multiply by ``M`` in floating point at run time:
``M`` is converted once, on the host, into a 32-bit fixed-point *quantized multiplier* ``m`` and a
power-of-two *shift* ``e`` with

    M ≈ m · 2^(e - 31),      2^30 ≤ m < 2^31   (so m / 2^31 ∈ [0.5, 1))

and the kernels evaluate ``acc · M`` with integer operations only.  This module holds

* the host-side conversions from float scales to ``(m, e)`` — :func:`quantize_multiplier` and the
  per-operator parameter builders (:func:`conv_multipliers`, :func:`add_params`,
  :func:`softmax_params`, ...), written to give the same integers as TFLite's kernels compute in
  their ``Prepare`` step (double-precision arithmetic in the same order);
* vectorised numpy versions of the run-time integer primitives
  (:func:`saturating_rounding_doubling_high_mul`, :func:`rounding_divide_by_pot`,
  :func:`multiply_by_quantized_multiplier`) that serve as oracles for the C helpers in
  ``firmware/include/tm_requant.h``.

Nothing here imports TensorFlow.  The module is reused by the firmware code generator, which writes
the integers computed here into C tables.

Rounding mode
-------------
TFLite has two variants of ``MultiplyByQuantizedMultiplier`` (build flag ``TFLITE_SINGLE_ROUNDING``):

* **double rounding** (:data:`DOUBLE_ROUNDING`):
  ``rounding_divide_by_pot(srdhm(acc · 2^max(e,0), m), max(-e, 0))`` — two roundings;
* **single rounding** (:data:`SINGLE_ROUNDING`): ``(acc·m + 2^(30-e)) >> (31 - e)`` — one rounding
  (and ``e`` saturated to ≤ 30 on the host).

The TensorFlow 2.21 Python interpreter (``tf.lite.Interpreter`` with the ``BUILTIN_REF`` resolver)
uses **double rounding for CONV_2D and DEPTHWISE_CONV_2D but single rounding for
FULLY_CONNECTED** (per-tensor and per-channel weights alike).  This was established by experiment
(``tests/firmware/test_kernels_s8.py::test_rounding_modes``): over thousands of outputs the other
mode mismatches a few per mille of them, the chosen one none.  ADD and RELU could not be told apart
(their left shifts make both modes agree) and use double rounding.  :data:`ROUNDING_BY_OP` records
this; double rounding is the default of every function here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinymodel.errors import TinymodelError
from tinymodel.ops import Activation

#: Mode names accepted by :func:`multiply_by_quantized_multiplier`.
DOUBLE_ROUNDING = "double"
SINGLE_ROUNDING = "single"

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

#: Rounding mode of each int8 operator's output stage in TF 2.21's reference kernels (measured).
ROUNDING_BY_OP: dict[str, str] = {
    "CONV_2D": DOUBLE_ROUNDING,
    "DEPTHWISE_CONV_2D": DOUBLE_ROUNDING,
    "FULLY_CONNECTED": SINGLE_ROUNDING,
    "ADD": DOUBLE_ROUNDING,
    "RELU": DOUBLE_ROUNDING,
    "RELU6": DOUBLE_ROUNDING,
}

#: The ADD kernel's fixed pre-shift: inputs are scaled by ``2^20`` before requantization (int8/uint8).
ADD_LEFT_SHIFT = 20

#: Integer bits of the scaled input differences in the int8 softmax (Q5.26 fixed point).
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5

#: Integer bits of the softmax's sum of exponentials (Q12.19 fixed point).
SOFTMAX_ACCUMULATION_INTEGER_BITS = 12


# -- host side: float multiplier -> (quantized multiplier, shift) ------------------------------

def quantize_multiplier(real_multiplier: float, *, rounding: str = DOUBLE_ROUNDING
                        ) -> tuple[int, int]:
    """Split a real multiplier ``M`` into ``(m, e)`` with ``M ≈ m · 2^(e-31)``.

    TFLite's ``QuantizeMultiplier``:

    1. ``M == 0`` → ``(0, 0)``.
    2. ``q, e = frexp(M)`` so that ``M = q · 2^e`` with ``0.5 ≤ |q| < 1``;
    3. ``m = round_half_away_from_zero(q · 2^31)`` (31-bit rounding);
    4. if ``m == 2^31`` (``q`` rounded up to 1): ``m = 2^30``, ``e += 1``;
    5. if ``e < -31``: ``(m, e) = (0, 0)`` (multipliers below ≈ 2^-32 flush to zero);
    6. single-rounding builds only: if ``e > 30``: ``(m, e) = (2^31 - 1, 30)``.

    ``e`` is a *left* shift when positive and a right shift when negative (TFLite's convention).
    The arithmetic is done in binary64, as TFLite does.
    """
    m_real = float(real_multiplier)
    if m_real == 0.0:
        return 0, 0
    if not math.isfinite(m_real):
        raise TinymodelError(f"quantize_multiplier: multiplier {real_multiplier!r} is not finite")
    q, e = math.frexp(m_real)
    scaled = q * float(1 << 31)
    q_fixed = math.floor(abs(scaled) + 0.5) * (1 if scaled >= 0 else -1)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        e += 1
    if e < -31:
        e = 0
        q_fixed = 0
    if rounding == SINGLE_ROUNDING and e > 30:
        e = 30
        q_fixed = (1 << 31) - 1
    elif rounding not in (DOUBLE_ROUNDING, SINGLE_ROUNDING):
        raise TinymodelError(f"unknown rounding mode {rounding!r}; use 'double' or 'single'")
    return int(q_fixed), int(e)


def quantize_multiplier_smaller_than_one(real_multiplier: float, *,
                                         rounding: str = DOUBLE_ROUNDING) -> tuple[int, int]:
    """:func:`quantize_multiplier` for ``0 ≤ M < 1`` (``e ≤ 0``); TFLite's ``...SmallerThanOneExp``."""
    if not 0.0 <= real_multiplier < 1.0:
        raise TinymodelError(f"multiplier {real_multiplier!r} must lie in [0, 1)")
    m, e = quantize_multiplier(real_multiplier, rounding=rounding)
    if e > 0:  # pragma: no cover - impossible for M < 1
        raise TinymodelError(f"multiplier {real_multiplier!r} gave a left shift {e}")
    return m, e


def quantize_multiplier_greater_than_one(real_multiplier: float, *,
                                         rounding: str = DOUBLE_ROUNDING) -> tuple[int, int]:
    """:func:`quantize_multiplier` for ``M > 1`` (``e ≥ 0``); TFLite's ``...GreaterThanOne``."""
    if not real_multiplier > 1.0:
        raise TinymodelError(f"multiplier {real_multiplier!r} must be > 1")
    m, e = quantize_multiplier(real_multiplier, rounding=rounding)
    if e < 0:  # pragma: no cover - impossible for M > 1
        raise TinymodelError(f"multiplier {real_multiplier!r} gave a right shift {e}")
    return m, e


def quantize_multipliers(real_multipliers: Sequence[float] | np.ndarray, *,
                         rounding: str = DOUBLE_ROUNDING) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over a vector; returns ``(multipliers, shifts)`` as int32."""
    pairs = [quantize_multiplier(float(x), rounding=rounding)
             for x in np.asarray(real_multipliers, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


# -- host side: per-operator parameters -------------------------------------------------------

def conv_multipliers(input_scale: float, filter_scales: Sequence[float] | np.ndarray,
                     output_scale: float, *, rounding: str = DOUBLE_ROUNDING
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(m, e)`` of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.

    ``M_c = (s_in · s_w[c]) / s_out`` evaluated in binary64 with the scales first widened from
    float32, product first and quotient second, as TFLite's ``PopulateConvolutionQuantizationParams``
    does; a per-tensor filter scale gives a length-1 vector.
    """
    s_in = float(np.float32(input_scale))
    s_out = float(np.float32(output_scale))
    s_w = np.asarray(filter_scales, dtype=np.float32).astype(np.float64).ravel()
    if s_out <= 0.0:
        raise TinymodelError(f"output scale {output_scale!r} must be positive")
    reals = [(s_in * float(w)) / s_out for w in s_w]
    return quantize_multipliers(reals, rounding=rounding)


def requantize_multiplier(input_scale: float, output_scale: float, *,
                          rounding: str = DOUBLE_ROUNDING) -> tuple[int, int]:
    """``(m, e)`` of a pure rescale ``M = s_in / s_out`` (quantized RELU / RELU6, QUANTIZE)."""
    return quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)),
                               rounding=rounding)


def batch_matmul_multiplier(lhs_scale: float, rhs_scale: float, output_scale: float, *,
                            rounding: str = DOUBLE_ROUNDING) -> tuple[int, int]:
    """``(m, e)`` of the int8 BATCH_MATMUL: ``M = (float32)(s_lhs · s_rhs) / s_out``.

    The product of the two input scales is formed in **float32** and only then widened to
    binary64 for the quotient (TFLite's ``GetQuantizedConvolutionMultipler`` as BATCH_MATMUL's
    Prepare calls it; unlike :func:`conv_multipliers`, whose product is binary64).
    """
    s_out = float(np.float32(output_scale))
    if s_out <= 0.0:
        raise TinymodelError(f"output scale {output_scale!r} must be positive")
    product = float(np.float32(np.float32(lhs_scale) * np.float32(rhs_scale)))
    return quantize_multiplier(product / s_out, rounding=rounding)


def mean_multiplier(input_scale: float, output_scale: float, num_elements: int, *,
                    rounding: str = DOUBLE_ROUNDING) -> tuple[int, int]:
    """``(m, e)`` of the int8 MEAN over ``num_elements`` values, as TFLite computes it.

    TFLite's int8 MEAN does not quantize ``s_in / (s_out · n)`` directly.  ``Prepare`` quantizes
    the rescale ``s_in / s_out`` to ``(m0, e0)`` (binary64, :func:`requantize_multiplier`), and
    the kernel then folds ``1/n`` into that multiplier with integer arithmetic:

    * ``k = min(floor(log2 n), 32, 31 + e0)``;
    * ``m = floor(m0 · 2^k / n)`` (64-bit integer division), ``e = e0 - k``,

    and every output is ``clamp(zp_out + mul(Σ(x - zp_in), m, e), -128, 127)`` with
    :func:`multiply_by_quantized_multiplier`.  ``m`` is truncated and not normalised
    (``m < 2^30`` in general), so the result differs by one from quantizing ``s_in / (s_out · n)``
    for many ``n`` that are not powers of two.  The same arithmetic is used for ``keep_dims`` true
    and false and for equal or different input and output quantization.

    Source: ``reference_ops::QuantizedMeanOrSum`` in TensorFlow Lite's
    ``tensorflow/lite/kernels/internal/reference/reduce.h``; checked bit for bit against the TF 2.21
    interpreter by ``tests/firmware/test_mean_s8.py``.
    """
    n = int(num_elements)
    if n < 1:
        raise TinymodelError(f"MEAN over {num_elements!r} elements: need at least one")
    m0, e0 = requantize_multiplier(input_scale, output_scale, rounding=rounding)
    k = min(n.bit_length() - 1, 32, 31 + e0)
    return (m0 << k) // n, e0 - k


def quantize_value(value: float, scale: float, zero_point: int) -> int:
    """``zp + round_half_away(value / scale)``, the division in float32 (TFLite's activation bounds)."""
    q = np.float32(value) / np.float32(scale)
    rounded = math.floor(abs(float(q)) + 0.5) * (1 if q >= 0 else -1)
    return int(zero_point) + int(rounded)


def activation_range(activation: Activation | str | None, scale: float, zero_point: int,
                     *, qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """Quantized ``(act_min, act_max)`` of a fused activation (TFLite's
    ``CalculateActivationRangeQuantized``).

    * none: ``(qmin, qmax)``;
    * RELU: ``(max(qmin, q(0)), qmax)``;
    * RELU6: ``(max(qmin, q(0)), min(qmax, q(6)))``;
    * RELU_N1_TO_1: ``(max(qmin, q(-1)), min(qmax, q(1)))``,

    with ``q(x) = zp + round(x / scale)`` (:func:`quantize_value`).
    """
    act = Activation(activation) if isinstance(activation, str) else activation
    if act is None or act is Activation.NONE:
        return qmin, qmax
    if act is Activation.RELU:
        return max(qmin, quantize_value(0.0, scale, zero_point)), qmax
    if act is Activation.RELU6:
        return (max(qmin, quantize_value(0.0, scale, zero_point)),
                min(qmax, quantize_value(6.0, scale, zero_point)))
    if act is Activation.RELU_N1_TO_1:
        return (max(qmin, quantize_value(-1.0, scale, zero_point)),
                min(qmax, quantize_value(1.0, scale, zero_point)))
    raise TinymodelError(f"fused activation {act.value!r} has no int8 clamp range")


@dataclass(frozen=True)
class AddParams:
    """Integer parameters of the int8 ADD kernel (residual connections).

    With ``s = 2·max(s1, s2)`` and ``left_shift = 20``:
    ``M1 = s1 / s``, ``M2 = s2 / s`` (both ≤ 0.5) and ``M_out = s / (2^20 · s_out)``; each is split by
    :func:`quantize_multiplier_smaller_than_one`.  Per element:
    ``y = zp_out + mul(mul((x1 - zp1)·2^20, M1) + mul((x2 - zp2)·2^20, M2), M_out)``.
    """

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int


def add_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
               input2_zero_point: int, output_scale: float, output_zero_point: int,
               *, rounding: str = DOUBLE_ROUNDING) -> AddParams:
    """Build :class:`AddParams` as TFLite's ADD ``Prepare`` does for int8 (binary64 arithmetic)."""
    s1 = float(np.float32(input1_scale))
    s2 = float(np.float32(input2_scale))
    so = float(np.float32(output_scale))
    twice_max = 2.0 * max(s1, s2)
    m1, e1 = quantize_multiplier_smaller_than_one(s1 / twice_max, rounding=rounding)
    m2, e2 = quantize_multiplier_smaller_than_one(s2 / twice_max, rounding=rounding)
    mo, eo = quantize_multiplier_smaller_than_one(
        twice_max / (float(1 << ADD_LEFT_SHIFT) * so), rounding=rounding)
    return AddParams(input1_offset=-int(input1_zero_point), input2_offset=-int(input2_zero_point),
                     output_offset=int(output_zero_point), left_shift=ADD_LEFT_SHIFT,
                     input1_multiplier=m1, input1_shift=e1, input2_multiplier=m2,
                     input2_shift=e2, output_multiplier=mo, output_shift=eo)


def sub_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
               input2_zero_point: int, output_scale: float, output_zero_point: int,
               *, rounding: str = DOUBLE_ROUNDING) -> AddParams:
    """The int8 SUB's parameters: ADD's (:func:`add_params`), as TFLite's ``sub.cc``
    (``PrepareGeneralSubOp``) computes them in binary64; the kernel subtracts the two rescaled
    inputs instead of adding them.  (TFLite Micro computes the three ratios in float32, which
    changes a few outputs in millions; the firmware matches TFLite.)"""
    return add_params(input1_scale, input1_zero_point, input2_scale, input2_zero_point,
                      output_scale, output_zero_point, rounding=rounding)


@dataclass(frozen=True)
class MulParams:
    """Integer parameters of the int8 MUL kernel.

    ``M = s1 · s2 / s_out`` split by :func:`quantize_multiplier` (the shift may be positive); per
    element ``y = zp_out + mul((x1 - zp1)·(x2 - zp2), M)``, clamped to the activation range.
    """

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int


def mul_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
               input2_zero_point: int, output_scale: float, output_zero_point: int,
               *, rounding: str = DOUBLE_ROUNDING) -> MulParams:
    """Build :class:`MulParams` as TFLite's ``mul.cc`` ``Prepare`` does for int8: the real
    multiplier ``s1 · s2 / s_out`` is computed in **float32** (each operation rounded to float32)
    and then widened to binary64 for ``QuantizeMultiplier`` (TFLite Micro computes it in double,
    which differs in a few outputs; the firmware matches TFLite's reference kernels)."""
    s1, s2, so = (np.float32(v) for v in (input1_scale, input2_scale, output_scale))
    with np.errstate(all="ignore"):
        real = np.float32(np.float32(s1 * s2) / so)
    m, e = quantize_multiplier(float(real), rounding=rounding)
    return MulParams(input1_offset=-int(input1_zero_point), input2_offset=-int(input2_zero_point),
                     output_offset=int(output_zero_point), output_multiplier=m, output_shift=e)


@dataclass(frozen=True)
class SoftmaxParams:
    """Integer parameters of the int8 softmax (fixed-point exp, TFLite's reference algorithm).

    ``input_multiplier``/``input_left_shift`` rescale ``x - max(x)`` (an int in [-255, 0]) into
    Q5.26; differences below ``diff_min`` contribute exactly zero.
    """

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(beta: float, input_scale: float, *, rounding: str = DOUBLE_ROUNDING
                   ) -> SoftmaxParams:
    """TFLite's ``PreprocessSoftmaxScaling`` and ``CalculateInputRadius`` with 5 integer bits.

    ``M = min(beta · s_in · 2^(31-5), 2^31 - 1)`` split with
    :func:`quantize_multiplier_greater_than_one` into ``(m, e ≥ 0)``;
    ``radius = floor((2^5 - 1) · 2^(31-5) / 2^e)``; ``diff_min = -radius``.

    ``M ≤ 1`` (``s_in ≤ 1.49e-8`` for ``beta = 1``, e.g. an untrained network's logits) is a
    one-line :class:`TinymodelError` naming TFLite's rule: ``QuantizeMultiplierGreaterThanOne``
    checks ``M > 1`` and aborts, so TFLite's reference kernels (``BUILTIN_REF``, the golden the
    firmware is verified against) and TFLite Micro do not run such a model at all (checked with
    the TF 2.21 interpreter: SIGABRT in ``allocate_tensors``); only TFLite's optimized float
    look-up-table kernel runs it (``docs/reliability.md``).
    """
    ib = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    real = min(float(beta) * float(np.float32(input_scale)) * float(1 << (31 - ib)),
               float((1 << 31) - 1))
    if not real > 1.0:
        raise TinymodelError(
            f"beta * input scale * 2^26 = {beta:g} * {float(np.float32(input_scale)):.3g} * 2^26 "
            f"= {real:.3g} is not above 1: TFLite's PreprocessSoftmaxScaling "
            f"(QuantizeMultiplierGreaterThanOne) rejects it and TFLite's reference kernels abort "
            f"on the model; retrain or recalibrate so the softmax input range is wider")
    m, e = quantize_multiplier_greater_than_one(real, rounding=rounding)
    radius = math.floor(((1 << ib) - 1) * float(1 << (31 - ib)) / float(1 << e))
    return SoftmaxParams(input_multiplier=m, input_left_shift=e, diff_min=-int(radius))


#: Integer bits of the rescaled input of the int8 LOGISTIC and TANH (Q4.27 fixed point).
LOGISTIC_INPUT_INTEGER_BITS = 4

#: Fixed int8 output quantization (scale, zero point) the converter gives LOGISTIC and TANH and
#: the kernels assume (TFLite's ``GetFixedOutputRange``).
LOGISTIC_OUTPUT_QUANTIZATION = (1.0 / 256.0, -128)
TANH_OUTPUT_QUANTIZATION = (1.0 / 128.0, 0)


@dataclass(frozen=True)
class LogisticParams:
    """Integer parameters of the int8 LOGISTIC and TANH (TFLite Micro's fixed-point algorithm).

    ``x = q + input_offset`` is rescaled by ``input_multiplier · 2^(input_left_shift - 31)`` into
    Q4.27; ``|x| ≥ input_range_radius`` saturates the output.
    """

    input_offset: int
    input_multiplier: int
    input_left_shift: int

    @property
    def input_range_radius(self) -> int:
        """``CalculateInputRadius(4, e) = floor(15 · 2^27 / 2^e)`` (the kernel computes it)."""
        return (15 << 27) >> self.input_left_shift


def logistic_params(input_scale: float, input_zero_point: int) -> LogisticParams:
    """TFLite Micro's LOGISTIC / TANH ``Prepare`` for int8 (reference §7(a)).

    ``r = s_in · 2^27``; ``(f, e) = frexp(r)``; ``m = round_half_away(f · 2^31)`` — unlike
    :func:`quantize_multiplier` without renormalising, so ``m = 2^31`` (an ``f`` within 2^-32 of
    1) has no int32 form and is refused, as is ``e < 0`` (``s_in < 2^-28``) and ``e > 31``.
    """
    s_in = float(np.float32(input_scale))
    if not (math.isfinite(s_in) and s_in > 0.0):
        raise TinymodelError(f"input scale {input_scale!r} must be a positive number")
    f, e = math.frexp(s_in * float(1 << (31 - LOGISTIC_INPUT_INTEGER_BITS)))
    m = math.floor(f * float(1 << 31) + 0.5)
    if m >= 1 << 31 or not 0 <= e <= 31:
        raise TinymodelError(f"input scale {s_in!r} gives the fixed-point multiplier ({m}, {e}), "
                             f"outside int32 / shifts 0..31")
    return LogisticParams(input_offset=-int(input_zero_point), input_multiplier=int(m),
                          input_left_shift=int(e))


def _int16_multiplier(m32: int) -> int:
    """TFLite's ``DownScaleInt32ToInt16Multiplier``: ``(m + 2^15) >> 16``, 32767 at the top."""
    return 32767 if m32 >= (1 << 31) - 1 - (1 << 15) else (m32 + (1 << 15)) >> 16


@dataclass(frozen=True)
class HardSwishParams:
    """Integer parameters of the int8 HARD_SWISH (TFLite's int16 fixed-point reference kernel):
    int16 multipliers with exponents of ``(s_in/128) / s_out`` (the output) and of
    ``(s_in/128) / (3/32768)`` (the "reluish" rescale onto relu6(x + 3)/6)."""

    input_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    reluish_multiplier: int
    reluish_shift: int


def hard_swish_params(input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int) -> HardSwishParams:
    """TFLite's ``HardSwishPrepare`` (reference §9(a)): the ratios in float32, each split by
    :func:`quantize_multiplier` and reduced to int16."""
    s_in = np.float32(input_scale)
    s_out = np.float32(output_scale)
    if not (s_in > 0 and s_out > 0):
        raise TinymodelError(f"scales {input_scale!r}, {output_scale!r} must be positive")
    hires = np.float32(1.0 / 128.0) * s_in
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    mo, eo = quantize_multiplier(float(np.float32(hires / s_out)))
    mr, er = quantize_multiplier(float(np.float32(hires / reluish_scale)))
    return HardSwishParams(input_offset=-int(input_zero_point),
                           output_offset=int(output_zero_point),
                           output_multiplier=_int16_multiplier(mo), output_shift=eo,
                           reluish_multiplier=_int16_multiplier(mr), reluish_shift=er)


@dataclass(frozen=True)
class LeakyReluParams:
    """Integer parameters of the int8 LEAKY_RELU: the rescales ``s_in / s_out`` of non-negative
    inputs and ``s_in · alpha / s_out`` of negative ones (a negative multiplier when alpha < 0)."""

    input_offset: int
    output_offset: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int


def leaky_relu_params(input_scale: float, input_zero_point: int, alpha: float,
                      output_scale: float, output_zero_point: int) -> LeakyReluParams:
    """TFLite's ``LeakyReluPrepare`` (reference §10(a)): both ratios in float32, then
    :func:`quantize_multiplier`."""
    s_in = np.float32(input_scale)
    s_out = np.float32(output_scale)
    if not (s_in > 0 and s_out > 0):
        raise TinymodelError(f"scales {input_scale!r}, {output_scale!r} must be positive")
    ma, ea = quantize_multiplier(float(np.float32(s_in * np.float32(alpha) / s_out)))
    mi, ei = quantize_multiplier(float(np.float32(s_in / s_out)))
    return LeakyReluParams(input_offset=-int(input_zero_point),
                           output_offset=int(output_zero_point), identity_multiplier=mi,
                           identity_shift=ei, alpha_multiplier=ma, alpha_shift=ea)


@dataclass(frozen=True)
class PreluParams:
    """Integer parameters of the int8 PRELU: the rescales ``s_in / s_out`` of non-negative inputs
    and ``s_in · s_alpha / s_out`` of the products ``(q + input_offset)·(alpha + alpha_offset)``."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int


def prelu_params(input_scale: float, input_zero_point: int, alpha_scale: float,
                 alpha_zero_point: int, output_scale: float, output_zero_point: int
                 ) -> PreluParams:
    """TFLite's ``PreluPrepare`` (reference §11(a)): the ratios in float32 as the TFLite
    interpreter computes them (TFLite Micro uses double, which can differ in the multiplier's
    last bits), then :func:`quantize_multiplier`."""
    s_in = np.float32(input_scale)
    s_a = np.float32(alpha_scale)
    s_out = np.float32(output_scale)
    if not (s_in > 0 and s_a > 0 and s_out > 0):
        raise TinymodelError(f"scales {input_scale!r}, {alpha_scale!r}, {output_scale!r} must "
                             f"be positive")
    m1, e1 = quantize_multiplier(float(np.float32(s_in / s_out)))
    m2, e2 = quantize_multiplier(float(np.float32(s_in * s_a / s_out)))
    return PreluParams(input_offset=-int(input_zero_point), alpha_offset=-int(alpha_zero_point),
                       output_offset=int(output_zero_point), identity_multiplier=m1,
                       identity_shift=e1, alpha_multiplier=m2, alpha_shift=e2)


# -- run-time primitives, vectorised (oracles for tm_requant.h) --------------------------------

def saturating_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """``srdhm(a, b)``: ``2·a·b / 2^32`` rounded to nearest, halves toward +infinity.

    ``(a·b + (2^30 if a·b ≥ 0 else 1 - 2^30)) / 2^31`` with division truncating toward zero (so
    ``1.5 → 2`` but ``-1.5 → -1``); the single overflow case ``a = b = -2^31`` saturates to
    ``2^31 - 1``.
    """
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    ab = a64 * b64
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    num = ab + nudge
    # C division truncates toward zero; numpy's // floors.
    q = np.where(num >= 0, num // (1 << 31), -((-num) // (1 << 31)))
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), q).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    """``x / 2^exponent`` rounded to nearest, ties away from zero (``0 ≤ exponent ≤ 31``).

    ``(x >> n) + (rem > (mask >> 1) + (x < 0))`` with ``mask = 2^n - 1`` and ``rem = x & mask``.
    """
    x64 = np.asarray(x, dtype=np.int64)
    n = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << n) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0).astype(np.int64)
    return (x64 >> n) + (remainder > threshold).astype(np.int64)


def multiply_by_quantized_multiplier(x: np.ndarray | int, multiplier: np.ndarray | int,
                                     shift: np.ndarray | int, *,
                                     rounding: str = DOUBLE_ROUNDING) -> np.ndarray:
    """``x · m · 2^(e-31)`` rounded, as TFLite's ``MultiplyByQuantizedMultiplier`` (int32 result).

    * double: ``rdbp(srdhm(wrap32(x · 2^max(e,0)), m), max(-e, 0))``;
    * single: ``clamp32((x·m + 2^(30-e)) >> (31-e))``.
    """
    x64 = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    e = np.asarray(shift, dtype=np.int64)
    if rounding == DOUBLE_ROUNDING:
        left = np.maximum(e, 0)
        right = np.maximum(-e, 0)
        shifted = (x64 << left).astype(np.int32).astype(np.int64)  # int32 wrap, as in C
        return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m), right)
    if rounding == SINGLE_ROUNDING:
        total = 31 - e
        rounded = (x64 * m + (np.int64(1) << (total - 1))) >> total
        return np.clip(rounded, INT32_MIN, INT32_MAX)
    raise TinymodelError(f"unknown rounding mode {rounding!r}; use 'double' or 'single'")
