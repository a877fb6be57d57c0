/*
 * tm_conv2d_im2col_s8_opt.c - int8 CONV_2D generic path: int16 im2col + 2x2 GEMM, DSP SIMD.
 *
 * Columns: the receptive field of one output pixel, K = kh * kw * ic values (x + input offset) as
 * int16, zeros for taps outside the input.  Per tap, ic bytes are widened 4 at a time (one word
 * load, SXTAB16 twice, PKHBT/PKHTB to restore natural order, two word stores), plus an ic mod 4
 * scalar tail.  Two columns are gathered (two consecutive output pixels); the second column starts
 * K int16 after the first (not rounded up), so for odd K it sits at a 2 mod 4 byte address and
 * every word load from it is unaligned (the 2021 behaviour behind the odd-ic penalty).
 *
 * GEMM micro-kernel: 2 output channels x 2 columns, K in steps of 4 - one weight word per
 * channel widened to natural order (SXTB16 + PKH), two int16x2 words per column, 8 SMLAD - then a
 * K mod 4 scalar tail; 4 requantizations.  An odd channel count ends with a 1 channel x 2 column
 * variant.  An odd pixel count leaves one column, flushed at the end with a 1 x 1 loop (steps of 4,
 * 2 SMLAD, scalar tail).
 *
 * Scratch: 2 * K int16 = 4 * K bytes.
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

int32_t tm_conv2d_im2col_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                              const tm_dims *input_dims,
                                              const tm_dims *filter_dims,
                                              const tm_dims *output_dims)
{
    (void)conv;
    (void)output_dims;
    if (input_dims == NULL || filter_dims == NULL) {
        return 0;
    }
    return 2 * filter_dims->h * filter_dims->w * input_dims->c * (int32_t)sizeof(int16_t);
}

/* Widen n int8 values with the offset into int16: words of 4, then an n mod 4 scalar tail. */
static inline void tm_widen_row(const int8_t *src, int16_t *dst, int32_t n, int32_t offset)
{
    const int32_t offset2 = tm_dup16(offset);
    for (int32_t blk = n >> 2; blk > 0; blk--) {
        int32_t lo;
        const int32_t hi = tm_widen_offset_s8x4(tm_read_s8x4_inc(&src), offset2, &lo);
        tm_write_s16x2(dst, lo);
        tm_write_s16x2(dst + 2, hi);
        dst += 4;
    }
    for (int32_t r = n & 3; r > 0; r--) {
        *dst++ = (int16_t)(*src++ + offset);
    }
}

/* Gather the receptive field of output pixel (b, oy, ox) into col. */
static void tm_im2col_fill(const tm_conv_params *conv, const tm_dims *in, const int8_t *input,
                           int32_t k_h, int32_t k_w, int32_t b, int32_t oy, int32_t ox,
                           int32_t offset, int16_t *col)
{
    const int32_t ic = in->c;
    const int32_t in_y0 = oy * conv->stride_h - conv->pad_h;
    const int32_t in_x0 = ox * conv->stride_w - conv->pad_w;
    for (int32_t ky = 0; ky < k_h; ky++) {
        const int32_t iy = in_y0 + conv->dilation_h * ky;
        for (int32_t kx = 0; kx < k_w; kx++) {
            const int32_t ix = in_x0 + conv->dilation_w * kx;
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
                for (int32_t i = 0; i < ic; i++) {
                    col[i] = 0;
                }
            } else {
                tm_widen_row(input + tm_offset4(in, b, iy, ix, 0), col, ic, offset);
            }
            col += ic;
        }
    }
}

