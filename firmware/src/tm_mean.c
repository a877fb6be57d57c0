/*
 * tm_mean.c - MEAN over height and width (see tm_mean.h).  Sums are 64-bit and saturated to
 * int32 before requantization, so no input size can overflow.
 *
 * int8 follows TFLite's integer MEAN (reference_ops::QuantizedMeanOrSum in
 * tensorflow/lite/kernels/internal/reference/reduce.h): the int32 sum of (x - zp_in) over the
 * h*w positions, one MultiplyByQuantizedMultiplier with the (m, e) that already holds 1/(h*w)
 * (computed on the host, see tm_mean.h), plus zp_out, clamped to int8.  TFLite's int32 sum can
 * only overflow beyond 2^23 positions (8 MiB per channel plane), far more than any board's RAM;
 * below that the saturating sum here is the same number.
 */
#include <stddef.h>

#include "tm_mean.h"
#include "tm_requant.h"

static int tm_mean_dims_ok(const tm_dims *d)
{
    return d != NULL && d->n > 0 && d->h > 0 && d->w > 0 && d->c > 0 &&
           (int64_t)d->n * d->h * d->w * d->c <= (int64_t)0x3FFFFFFF;
}

tm_status tm_mean_s8(const tm_quant_s8 *quant, const tm_dims *d, const int8_t *input,
                     int8_t *output)
{
    if (quant == NULL || input == NULL || output == NULL || quant->multiplier == NULL ||
        quant->shift == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_mean_dims_ok(d)) {
        return TM_ERR_SHAPE;
    }
    const int32_t m = quant->multiplier[0];
    const int32_t e = quant->shift[0];
    if (m < 0 || e < -31 || e > 30 || quant->act_min < -128 || quant->act_max > 127 ||
        quant->act_min > quant->act_max || quant->input_offset < -255 ||
        quant->input_offset > 255 || quant->output_offset < -128 || quant->output_offset > 127) {
        return TM_ERR_PARAM;
    }
    const int32_t hw = d->h * d->w;
    for (int32_t n = 0; n < d->n; n++) {
        const int8_t *base = input + (ptrdiff_t)n * hw * d->c;
        for (int32_t c = 0; c < d->c; c++) {
            int64_t acc = 0;
            for (int32_t i = 0; i < hw; i++) {
                acc += (int64_t)base[(ptrdiff_t)i * d->c + c] + quant->input_offset;
            }
            if (acc > TM_INT32_MAX) {
                acc = TM_INT32_MAX;
            } else if (acc < TM_INT32_MIN) {
                acc = TM_INT32_MIN;
            }
            int64_t v = (int64_t)tm_requantize((int32_t)acc, m, e) + quant->output_offset;
            v = v < quant->act_min ? quant->act_min : (v > quant->act_max ? quant->act_max : v);
            output[(ptrdiff_t)n * d->c + c] = (int8_t)v;
        }
    }
    return TM_OK;
}

tm_status tm_mean_f32(const tm_act_f32 *act, const tm_dims *d, const float *input, float *output)
{
    if (act == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_mean_dims_ok(d)) {
        return TM_ERR_SHAPE;
    }
    const int32_t hw = d->h * d->w;
    const float inv = 1.0f / (float)hw;
    for (int32_t n = 0; n < d->n; n++) {
        const float *base = input + (ptrdiff_t)n * hw * d->c;
        for (int32_t c = 0; c < d->c; c++) {
            float acc = 0.0f;
            for (int32_t i = 0; i < hw; i++) {
                acc += base[(ptrdiff_t)i * d->c + c];
            }
            float v = acc * inv;
            v = v < act->act_min ? act->act_min : (v > act->act_max ? act->act_max : v);
            output[(ptrdiff_t)n * d->c + c] = v;
        }
    }
    return TM_OK;
}
