/*
 * tm_fully_connected_f32.c - float FULLY_CONNECTED (soft-float or FPU, same source).
 *
 * Loop order: batch, out, in; one multiply-add per step; bias, then the activation clamp.
 */
#include "tm_internal.h"

int32_t tm_fully_connected_f32_scratch_bytes(const tm_fc_dims *dims)
{
    (void)dims;
    return 0;
}

tm_status tm_fully_connected_f32(const tm_act_f32 *act, const tm_fc_dims *dims,
                                 const float *input, const float *weights, const float *bias,
                                 float *output, const tm_scratch *scratch)
{
    const tm_status st = tm_check_fc(dims, input, weights, output);
    if (st != TM_OK) {
        return st;
    }
    if (act == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
    }
    (void)scratch;

    const int32_t k = dims->in_features;
    const int32_t n_out = dims->out_features;
    for (int32_t b = 0; b < dims->batches; b++) {
        const float *x = input + b * k;
        for (int32_t o = 0; o < n_out; o++) {
            const float *w = weights + o * k;
            float acc = 0.0f;
            for (int32_t d = 0; d < k; d++) {
                acc += x[d] * w[d];
            }
            if (bias != NULL) {
                acc += bias[o];
            }
            acc = (acc < act->act_min) ? act->act_min : acc;
            acc = (acc > act->act_max) ? act->act_max : acc;
            output[b * n_out + o] = acc;
        }
    }
    return TM_OK;
}
