/*
 * tm_requant.h - TFLite's integer requantization arithmetic, shared by every int8 kernel.
 *
 * A real multiplier M is represented as (multiplier m, shift e) with M ~= m * 2^(e - 31) and
 * 2^30 <= m < 2^31 (tinymodel/requantization.py computes them from float scales on the host).
 *
 * TFLite has two variants of MultiplyByQuantizedMultiplier:
 *   double rounding:  rounding_divide_by_pot(srdhm(x * 2^max(e,0), m), max(-e, 0))
 *   single rounding:  (x * m + 2^(30 - e)) >> (31 - e), saturated to int32 (needs e <= 30).
 * The TensorFlow 2.21 interpreter's reference kernels use double rounding for CONV_2D,
 * DEPTHWISE_CONV_2D, ADD and RELU, but single rounding for FULLY_CONNECTED (both established by
 * experiment: tests/firmware/test_kernels_s8.py, test_rounding_modes).  The kernels therefore call
 *   tm_requantize()    - double rounding unless TM_SINGLE_ROUNDING is 1;
 *   tm_requantize_fc() - single rounding unless TM_FC_SINGLE_ROUNDING is 0.
 * (For a left shift, e > 0, the two variants agree.)
 *
 * Only integer arithmetic; 64-bit products map onto SMULL on Cortex-M.
 */
#ifndef TM_REQUANT_H
#define TM_REQUANT_H

#include <stdint.h>

#ifndef TM_SINGLE_ROUNDING
#define TM_SINGLE_ROUNDING 0
#endif

#ifndef TM_FC_SINGLE_ROUNDING
#define TM_FC_SINGLE_ROUNDING 1
#endif

#define TM_INT32_MIN ((int32_t)(-2147483647 - 1))
#define TM_INT32_MAX ((int32_t)2147483647)

/* Wrapping 32-bit shift left / add / sub (two's complement, no undefined behaviour). */
static inline int32_t tm_wrap_shl(int32_t x, int32_t n)
{
    return (int32_t)((uint32_t)x << n);
}

static inline int32_t tm_wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t tm_wrap_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/*
 * Saturating rounding doubling high multiply: 2 * a * b / 2^32 rounded to nearest with halves
 * toward +infinity (1.5 -> 2, -1.5 -> -1); the only overflow (a == b == INT32_MIN) saturates to
 * INT32_MAX.
 */
static inline int32_t tm_srdhm(int32_t a, int32_t b)
{
    if (a == TM_INT32_MIN && b == TM_INT32_MIN) {
        return TM_INT32_MAX;
    }
    const int64_t product = (int64_t)a * (int64_t)b;
    const int64_t nudge = (product >= 0) ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    const int64_t sum = product + nudge;
    /* Division truncating toward zero, written with shifts: floor for positive sums; for negative
     * sums add (2^31 - 1) first so that the arithmetic shift rounds toward zero. */
    const int64_t bias = (sum < 0) ? (((int64_t)1 << 31) - 1) : 0;
    return (int32_t)((sum + bias) >> 31);
}

/* x / 2^exponent rounded to nearest, ties away from zero; 0 <= exponent <= 31. */
static inline int32_t tm_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
    return (x >> exponent) + ((remainder > threshold) ? 1 : 0);
}

/* x * M, one rounding: (x * m + 2^(30 - e)) >> (31 - e), saturated; requires shift <= 30. */
static inline int32_t tm_requantize_single(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t total_shift = 31 - shift;
    const int64_t rounded = (int64_t)x * (int64_t)multiplier + ((int64_t)1 << (total_shift - 1));
    const int64_t result = rounded >> total_shift;
    if (result > TM_INT32_MAX) {
        return TM_INT32_MAX;
    }
    if (result < TM_INT32_MIN) {
        return TM_INT32_MIN;
    }
    return (int32_t)result;
}

/* x * M, two roundings: srdhm of the left-shifted x, then a rounding right shift. */
static inline int32_t tm_requantize_double(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = (shift > 0) ? shift : 0;
    const int32_t right_shift = (shift > 0) ? 0 : -shift;
    return tm_rounding_divide_by_pot(tm_srdhm(tm_wrap_shl(x, left_shift), multiplier),
                                     right_shift);
}

/* x * M for M = (multiplier, shift) as TFLite's conv / depthwise / add / relu kernels do it. */
static inline int32_t tm_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
#if TM_SINGLE_ROUNDING
    return tm_requantize_single(x, multiplier, shift);
#else
    return tm_requantize_double(x, multiplier, shift);
#endif
}

/* x * M as TFLite's FULLY_CONNECTED kernel does it. */
static inline int32_t tm_requantize_fc(int32_t x, int32_t multiplier, int32_t shift)
{
#if TM_FC_SINGLE_ROUNDING
    return tm_requantize_single(x, multiplier, shift);
#else
    return tm_requantize_double(x, multiplier, shift);
#endif
}

/* Clamp to [lo, hi]. */
static inline int32_t tm_clamp_s32(int32_t v, int32_t lo, int32_t hi)
{
    return (v < lo) ? lo : ((v > hi) ? hi : v);
}

/*
 * The complete int8 output step: clamp(output_offset + acc * M, act_min, act_max).
 *
 * The output offset is added with two's complement wrap-around (tm_wrap_add, the same ADD
 * instruction on Cortex-M): with an offset in [-128, 127] (checked by tm_runner.c before any
 * kernel runs) the sum can only leave int32 when acc * M saturated or lies within 128 of the
 * int32 limits, where TFLite's int32 addition is undefined behaviour; for every other value the
 * result is the same as a plain addition.
 */
static inline int8_t tm_requant_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                   int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t scaled = tm_wrap_add(tm_requantize(acc, multiplier, shift), output_offset);
    return (int8_t)tm_clamp_s32(scaled, act_min, act_max);
}

/* The int8 output step of FULLY_CONNECTED (tm_requantize_fc; the offset wraps as above). */
static inline int8_t tm_requant_fc_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                      int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t scaled = tm_wrap_add(tm_requantize_fc(acc, multiplier, shift), output_offset);
    return (int8_t)tm_clamp_s32(scaled, act_min, act_max);
}

#endif /* TM_REQUANT_H */
