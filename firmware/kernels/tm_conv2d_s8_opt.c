/*
 * tm_conv2d_s8_opt.c - int8 CONV_2D with DSP SIMD: the dispatching wrapper.
 *
 * Path (2021 CMSIS-NN conditions):
 *   TM_PATH_CONV_1X1    1x1 kernel, stride 1, no padding, output size = input size and
 *                       ic % 4 == 0: GEMM straight on the input pixels (tm_conv2d_1x1_s8_opt.c);
 *   TM_PATH_CONV_IM2COL everything else: int16 im2col of two pixels and a 2x2 GEMM micro-kernel
 *                       (tm_conv2d_im2col_s8_opt.c); scratch 2 * K int16, K = kh * kw * ic.
 * A 1x1 layer with ic % 4 != 0 therefore falls back to im2col (a step of ~30 % in cycles).
 */
#include "tm_internal.h"

tm_path tm_conv2d_s8_opt_path(const tm_conv_params *conv, const tm_dims *input_dims,
                              const tm_dims *filter_dims, const tm_dims *output_dims)
{
    if (conv == NULL || input_dims == NULL || filter_dims == NULL || output_dims == NULL) {
        return TM_PATH_CONV_IM2COL;
    }
    if (filter_dims->h == 1 && filter_dims->w == 1 && conv->stride_h == 1 &&
        conv->stride_w == 1 && conv->pad_h == 0 && conv->pad_w == 0 &&
        output_dims->h == input_dims->h && output_dims->w == input_dims->w &&
        (input_dims->c % 4) == 0) {
        return TM_PATH_CONV_1X1;
    }
    return TM_PATH_CONV_IM2COL;
}

int32_t tm_conv2d_s8_opt_scratch_bytes(const tm_conv_params *conv, const tm_dims *input_dims,
                                       const tm_dims *filter_dims, const tm_dims *output_dims)
{
    if (tm_conv2d_s8_opt_path(conv, input_dims, filter_dims, output_dims) == TM_PATH_CONV_1X1) {
        return 0;
    }
    return tm_conv2d_im2col_s8_opt_scratch_bytes(conv, input_dims, filter_dims, output_dims);
}

tm_status tm_conv2d_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                           const tm_dims *input_dims, const int8_t *input,
                           const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const tm_dims *output_dims, int8_t *output, const tm_scratch *scratch)
{
    const tm_status st = tm_check_conv(conv, input_dims, input, filter_dims, filter, output_dims,
                                       output);
    if (st != TM_OK) {
        return st;
    }
    if (tm_conv2d_s8_opt_path(conv, input_dims, filter_dims, output_dims) == TM_PATH_CONV_1X1) {
        return tm_conv2d_1x1_s8_opt(conv, quant, input_dims, input, filter_dims, filter, bias,
                                    output_dims, output, scratch);
    }
    return tm_conv2d_im2col_s8_opt(conv, quant, input_dims, input, filter_dims, filter, bias,
                                   output_dims, output, scratch);
}
