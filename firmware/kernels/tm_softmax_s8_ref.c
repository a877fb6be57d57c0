/*
 * tm_softmax_s8_ref.c - int8 SOFTMAX over the last axis with fixed-point exponentials
 * (TFLite's reference integer algorithm; output scale 1/256, zero point -128).
 *
 * Per row:
 *   1. d_i = x_i - max(x) in [-255, 0];
 *   2. taps with d_i >= diff_min: r_i = srdhm(d_i << input_left_shift, input_multiplier), a Q5.26
 *      value of beta * s_in * d_i; e_i = exp(r_i) in Q0.31 (exp_neg below);
 *   3. S = sum of e_i rescaled to Q12.19 (rounding shift right by 12);
 *   4. 1/S: normalise S to [1, 2) by its leading zeros and compute 1/(1 + f) by Newton-Raphson;
 *   5. y_i = rounding_shift(srdhm(1/S, e_i), bits_over_unit + 23) - 128, clamped to int8;
 *      taps below diff_min give -128.
 * All constants are Q0.31 / Q2.29 roundings of exp(-2^k), exp(-1/8), 1/3, 48/17 and 32/17.
 */
#include "tm_internal.h"
#include "tm_requant.h"

#define TM_SOFTMAX_DIFF_INT_BITS 5    /* Q5.26 scaled differences */
#define TM_SOFTMAX_ACC_INT_BITS 12    /* Q12.19 sum of exponentials */

/* x * 2^e for 0 <= e <= 31 with saturation to int32. */
static int32_t tm_sat_shl(int32_t x, int32_t e)
{
    if (e == 0) {
        return x;
    }
    const int32_t limit = (int32_t)(((uint32_t)1 << (31 - e)) - 1u);
    if (x > limit) {
        return TM_INT32_MAX;
    }
    if (x < -limit) {
        return TM_INT32_MIN;
    }
    return tm_wrap_shl(x, e);
}

/*
 * exp(a) for a in [-1/4, 0), Q0.31 in and out.  With y = a + 1/8:
 * exp(a) = exp(-1/8) * (1 + y + y^2/2 + y^3/6 + y^4/24) (fourth-order Taylor around -1/8).
 */
static int32_t tm_exp_quarter(int32_t a)
{
    const int32_t exp_minus_eighth = 1895147668;  /* exp(-1/8) * 2^31 */
    const int32_t one_third = 715827883;          /* 1/3 * 2^31 */
    const int32_t y = tm_wrap_add(a, 1 << 28);
    const int32_t y2 = tm_srdhm(y, y);
    const int32_t y3 = tm_srdhm(y2, y);
    const int32_t y4 = tm_srdhm(y2, y2);
    const int32_t y4_over_4 = tm_rounding_divide_by_pot(y4, 2);
    /* (y^4/4 + y^3) / 3 + y^2, halved: y^4/24 + y^3/6 + y^2/2 */
    const int32_t poly = tm_rounding_divide_by_pot(
        tm_wrap_add(tm_srdhm(tm_wrap_add(y4_over_4, y3), one_third), y2), 1);
    return tm_wrap_add(exp_minus_eighth, tm_srdhm(exp_minus_eighth, tm_wrap_add(y, poly)));
}

/*
 * exp(a) for a <= 0 given in Q5.26; result Q0.31.  a = q + r with q in [-1/4, 0) computed from the
 * low fraction bits, and -r a sum of powers of two 2^k (k = -2..4); exp(-2^k) factors are
 * multiplied in for each set bit.  exp(0) is returned as the largest Q0.31 value.
 */
