/*
 * tm_transpose_conv_s8_ref.c - int8 TRANSPOSE_CONV, reference structure.
 *
 * The scatter form of TFLite's reference kernel (tflite-op-arithmetic.md section 14(b)): per
 * batch, an int32 scratch the size of the output is zeroed; every input pixel (y, x), input
 * channel, tap (ky, kx) and output channel adds (x + input_offset) * w to the output element
 * (y * stride - pad + ky, x * stride - pad + kx) when that element lies inside the output.  Then
 * the bias is added and each element requantized with its channel's multiplier (double rounding,
 * like CONV_2D).  Loop order: batch, y, x, ic, ky, kx, oc; one scalar MAC per step, no residue
 * effect.
 */
#include "tm_internal.h"
#include "tm_requant.h"

int32_t tm_transpose_conv_s8_ref_scratch_bytes(const tm_conv_params *conv,
                                               const tm_dims *input_dims,
                                               const tm_dims *filter_dims,
                                               const tm_dims *output_dims)
{
    (void)conv;
    (void)input_dims;
    (void)filter_dims;
    const int64_t bytes = (int64_t)output_dims->h * output_dims->w * output_dims->c * 4;
    return bytes > 0x7FFFFFFF ? -1 : (int32_t)bytes;
}

tm_status tm_transpose_conv_s8_ref(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                   const tm_dims *input_dims, const int8_t *input,
                                   const tm_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, const tm_dims *output_dims,
                                   int8_t *output, const tm_scratch *scratch)
{
    tm_status st = tm_check_transpose_conv(conv, input_dims, input, filter_dims, filter,
                                           output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_quant_s8(quant, output_dims->c);
    if (st != TM_OK) {
        return st;
    }
    const int32_t need = tm_transpose_conv_s8_ref_scratch_bytes(conv, input_dims, filter_dims,
                                                                output_dims);
    if (need < 0) {
        return TM_ERR_SHAPE;
    }
    st = tm_check_scratch(scratch, need);
    if (st != TM_OK) {
        return st;
    }
    int32_t *acc = (int32_t *)scratch->buf;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t in_c = input_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t plane = out_h * out_w * out_c;
    const int32_t input_offset = quant->input_offset;

    for (int32_t b = 0; b < input_dims->n; b++) {
        for (int32_t i = 0; i < plane; i++) {
            acc[i] = 0;
        }
        for (int32_t y = 0; y < input_dims->h; y++) {
            const int32_t oy0 = y * conv->stride_h - conv->pad_h;
            for (int32_t x = 0; x < input_dims->w; x++) {
                const int32_t ox0 = x * conv->stride_w - conv->pad_w;
                for (int32_t ic = 0; ic < in_c; ic++) {
                    const int32_t v = input[tm_offset4(input_dims, b, y, x, ic)] + input_offset;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t oy = oy0 + ky;
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t ox = ox0 + kx;
                            if (oy < 0 || oy >= out_h || ox < 0 || ox >= out_w) {
                                continue;
                            }
                            int32_t *dst = &acc[(oy * out_w + ox) * out_c];
                            for (int32_t oc = 0; oc < out_c; oc++) {
                                const int32_t w = filter[tm_offset4(filter_dims, oc, ky, kx, ic)];
                                dst[oc] += v * w;
                            }
                        }
                    }
                }
            }
        }
        int8_t *out = output + b * plane;
        for (int32_t i = 0; i < plane; i++) {
            const int32_t oc = i % out_c;
            int32_t a = acc[i];
            if (bias != NULL) {
                a += bias[oc];
            }
            const int32_t q = quant->per_channel ? oc : 0;
            out[i] = tm_requant_s8(a, quant->multiplier[q], quant->shift[q], quant->output_offset,
                                   quant->act_min, quant->act_max);
        }
    }
    return TM_OK;
}
