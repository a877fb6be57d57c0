/*
 * tm_depthwise_conv2d_s8_ref.c - int8 DEPTHWISE_CONV_2D, reference structure.
 *
 * Loop order (TFLite Micro's reference): batch, out_y, out_x, in_ch, mult, ky, kx; output channel
 * in_ch * ch_mult + mult.  One scalar MAC per step, 4-D offset helper, a point-inside test per tap.
 */
#include "tm_internal.h"
#include "tm_requant.h"

int32_t tm_depthwise_conv2d_s8_ref_scratch_bytes(const tm_conv_params *conv,
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

tm_status tm_depthwise_conv2d_s8_ref(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                     const tm_dims *input_dims, const int8_t *input,
                                     const tm_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const tm_dims *output_dims,
                                     int8_t *output, const tm_scratch *scratch)
{
    tm_status st = tm_check_depthwise(conv, input_dims, input, filter_dims, filter, output_dims,
                                      output);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_quant_s8(quant, output_dims->c);
    if (st != TM_OK) {
        return st;
    }
    (void)scratch;

    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t ch_mult = conv->ch_mult;
    const int32_t input_offset = quant->input_offset;

    for (int32_t b = 0; b < output_dims->n; b++) {
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t in_y0 = oy * conv->stride_h - conv->pad_h;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t in_x0 = ox * conv->stride_w - conv->pad_w;
                for (int32_t ic = 0; ic < input_dims->c; ic++) {
                    for (int32_t m = 0; m < ch_mult; m++) {
                        const int32_t oc = ic * ch_mult + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < k_h; ky++) {
                            const int32_t iy = in_y0 + conv->dilation_h * ky;
                            for (int32_t kx = 0; kx < k_w; kx++) {
                                const int32_t ix = in_x0 + conv->dilation_w * kx;
                                if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                                    continue;
                                }
                                const int32_t x = input[tm_offset4(input_dims, b, iy, ix, ic)];
                                const int32_t w = filter[tm_offset4(filter_dims, 0, ky, kx, oc)];
                                acc += w * (x + input_offset);
                            }
                        }
                        if (bias != NULL) {
                            acc += bias[oc];
                        }
                        const int32_t q = quant->per_channel ? oc : 0;
                        output[tm_offset4(output_dims, b, oy, ox, oc)] =
                            tm_requant_s8(acc, quant->multiplier[q], quant->shift[q],
                                          quant->output_offset, quant->act_min, quant->act_max);
                    }
                }
            }
        }
    }
    return TM_OK;
}
