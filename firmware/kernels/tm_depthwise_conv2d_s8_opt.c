/*
 * tm_depthwise_conv2d_s8_opt.c - int8 DEPTHWISE_CONV_2D with DSP SIMD: the dispatching wrapper.
 *
 * Path (2021 CMSIS-NN conditions):
 *   TM_PATH_REF        ch_mult != 1: the scalar reference kernel (tm_depthwise_conv2d_s8_ref);
 *   TM_PATH_DW_3X3     ch_mult == 1, 3x3 kernel, dilation 1, pad_h <= 1 and pad_w <= 1:
 *                      no im2col, 4 channels per step (tm_depthwise_conv2d_3x3_s8_opt.c);
 *   TM_PATH_DW_GENERIC ch_mult == 1 otherwise: per-pixel int16 im2col, 4 channels x 2 taps per
 *                      step (tm_depthwise_conv2d_generic_s8_opt.c); scratch kh * kw * ic int16.
 */
#include "tm_internal.h"

tm_path tm_depthwise_conv2d_s8_opt_path(const tm_conv_params *conv, const tm_dims *input_dims,
                                        const tm_dims *filter_dims, const tm_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    if (conv == NULL || filter_dims == NULL || conv->ch_mult != 1) {
        return TM_PATH_REF;
    }
    if (filter_dims->h == 3 && filter_dims->w == 3 && conv->dilation_h == 1 &&
        conv->dilation_w == 1 && conv->pad_h <= 1 && conv->pad_w <= 1) {
        return TM_PATH_DW_3X3;
    }
    return TM_PATH_DW_GENERIC;
}

int32_t tm_depthwise_conv2d_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                                 const tm_dims *input_dims,
                                                 const tm_dims *filter_dims,
                                                 const tm_dims *output_dims)
{
    if (tm_depthwise_conv2d_s8_opt_path(conv, input_dims, filter_dims, output_dims) ==
        TM_PATH_DW_GENERIC) {
        return tm_depthwise_conv2d_generic_s8_opt_scratch_bytes(conv, input_dims, filter_dims,
                                                                output_dims);
    }
    return 0;
}

tm_status tm_depthwise_conv2d_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                     const tm_dims *input_dims, const int8_t *input,
                                     const tm_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const tm_dims *output_dims,
                                     int8_t *output, const tm_scratch *scratch)
{
    const tm_status st = tm_check_depthwise(conv, input_dims, input, filter_dims, filter,
                                            output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    switch (tm_depthwise_conv2d_s8_opt_path(conv, input_dims, filter_dims, output_dims)) {
    case TM_PATH_DW_3X3:
        return tm_depthwise_conv2d_3x3_s8_opt(conv, quant, input_dims, input, filter_dims, filter,
                                              bias, output_dims, output, scratch);
    case TM_PATH_DW_GENERIC:
        return tm_depthwise_conv2d_generic_s8_opt(conv, quant, input_dims, input, filter_dims,
                                                  filter, bias, output_dims, output, scratch);
    default:
        return tm_depthwise_conv2d_s8_ref(conv, quant, input_dims, input, filter_dims, filter,
                                          bias, output_dims, output, scratch);
    }
}