/* out0[c] / out1[c] for every channel from two columns (2x2 micro-kernel). */
static void tm_gemm_2col(const int8_t *filter, const int32_t *bias, const tm_quant_s8 *q,
                         int32_t n_ch, int32_t k, const int16_t *col0, const int16_t *col1,
                         int8_t *out0, int8_t *out1)
{
    const int32_t pc = q->per_channel ? 1 : 0;
    int32_t c = 0;
    for (; c + 1 < n_ch; c += 2) {
        const int8_t *wa = filter + c * k;
        const int8_t *wb = wa + k;
        const int16_t *x0 = col0;
        const int16_t *x1 = col1;
        int32_t a0 = (bias != NULL) ? bias[c] : 0;
        int32_t b0 = (bias != NULL) ? bias[c + 1] : 0;
        int32_t a1 = a0;
        int32_t b1 = b0;
        for (int32_t blk = k >> 2; blk > 0; blk--) {
            int32_t wa_lo;
            int32_t wb_lo;
            const int32_t wa_hi = tm_widen_s8x4(tm_read_s8x4_inc(&wa), &wa_lo);
            const int32_t wb_hi = tm_widen_s8x4(tm_read_s8x4_inc(&wb), &wb_lo);
            const int32_t x0_lo = tm_read_s16x2_inc(&x0);
            const int32_t x0_hi = tm_read_s16x2_inc(&x0);
            const int32_t x1_lo = tm_read_s16x2_inc(&x1);
            const int32_t x1_hi = tm_read_s16x2_inc(&x1);
            a0 = tm_smlad(wa_lo, x0_lo, a0);
            a0 = tm_smlad(wa_hi, x0_hi, a0);
            a1 = tm_smlad(wa_lo, x1_lo, a1);
            a1 = tm_smlad(wa_hi, x1_hi, a1);
            b0 = tm_smlad(wb_lo, x0_lo, b0);
            b0 = tm_smlad(wb_hi, x0_hi, b0);
            b1 = tm_smlad(wb_lo, x1_lo, b1);
            b1 = tm_smlad(wb_hi, x1_hi, b1);
        }
        for (int32_t r = k & 3; r > 0; r--) {
            const int32_t va = *wa++;
            const int32_t vb = *wb++;
            const int32_t v0 = *x0++;
            const int32_t v1 = *x1++;
            a0 += va * v0;
            a1 += va * v1;
            b0 += vb * v0;
            b1 += vb * v1;
        }
        const int32_t ma = q->multiplier[c * pc];
        const int32_t sa = q->shift[c * pc];
        const int32_t mb = q->multiplier[(c + 1) * pc];
        const int32_t sb = q->shift[(c + 1) * pc];
        out0[c] = tm_requant_s8(a0, ma, sa, q->output_offset, q->act_min, q->act_max);
        out0[c + 1] = tm_requant_s8(b0, mb, sb, q->output_offset, q->act_min, q->act_max);
        out1[c] = tm_requant_s8(a1, ma, sa, q->output_offset, q->act_min, q->act_max);
        out1[c + 1] = tm_requant_s8(b1, mb, sb, q->output_offset, q->act_min, q->act_max);
    }
    if (c < n_ch) { /* odd channel count: 1 channel x 2 columns */
        const int8_t *wa = filter + c * k;
        const int16_t *x0 = col0;
        const int16_t *x1 = col1;
        int32_t a0 = (bias != NULL) ? bias[c] : 0;
        int32_t a1 = a0;
        for (int32_t blk = k >> 2; blk > 0; blk--) {
            int32_t wa_lo;
            const int32_t wa_hi = tm_widen_s8x4(tm_read_s8x4_inc(&wa), &wa_lo);
            const int32_t x0_lo = tm_read_s16x2_inc(&x0);
            const int32_t x0_hi = tm_read_s16x2_inc(&x0);
            const int32_t x1_lo = tm_read_s16x2_inc(&x1);
            const int32_t x1_hi = tm_read_s16x2_inc(&x1);
            a0 = tm_smlad(wa_lo, x0_lo, a0);
            a0 = tm_smlad(wa_hi, x0_hi, a0);
            a1 = tm_smlad(wa_lo, x1_lo, a1);
            a1 = tm_smlad(wa_hi, x1_hi, a1);
        }
        for (int32_t r = k & 3; r > 0; r--) {
            const int32_t va = *wa++;
            a0 += va * *x0++;
            a1 += va * *x1++;
        }
        const int32_t m = q->multiplier[c * pc];
        const int32_t s = q->shift[c * pc];
        out0[c] = tm_requant_s8(a0, m, s, q->output_offset, q->act_min, q->act_max);
        out1[c] = tm_requant_s8(a1, m, s, q->output_offset, q->act_min, q->act_max);
    }
}

/* out0[c] for every channel from a single column (odd pixel count). */
static void tm_gemm_1col(const int8_t *filter, const int32_t *bias, const tm_quant_s8 *q,
                         int32_t n_ch, int32_t k, const int16_t *col0, int8_t *out0)
{
    const int32_t pc = q->per_channel ? 1 : 0;
    for (int32_t c = 0; c < n_ch; c++) {
        const int8_t *wa = filter + c * k;
        const int16_t *x0 = col0;
        int32_t a0 = (bias != NULL) ? bias[c] : 0;
        for (int32_t blk = k >> 2; blk > 0; blk--) {
            int32_t wa_lo;
            const int32_t wa_hi = tm_widen_s8x4(tm_read_s8x4_inc(&wa), &wa_lo);
            a0 = tm_smlad(wa_lo, tm_read_s16x2_inc(&x0), a0);
            a0 = tm_smlad(wa_hi, tm_read_s16x2_inc(&x0), a0);
        }
        for (int32_t r = k & 3; r > 0; r--) {
            a0 += *wa++ * *x0++;
        }
        out0[c] = tm_requant_s8(a0, q->multiplier[c * pc], q->shift[c * pc], q->output_offset,
                                q->act_min, q->act_max);
    }
}

tm_status tm_conv2d_im2col_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                  const tm_dims *input_dims, const int8_t *input,
                                  const tm_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const tm_dims *output_dims, int8_t *output,
                                  const tm_scratch *scratch)
{
    tm_status st = tm_check_conv(conv, input_dims, input, filter_dims, filter, output_dims,
                                 output);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_quant_s8(quant, output_dims->c);
    if (st != TM_OK) {
        return st;
    }
    const int32_t need = tm_conv2d_im2col_s8_opt_scratch_bytes(conv, input_dims, filter_dims,
                                                              output_dims);
    st = tm_check_scratch(scratch, need);
    if (st != TM_OK) {
        return st;
    }

    const int32_t k = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t n_ch = output_dims->c;
    int16_t *col0 = (int16_t *)scratch->buf;
    int16_t *col1 = col0 + k; /* stride K, not rounded up */

    for (int32_t b = 0; b < output_dims->n; b++) {
        int8_t *out = output + tm_offset4(output_dims, b, 0, 0, 0);
        int32_t filled = 0;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                tm_im2col_fill(conv, input_dims, input, filter_dims->h, filter_dims->w, b, oy, ox,
                               quant->input_offset, filled ? col1 : col0);
                if (filled) {
                    tm_gemm_2col(filter, bias, quant, n_ch, k, col0, col1, out, out + n_ch);
                    out += 2 * n_ch;
                    filled = 0;
                } else {
                    filled = 1;
                }
            }
        }
        if (filled) {
            tm_gemm_1col(filter, bias, quant, n_ch, k, col0, out);
        }
    }
    return TM_OK;
}
