/*
 * tm_transpose_conv_f32.c - float TRANSPOSE_CONV.
 *
 * The scatter form of TFLite's reference kernel, accumulating straight into the output: zero it,
 * add input * weight for every input pixel, input channel, tap and output channel whose output
 * element lies inside the output (loop order batch, y, x, ic, ky, kx, oc, TFLite's order, so the
 * float sums are formed in the same order), then add the bias and clamp.
 */
#include "tm_internal.h"

int32_t tm_transpose_conv_f32_scratch_bytes(const tm_conv_params *conv, const tm_dims *input_dims,
                                            const tm_dims *filter_dims,
                                            const tm_dims *output_dims)
{
    (void)conv;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

tm_status tm_transpose_conv_f32(const tm_conv_params *conv, const tm_act_f32 *act,
                                const tm_dims *input_dims, const float *input,
                                const tm_dims *filter_dims, const float *filter,
                                const float *bias, const tm_dims *output_dims, float *output,
                                const tm_scratch *scratch)
{
    (void)scratch;
    tm_status st = tm_check_transpose_conv(conv, input_dims, input, filter_dims, filter,
                                           output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    if (act == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
    }
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t in_c = input_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t plane = out_h * out_w * out_c;

    for (int32_t b = 0; b < input_dims->n; b++) {
        float *out = output + b * plane;
        for (int32_t i = 0; i < plane; i++) {
            out[i] = 0.0f;
        }
        for (int32_t y = 0; y < input_dims->h; y++) {
            const int32_t oy0 = y * conv->stride_h - conv->pad_h;
            for (int32_t x = 0; x < input_dims->w; x++) {
                const int32_t ox0 = x * conv->stride_w - conv->pad_w;
                for (int32_t ic = 0; ic < in_c; ic++) {
                    const float v = input[tm_offset4(input_dims, b, y, x, ic)];
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t oy = oy0 + ky;
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t ox = ox0 + kx;
                            if (oy < 0 || oy >= out_h || ox < 0 || ox >= out_w) {
                                continue;
                            }
                            float *dst = &out[(oy * out_w + ox) * out_c];
                            for (int32_t oc = 0; oc < out_c; oc++) {
                                dst[oc] += v * filter[tm_offset4(filter_dims, oc, ky, kx, ic)];
                            }
                        }
                    }
                }
            }
        }
        for (int32_t i = 0; i < plane; i++) {
            float a = out[i];
            if (bias != NULL) {
                a += bias[i % out_c];
            }
            a = a < act->act_min ? act->act_min : a;
            out[i] = a > act->act_max ? act->act_max : a;
        }
    }
    return TM_OK;
}
