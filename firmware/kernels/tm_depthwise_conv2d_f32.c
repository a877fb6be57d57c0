/*
 * tm_depthwise_conv2d_f32.c - float DEPTHWISE_CONV_2D (soft-float or FPU, same source).
 *
 * Loop order: batch, out_y, out_x, in_ch, mult, ky, kx; output channel in_ch * ch_mult + mult.
 */
#include "tm_internal.h"

int32_t tm_depthwise_conv2d_f32_scratch_bytes(const tm_conv_params *conv,
                                              const tm_dims *input_dims,
                                              const tm_dims *filter_dims,
                                              const tm_dims *output_dims)
{
    (void)conv;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

tm_status tm_depthwise_conv2d_f32(const tm_conv_params *conv, const tm_act_f32 *act,
                                  const tm_dims *input_dims, const float *input,
                                  const tm_dims *filter_dims, const float *filter,
                                  const float *bias, const tm_dims *output_dims, float *output,
                                  const tm_scratch *scratch)
{
    const tm_status st = tm_check_depthwise(conv, input_dims, input, filter_dims, filter,
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
    (void)scratch;

    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch_mult = conv->ch_mult;
    for (int32_t b = 0; b < output_dims->n; b++) {
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t in_y0 = oy * conv->stride_h - conv->pad_h;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t in_x0 = ox * conv->stride_w - conv->pad_w;
                for (int32_t ic = 0; ic < input_dims->c; ic++) {
                    for (int32_t m = 0; m < ch_mult; m++) {
                        const int32_t oc = ic * ch_mult + m;
                        float acc = 0.0f;
                        for (int32_t ky = 0; ky < filter_dims->h; ky++) {
                            const int32_t iy = in_y0 + conv->dilation_h * ky;
                            for (int32_t kx = 0; kx < filter_dims->w; kx++) {
                                const int32_t ix = in_x0 + conv->dilation_w * kx;
                                if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                                    continue;
                                }
                                acc += input[tm_offset4(input_dims, b, iy, ix, ic)] *
                                       filter[tm_offset4(filter_dims, 0, ky, kx, oc)];
                            }
                        }
                        if (bias != NULL) {
                            acc += bias[oc];
                        }
                        acc = (acc < act->act_min) ? act->act_min : acc;
                        acc = (acc > act->act_max) ? act->act_max : acc;
                        output[tm_offset4(output_dims, b, oy, ox, oc)] = acc;
                    }
                }
            }
        }
    }
    return TM_OK;
}
