/*
 * tm_depthwise_conv2d_3x3_s8_opt.c - int8 3x3 DEPTHWISE_CONV_2D special path, DSP SIMD.
 *
 * Domain: ch_mult == 1, 3x3 kernel, dilation 1, pad_h <= 1, pad_w <= 1 (any stride); anything else
 * returns TM_ERR_UNSUPPORTED.
 *
 * Vectorised across channels, no im2col.  For each output pixel the valid tap range is computed
 * once (rows and columns outside the input are skipped, so there are 4, 6 or 9 taps); then
 *   for each group of 4 channels:
 *     per valid tap: one word load of 4 inputs and one of 4 weights, each widened with SXTB16 /
 *     SXTAB16 (input offset folded into the widening), and 4 halfword MACs
 *     (SMLABB / SMLATT on the even and odd lanes) into 4 accumulators;
 *     then 4 requantizations;
 *   the ic mod 4 leftover channels: a scalar loop over the same taps, one output per channel.
 * Channel groups start at c bytes into each pixel, so for ic not a multiple of 4 most word loads
 * are unaligned.
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

tm_status tm_depthwise_conv2d_3x3_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
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
    if (tm_depthwise_conv2d_s8_opt_path(conv, input_dims, filter_dims, output_dims) !=
        TM_PATH_DW_3X3) {
        return TM_ERR_UNSUPPORTED;
    }
    st = tm_check_quant_s8(quant, output_dims->c);
    if (st != TM_OK) {
        return st;
    }
    (void)scratch;

    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t offset = quant->input_offset;
    const int32_t offset2 = tm_dup16(offset);
    const int32_t pc = quant->per_channel ? 1 : 0;
    const int32_t out_off = quant->output_offset;
    const int32_t lo = quant->act_min;
    const int32_t hi = quant->act_max;

    for (int32_t b = 0; b < output_dims->n; b++) {
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t in_y0 = oy * conv->stride_h - conv->pad_h;
            const int32_t ky0 = (in_y0 < 0) ? -in_y0 : 0;
            const int32_t ky1 = (in_h - in_y0 < 3) ? in_h - in_y0 : 3;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t in_x0 = ox * conv->stride_w - conv->pad_w;
                const int32_t kx0 = (in_x0 < 0) ? -in_x0 : 0;
                const int32_t kx1 = (in_w - in_x0 < 3) ? in_w - in_x0 : 3;
                int8_t *out = output + tm_offset4(output_dims, b, oy, ox, 0);
                int32_t c = 0;
                for (; c + 3 < ch; c += 4) {
                    int32_t acc0 = (bias != NULL) ? bias[c] : 0;
                    int32_t acc1 = (bias != NULL) ? bias[c + 1] : 0;
                    int32_t acc2 = (bias != NULL) ? bias[c + 2] : 0;
                    int32_t acc3 = (bias != NULL) ? bias[c + 3] : 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row =
                            input + tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx0, c);
                        const int8_t *wrow = filter + (ky * 3 + kx0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int32_t xw = tm_read_s8x4(row);
                            const int32_t ww = tm_read_s8x4(wrow);
                            row += ch;
                            wrow += ch;
                            const int32_t x_even = tm_sxtab16(offset2, xw);
                            const int32_t x_odd =
                                tm_sxtab16(offset2, (int32_t)tm_ror((uint32_t)xw, 8u));
                            const int32_t w_even = tm_sxtb16(ww);
                            const int32_t w_odd = tm_sxtb16((int32_t)tm_ror((uint32_t)ww, 8u));
                            acc0 = tm_smlabb(x_even, w_even, acc0);
                            acc2 = tm_smlatt(x_even, w_even, acc2);
                            acc1 = tm_smlabb(x_odd, w_odd, acc1);
                            acc3 = tm_smlatt(x_odd, w_odd, acc3);
                        }
                    }
                    out[c] = tm_requant_s8(acc0, quant->multiplier[c * pc], quant->shift[c * pc],
                                           out_off, lo, hi);
                    out[c + 1] = tm_requant_s8(acc1, quant->multiplier[(c + 1) * pc],
                                               quant->shift[(c + 1) * pc], out_off, lo, hi);
                    out[c + 2] = tm_requant_s8(acc2, quant->multiplier[(c + 2) * pc],
                                               quant->shift[(c + 2) * pc], out_off, lo, hi);
                    out[c + 3] = tm_requant_s8(acc3, quant->multiplier[(c + 3) * pc],
                                               quant->shift[(c + 3) * pc], out_off, lo, hi);
                }
                for (; c < ch; c++) { /* ic mod 4 leftover channels */
                    int32_t acc = (bias != NULL) ? bias[c] : 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row =
                            input + tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx0, c);
                        const int8_t *wrow = filter + (ky * 3 + kx0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            acc += (*row + offset) * *wrow;
                            row += ch;
                            wrow += ch;
                        }
                    }
                    out[c] = tm_requant_s8(acc, quant->multiplier[c * pc], quant->shift[c * pc],
                                           out_off, lo, hi);
                }
            }
        }
    }
    (void)filter_dims;
    return TM_OK;
}
