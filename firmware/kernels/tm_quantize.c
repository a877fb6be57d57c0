/*
 * tm_quantize.c - QUANTIZE: float32 -> int8 and int8 -> int8 (see tm_kernels.h).  One scalar
 * implementation for every variant (built soft-float in f32-soft images, with the FPU in the
 * others).
 *
 * float -> int8 follows TFLite's reference AffineQuantize (tflite-op-arithmetic.md 12(b)):
 * q = clamp((int32)round_half_away(x / scale) + zero_point), a float32 division (not a product
 * with 1/scale).  Where TFLite's float -> int32 conversion is undefined (|x / scale| >= 2^31, NaN)
 * this kernel saturates (NaN gives the zero point).
 * int8 -> int8 follows reference_ops::Requantize (12, "int->int requantize"): the input minus its
 * zero point times (multiplier, shift) with double rounding (tm_requantize), plus the output zero
 * point, clamped.
 */
#include <stddef.h>

#include "tm_kernels.h"
#include "tm_requant.h"

/* round(v) with ties away from zero, saturated to [-256, 256] (enough for any int8 result once
 * a zero point in [-128, 127] is added).  No libm: trunc by conversion, the fraction is exact. */
static int32_t tm_round_away_sat(float v)
{
    if (!(v == v)) {
        return 0;
    }
    if (v >= 256.0f) {
        return 256;
    }
    if (v <= -256.0f) {
        return -256;
    }
    int32_t t = (int32_t)v;             /* toward zero */
    const float frac = v - (float)t;    /* exact for |v| < 256 */
    if (frac >= 0.5f) {
        t += 1;
    } else if (frac <= -0.5f) {
        t -= 1;
    }
    return t;
}

tm_status tm_quantize_f32_s8(const tm_quantize_params *p, int32_t size, const float *input,
                             int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (!(p->scale > 0.0f) || p->output_offset < -128 || p->output_offset > 127) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        const int32_t q = tm_round_away_sat(input[i] / p->scale) + p->output_offset;
        output[i] = (int8_t)tm_clamp_s32(q, -128, 127);
    }
    return TM_OK;
}

tm_status tm_requantize_s8(const tm_quantize_params *p, int32_t size, const int8_t *input,
                           int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (p->multiplier < 0 || p->shift < -31 || p->shift > 30 || p->input_offset < -127 ||
        p->input_offset > 128 || p->output_offset < -128 || p->output_offset > 127) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = tm_requant_s8((int32_t)input[i] + p->input_offset, p->multiplier, p->shift,
                                  p->output_offset, -128, 127);
    }
    return TM_OK;
}
