/*
 * tm_depthwise_conv2d_generic_s8_opt.c - int8 DEPTHWISE_CONV_2D general path (ch_mult == 1),
 * DSP SIMD.
 *
 * Per output pixel an int16 im2col of T = kh * kw taps x ic channels is built (x + input offset,
 * zeros for taps outside the input; per tap ic bytes widened 4 at a time with SXTAB16 + PKH, an
 * ic mod 4 scalar tail).  Then, per group of 4 channels, the taps are consumed two at a time:
 * the int16 inputs of taps t and t+1 are paired per channel with PKHBT / PKHTB, the int8 weights of
 * both taps are widened (SXTB16) and paired the same way, and 4 SMLAD (one per channel) add
 * 8 MACs.  An odd tap count leaves one tap, done with 4 scalar MACs; the ic mod 4 leftover
 * channels run a scalar loop over all taps.  4 requantizations per group.
 *
 * Scratch: kh * kw * ic int16.  Requires ch_mult == 1 (else TM_ERR_UNSUPPORTED).
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

int32_t tm_depthwise_conv2d_generic_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                                         const tm_dims *input_dims,
                                                         const tm_dims *filter_dims,
                                                         const tm_dims *output_dims)
{
    (void)conv;
    (void)output_dims;
    if (input_dims == NULL || filter_dims == NULL) {
        return 0;
    }
    return filter_dims->h * filter_dims->w * input_dims->c * (int32_t)sizeof(int16_t);
}

tm_status tm_depthwise_conv2d_generic_s8_opt(const tm_conv_params *conv,
                                             const tm_quant_s8 *quant,
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
    if (conv->ch_mult != 1) {
        return TM_ERR_UNSUPPORTED;
    }
    st = tm_check_quant_s8(quant, output_dims->c);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_scratch(scratch, tm_depthwise_conv2d_generic_s8_opt_scratch_bytes(
                                       conv, input_dims, filter_dims, output_dims));
    if (st != TM_OK) {
        return st;
    }

    const int32_t ch = input_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t taps = k_h * k_w;
    const int32_t offset = quant->input_offset;
    const int32_t offset2 = tm_dup16(offset);
    const int32_t pc = quant->per_channel ? 1 : 0;
    const int32_t out_off = quant->output_offset;
    const int32_t lo = quant->act_min;
    const int32_t hi = quant->act_max;
    int16_t *col = (int16_t *)scratch->buf;

    for (int32_t b = 0; b < output_dims->n; b++) {
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t in_y0 = oy * conv->stride_h - conv->pad_h;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t in_x0 = ox * conv->stride_w - conv->pad_w;

                /* im2col of this pixel: taps x channels, int16 with offset */
                int16_t *dst = col;
                for (int32_t ky = 0; ky < k_h; ky++) {
                    const int32_t iy = in_y0 + conv->dilation_h * ky;
                    for (int32_t kx = 0; kx < k_w; kx++) {
                        const int32_t ix = in_x0 + conv->dilation_w * kx;
                        if (iy < 0 || iy >= input_dims->h || ix < 0 || ix >= input_dims->w) {
                            for (int32_t i = 0; i < ch; i++) {
                                dst[i] = 0;
                            }
                            dst += ch;
                            continue;
                        }
                        const int8_t *src = input + tm_offset4(input_dims, b, iy, ix, 0);
                        for (int32_t blk = ch >> 2; blk > 0; blk--) {
                            int32_t pair_lo;
                            const int32_t pair_hi =
                                tm_widen_offset_s8x4(tm_read_s8x4_inc(&src), offset2, &pair_lo);
                            tm_write_s16x2(dst, pair_lo);
                            tm_write_s16x2(dst + 2, pair_hi);
                            dst += 4;
                        }
                        for (int32_t r = ch & 3; r > 0; r--) {
                            *dst++ = (int16_t)(*src++ + offset);
                        }
                    }
                }

                int8_t *out = output + tm_offset4(output_dims, b, oy, ox, 0);
                int32_t c = 0;
                for (; c + 3 < ch; c += 4) {
                    int32_t acc0 = (bias != NULL) ? bias[c] : 0;
                    int32_t acc1 = (bias != NULL) ? bias[c + 1] : 0;
                    int32_t acc2 = (bias != NULL) ? bias[c + 2] : 0;
                    int32_t acc3 = (bias != NULL) ? bias[c + 3] : 0;
                    const int16_t *xt = col + c;
                    const int8_t *wt = filter + c;
                    int32_t t = 0;
                    for (; t + 1 < taps; t += 2) {
                        const int32_t xt01 = tm_read_s16x2(xt);          /* tap t, ch 0,1 */
                        const int32_t xt23 = tm_read_s16x2(xt + 2);      /* tap t, ch 2,3 */
                        const int32_t xu01 = tm_read_s16x2(xt + ch);     /* tap t+1 */
                        const int32_t xu23 = tm_read_s16x2(xt + ch + 2);
                        const int32_t wtw = tm_read_s8x4(wt);
                        const int32_t wuw = tm_read_s8x4(wt + ch);
                        const int32_t wt02 = tm_sxtb16(wtw);
                        const int32_t wt13 = tm_sxtb16((int32_t)tm_ror((uint32_t)wtw, 8u));
                        const int32_t wu02 = tm_sxtb16(wuw);
                        const int32_t wu13 = tm_sxtb16((int32_t)tm_ror((uint32_t)wuw, 8u));
                        /* per channel j: (tap t, tap t+1) pairs of inputs and of weights */
                        acc0 = tm_smlad(tm_pkhbt(xt01, xu01, 16u), tm_pkhbt(wt02, wu02, 16u), acc0);
                        acc1 = tm_smlad(tm_pkhtb(xu01, xt01, 16u), tm_pkhbt(wt13, wu13, 16u), acc1);
                        acc2 = tm_smlad(tm_pkhbt(xt23, xu23, 16u), tm_pkhtb(wu02, wt02, 16u), acc2);
                        acc3 = tm_smlad(tm_pkhtb(xu23, xt23, 16u), tm_pkhtb(wu13, wt13, 16u), acc3);
                        xt += 2 * ch;
                        wt += 2 * ch;
                    }
                    if (t < taps) { /* odd tap count: last tap, 4 scalar MACs */
                        acc0 += xt[0] * wt[0];
                        acc1 += xt[1] * wt[1];
                        acc2 += xt[2] * wt[2];
                        acc3 += xt[3] * wt[3];
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
                    const int16_t *xt = col + c;
                    const int8_t *wt = filter + c;
                    for (int32_t t = 0; t < taps; t++) {
                        acc += *xt * *wt;
                        xt += ch;
                        wt += ch;
                    }
                    out[c] = tm_requant_s8(acc, quant->multiplier[c * pc], quant->shift[c * pc],
                                           out_off, lo, hi);
                }
            }
        }
    }
    return TM_OK;
}