static int32_t tm_exp_neg(int32_t a)
{
    static const int32_t exp_neg_pow2[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1)   */
        290630308,  /* exp(-2)   */
        39332535,   /* exp(-4)   */
        720401,     /* exp(-8)   */
        242         /* exp(-16)  */
    };
    const int32_t frac_bits = 31 - TM_SOFTMAX_DIFF_INT_BITS;
    const int32_t quarter = 1 << (frac_bits - 2);
    const int32_t q = (a & (quarter - 1)) - quarter;
    int32_t result = tm_exp_quarter(tm_sat_shl(q, TM_SOFTMAX_DIFF_INT_BITS));
    const int32_t rest = tm_wrap_sub(q, a);
    for (int32_t k = 0; k < 7; k++) {
        if (rest & (1 << (frac_bits - 2 + k))) {
            result = tm_srdhm(result, exp_neg_pow2[k]);
        }
    }
    return (a == 0) ? TM_INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1) given in Q0.31; result Q0.31.  Newton-Raphson on the half
 * denominator h = (1 + x) / 2 from the start 48/17 - 32/17 * h, three iterations in Q2.29. */
static int32_t tm_reciprocal_one_plus(int32_t x)
{
    const int32_t c48_17 = 1515870810;   /* 48/17 * 2^29 */
    const int32_t cm32_17 = -1010580540; /* -32/17 * 2^29 */
    const int64_t sum = (int64_t)x + TM_INT32_MAX;
    const int64_t rounded = sum + ((sum >= 0) ? 1 : -1);
    const int32_t half_den = (int32_t)(rounded / 2);
    int32_t r = tm_wrap_add(c48_17, tm_srdhm(half_den, cm32_17));
    for (int32_t i = 0; i < 3; i++) {
        const int32_t hr = tm_srdhm(half_den, r);
        const int32_t one_minus_hr = tm_wrap_sub(1 << 29, hr);
        r = tm_wrap_add(r, tm_sat_shl(tm_srdhm(r, one_minus_hr), 2));
    }
    return tm_sat_shl(r, 1);
}

static int32_t tm_clz32(uint32_t v)
{
    int32_t n = 0;
    if (v == 0u) {
        return 32;
    }
    while ((v & 0x80000000u) == 0u) {
        v <<= 1;
        n++;
    }
    return n;
}

tm_status tm_softmax_s8_ref(const tm_softmax_params_s8 *params, int32_t rows, int32_t depth,
                            const int8_t *input, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (rows < 0 || depth <= 0) {
        return TM_ERR_SHAPE;
    }
    if (params->input_left_shift < 0 || params->input_left_shift > 31 || params->diff_min > 0) {
        return TM_ERR_PARAM;
    }

    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = input + r * depth;
        int8_t *y = output + r * depth;
        int32_t max = -128;
        for (int32_t i = 0; i < depth; i++) {
            max = (x[i] > max) ? x[i] : max;
        }
        int32_t sum = 0;
        for (int32_t i = 0; i < depth; i++) {
            const int32_t d = x[i] - max;
            if (d >= params->diff_min) {
                const int32_t scaled = tm_srdhm(tm_wrap_shl(d, params->input_left_shift),
                                                params->input_multiplier);
                sum = tm_wrap_add(sum, tm_rounding_divide_by_pot(tm_exp_neg(scaled),
                                                                 TM_SOFTMAX_ACC_INT_BITS));
            }
        }
        const int32_t lead = tm_clz32((uint32_t)sum);
        const int32_t bits_over_unit = TM_SOFTMAX_ACC_INT_BITS - lead;
        const int32_t normalised = (int32_t)(((uint32_t)sum << lead) - 0x80000000u);
        const int32_t inv = tm_reciprocal_one_plus(normalised);
        for (int32_t i = 0; i < depth; i++) {
            const int32_t d = x[i] - max;
            if (d >= params->diff_min) {
                const int32_t scaled = tm_srdhm(tm_wrap_shl(d, params->input_left_shift),
                                                params->input_multiplier);
                const int32_t e = tm_exp_neg(scaled);
                const int32_t out_shift = bits_over_unit + 31 - 8;
                /* out_shift > 31 needs a sum >= 2^28 (>= 512 taps at the maximum); the exact
                 * quotient is then below one half and rounds to 0. */
                const int32_t v = ((out_shift > 31) ? 0
                                   : tm_rounding_divide_by_pot(tm_srdhm(inv, e), out_shift)) -
                                  128;
                y[i] = (int8_t)tm_clamp_s32(v, -128, 127);
            } else {
                y[i] = -128;
            }
        }
    }
    return TM_OK;
}
