/*
 * tm_reduce_f32.c - float MEAN / SUM over any set of axes of a 4-D tensor (see tm_kernels.h).
 *
 * TFLite's float reduction (tflite-op-arithmetic.md 24(c)): the sum in float, in input order,
 * then for a mean one division by the number of reduced elements; then the activation clamp.
 */
#include <stddef.h>

#include "tm_kernels.h"

tm_status tm_reduce_f32(const tm_reduce_params *params, const tm_act_f32 *act, int32_t mean,
                        const tm_dims *d, const float *input, float *output)
{
    if (params == NULL || act == NULL || d == NULL || input == NULL || output == NULL) {
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
    if (params->axes < 1 || params->axes > 15 || !(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
    }
    int32_t outer[4];
    int32_t inner[4];
    int32_t n = 1;
    for (int i = 0; i < 4; i++) {
        const int reduced = (params->axes >> i) & 1;
        outer[i] = reduced ? 1 : dim[i];
        inner[i] = reduced ? dim[i] : 1;
        n *= inner[i];
    }
    const float count = (float)n;
    const ptrdiff_t st[4] = {(ptrdiff_t)d->h * d->w * d->c, (ptrdiff_t)d->w * d->c, d->c, 1};
    ptrdiff_t o = 0;
    for (int32_t a0 = 0; a0 < outer[0]; a0++) {
        for (int32_t a1 = 0; a1 < outer[1]; a1++) {
            for (int32_t a2 = 0; a2 < outer[2]; a2++) {
                for (int32_t a3 = 0; a3 < outer[3]; a3++) {
                    const float *base = input + a0 * st[0] + a1 * st[1] + a2 * st[2] + a3;
                    float acc = 0.0f;
                    for (int32_t b0 = 0; b0 < inner[0]; b0++) {
                        for (int32_t b1 = 0; b1 < inner[1]; b1++) {
                            for (int32_t b2 = 0; b2 < inner[2]; b2++) {
                                const float *row = base + b0 * st[0] + b1 * st[1] + b2 * st[2];
                                for (int32_t b3 = 0; b3 < inner[3]; b3++) {
                                    acc += row[b3];
                                }
                            }
                        }
                    }
                    float v = mean ? acc / count : acc;
                    v = v < act->act_min ? act->act_min : (v > act->act_max ? act->act_max : v);
                    output[o++] = v;
                }
            }
        }
    }
    return TM_OK;
}
