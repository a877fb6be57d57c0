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
 * The fixed-point exp and 1/(1 + x) are tm_fixedpoint.h's (shared with LOGISTIC and TANH).
 */
#include "tm_internal.h"
#include "tm_fixedpoint.h"
#include "tm_requant.h"

#define TM_SOFTMAX_DIFF_INT_BITS 5    /* Q5.26 scaled differences */
#define TM_SOFTMAX_ACC_INT_BITS 12    /* Q12.19 sum of exponentials */

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
                const int32_t e = tm_fp_exp_neg(scaled, TM_SOFTMAX_DIFF_INT_BITS);
                sum = tm_wrap_add(sum, tm_rounding_divide_by_pot(e, TM_SOFTMAX_ACC_INT_BITS));
            }
        }
        const int32_t lead = tm_clz32((uint32_t)sum);
        const int32_t bits_over_unit = TM_SOFTMAX_ACC_INT_BITS - lead;
        const int32_t normalised = (int32_t)(((uint32_t)sum << lead) - 0x80000000u);
        const int32_t inv = tm_fp_one_over_one_plus(normalised);
        for (int32_t i = 0; i < depth; i++) {
            const int32_t d = x[i] - max;
            if (d >= params->diff_min) {
                const int32_t scaled = tm_srdhm(tm_wrap_shl(d, params->input_left_shift),
                                                params->input_multiplier);
                const int32_t e = tm_fp_exp_neg(scaled, TM_SOFTMAX_DIFF_INT_BITS);
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
