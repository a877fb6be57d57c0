/*
 * tm_fixedpoint.h - gemmlowp-style fixed-point transcendental functions shared by the int8
 * SOFTMAX, LOGISTIC and TANH kernels (TFLite's reference integer algorithms).
 *
 * A value "Q(I)" is an int32 raw r standing for r / 2^(31 - I): I integer bits.  The rules are
 * those of the project's reference on TFLite's arithmetic (shared/reference/
 * tflite-op-arithmetic.md 1.6): products are tm_srdhm, sums wrap, a rescale to fewer integer bits
 * is a saturating left shift, to more a rounding right shift.  Constants are the Q0.31 / Q2.29
 * roundings of exp(-2^k), exp(-1/8), 1/3, 48/17 and -32/17.
 *
 * Everything is static inline: called with constant integer-bit counts, the compiler folds them.
 */
#ifndef TM_FIXEDPOINT_H
#define TM_FIXEDPOINT_H

#include <stdint.h>

#include "tm_requant.h"

/* x * 2^e for 0 <= e <= 31, saturated to int32 (a rescale to e fewer integer bits). */
static inline int32_t tm_fp_sat_shl(int32_t x, int32_t e)
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
static inline int32_t tm_fp_exp_quarter(int32_t a)
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
 * exp(a) for a <= 0 given in Q(int_bits), 1 <= int_bits <= 5; result Q0.31.  a = q + r with
 * q in [-1/4, 0) taken from the low fraction bits and -r a sum of powers of two 2^k
 * (k = -2 .. int_bits - 1); an exp(-2^k) factor is multiplied in for each set bit.  exp(0) is
 * returned as the largest Q0.31 value.
 */
static inline int32_t tm_fp_exp_neg(int32_t a, int32_t int_bits)
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
    const int32_t frac_bits = 31 - int_bits;
    const int32_t quarter = 1 << (frac_bits - 2);
    const int32_t q = (a & (quarter - 1)) - quarter;
    int32_t result = tm_fp_exp_quarter(tm_fp_sat_shl(q, int_bits));
    const int32_t rest = tm_wrap_sub(q, a);
    for (int32_t k = 0; k < 7; k++) {
        /* exponent k - 2 contributes only while it is below int_bits (bit 31 is the sign) */
        if (k - 2 < int_bits && (rest & (1 << (frac_bits - 2 + k)))) {
            result = tm_srdhm(result, exp_neg_pow2[k]);
        }
    }
    return (a == 0) ? TM_INT32_MAX : result;
}

/* 1 / h for the half denominator h = (1 + x) / 2, x in [0, 1) in Q0.31: Newton-Raphson from the
 * start 48/17 - 32/17 * h, three iterations; result Q2.29. */
static inline int32_t tm_fp_reciprocal_half(int32_t x)
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
        r = tm_wrap_add(r, tm_fp_sat_shl(tm_srdhm(r, one_minus_hr), 2));
    }
    return r;
}

/* 1 / (1 + x) for x in [0, 1) in Q0.31; result Q0.31. */
static inline int32_t tm_fp_one_over_one_plus(int32_t x)
{
    /* 1/h is twice 1/(1 + x): read Q2.29 as Q1.30, then rescale to Q0.31 */
    return tm_fp_sat_shl(tm_fp_reciprocal_half(x), 1);
}

/* (1 - x) / (1 + x) for x in [0, 1) in Q0.31; result Q0.31. */
static inline int32_t tm_fp_one_minus_over_one_plus(int32_t x)
{
    /* 2/(1 + x) - 1 in Q2.29, rescaled to Q0.31 */
    return tm_fp_sat_shl(tm_wrap_sub(tm_fp_reciprocal_half(x), 1 << 29), 2);
}

/* logistic(a) = 1 / (1 + exp(-a)) for a in Q(int_bits); result Q0.31 (one half for a == 0). */
static inline int32_t tm_fp_logistic(int32_t a, int32_t int_bits)
{
    if (a == 0) {
        return 1 << 30;
    }
    const int32_t neg_abs = (a > 0) ? -a : a;
    const int32_t p = tm_fp_one_over_one_plus(tm_fp_exp_neg(neg_abs, int_bits));
    return (a > 0) ? p : tm_wrap_sub(TM_INT32_MAX, p);
}

/* tanh(a) = (1 - exp(-2|a|)) / (1 + exp(-2|a|)), signed, for a in Q(int_bits) (int_bits <= 4);
 * result Q0.31.  -|a| read with one more integer bit is -2|a|. */
static inline int32_t tm_fp_tanh(int32_t a, int32_t int_bits)
{
    if (a == 0) {
        return 0;
    }
    const int32_t neg_abs = (a > 0) ? -a : a;
    const int32_t t = tm_fp_one_minus_over_one_plus(tm_fp_exp_neg(neg_abs, int_bits + 1));
    return (a > 0) ? t : -t;
}

#endif /* TM_FIXEDPOINT_H */
