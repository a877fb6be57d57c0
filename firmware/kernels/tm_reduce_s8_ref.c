/*
 * tm_reduce_s8_ref.c - int8 MEAN / SUM over any set of axes of a 4-D tensor (see tm_kernels.h).
 *
 * TFLite's QuantizedMeanOrSum (tflite-op-arithmetic.md 24(b), 25(b)): the int32 sum of
 * (x - zp_in) over the reduced elements, one MultiplyByQuantizedMultiplier (tm_requantize, double
 * rounding) with the host's (multiplier, shift) -- for MEAN with 1/n folded in, for SUM the plain
 * s_in / s_out (TFLite Micro; TFLite's reference int8 SUM is broken, 25) -- plus zp_out, clamped.
 * Sums are 64-bit and saturated to int32; TFLite's int32 sum can only overflow beyond 2^23
 * reduced elements.  One scalar loop over the reduced elements per output, in input order.
 */
#include <stddef.h>

#include "tm_kernels.h"
#include "tm_requant.h"

tm_status tm_reduce_s8_ref(const tm_reduce_params *params, const tm_quant_s8 *quant,
                           const tm_dims *d, const int8_t *input, int8_t *output)
{
    if (params == NULL || quant == NULL || d == NULL || input == NULL || output == NULL ||
        quant->multiplier == NULL || quant->shift == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    const int32_t dim[4] = {d->n, d->h, d->w, d->c};
    int64_t total = 1;
    for (int i = 0; i < 4; i++) {
        if (dim[i] <= 0) {
            return TM_ERR_SHAPE;
        }
        total *= dim[i];
    }
    if (total > (int64_t)0x3FFFFFFF) {
        return TM_ERR_SHAPE;
    }
    const int32_t m = quant->multiplier[0];
    const int32_t e = quant->shift[0];
    if (params->axes < 1 || params->axes > 15 || m < 0 || e < -31 || e > 30 ||
        quant->act_min < -128 || quant->act_max > 127 || quant->act_min > quant->act_max ||
        quant->input_offset < -127 || quant->input_offset > 128 || quant->output_offset < -128 ||
        quant->output_offset > 127) {
        return TM_ERR_PARAM;
    }
    int32_t outer[4];
    int32_t inner[4];
    for (int i = 0; i < 4; i++) {
        const int reduced = (params->axes >> i) & 1;
        outer[i] = reduced ? 1 : dim[i];
        inner[i] = reduced ? dim[i] : 1;
    }
    const ptrdiff_t st[4] = {(ptrdiff_t)d->h * d->w * d->c, (ptrdiff_t)d->w * d->c, d->c, 1};
    ptrdiff_t o = 0;
    for (int32_t a0 = 0; a0 < outer[0]; a0++) {
        for (int32_t a1 = 0; a1 < outer[1]; a1++) {
            for (int32_t a2 = 0; a2 < outer[2]; a2++) {
                for (int32_t a3 = 0; a3 < outer[3]; a3++) {
                    const int8_t *base = input + a0 * st[0] + a1 * st[1] + a2 * st[2] + a3;
                    int64_t acc = 0;
                    for (int32_t b0 = 0; b0 < inner[0]; b0++) {
                        for (int32_t b1 = 0; b1 < inner[1]; b1++) {
                            for (int32_t b2 = 0; b2 < inner[2]; b2++) {
                                const int8_t *row = base + b0 * st[0] + b1 * st[1] + b2 * st[2];
                                for (int32_t b3 = 0; b3 < inner[3]; b3++) {
                                    acc += (int64_t)row[b3] + quant->input_offset;
                                }
                            }
                        }
                    }
                    if (acc > TM_INT32_MAX) {
                        acc = TM_INT32_MAX;
                    } else if (acc < TM_INT32_MIN) {
                        acc = TM_INT32_MIN;
                    }
                    output[o++] = tm_requant_s8((int32_t)acc, m, e, quant->output_offset,
                                                quant->act_min, quant->act_max);
                }
            }
        }
    }
    return TM_OK;
}
