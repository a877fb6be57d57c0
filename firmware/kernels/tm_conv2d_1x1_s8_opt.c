/*
 * tm_conv2d_1x1_s8_opt.c - int8 1x1 CONV_2D fast path (no im2col), DSP SIMD.
 *
 * Domain: 1x1 kernel, stride 1, no padding, output size = input size, ic % 4 == 0 (the 2021
 * CMSIS-NN condition); anything else returns TM_ERR_UNSUPPORTED.
 *
 * Every input pixel is already a row of K = ic int8, so the layer is a GEMM
 * out[p][c] = sum_k (x[p][k] + zx) * w[c][k] + bias[c].  The input offset is folded into the
 * bias once per output channel: acc0 = bias[c] + zx * sum_k w[c][k], and the inner loop
 * multiplies raw int8 values.
 *
 * Loop structure:
 *   for each pair of output channels (c, c+1)      - weight row sums computed here
 *     for each pair of pixels (p, p+1)             - 2x2 micro-kernel, 4 accumulators
 *       K in blocks of 16 (4 words per operand, 8 SMLAD per word step), then blocks of 4,
 *       then a scalar tail (empty while ic % 4 == 0); 4 requantizations
 *     an odd last pixel: 1 pixel x 2 channels, same steps
 *   an odd last channel: a scalar row loop (one MAC per step) over every pixel.
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

/* Sum of the K weights of one output channel. */
static int32_t tm_row_sum(const int8_t *w, int32_t k)
{
    int32_t sum = 0;
    for (int32_t i = 0; i < k; i++) {
        sum += w[i];
    }
    return sum;
}

/* One word step of the 2x2 micro-kernel: pixels a0/a1 against channels b0/b1. */
static inline void tm_mm_word_2x2(const int8_t **a0, const int8_t **a1, const int8_t **b0,
                                  const int8_t **b1, int32_t acc[4])
{
    const int32_t x0 = tm_read_s8x4_inc(a0);
    const int32_t x1 = tm_read_s8x4_inc(a1);
    const int32_t w0 = tm_read_s8x4_inc(b0);
    const int32_t w1 = tm_read_s8x4_inc(b1);
    const int32_t x0e = tm_sxtb16(x0);
    const int32_t x0o = tm_sxtb16((int32_t)tm_ror((uint32_t)x0, 8u));
    const int32_t x1e = tm_sxtb16(x1);
    const int32_t x1o = tm_sxtb16((int32_t)tm_ror((uint32_t)x1, 8u));
    const int32_t w0e = tm_sxtb16(w0);
    const int32_t w0o = tm_sxtb16((int32_t)tm_ror((uint32_t)w0, 8u));
    const int32_t w1e = tm_sxtb16(w1);
    const int32_t w1o = tm_sxtb16((int32_t)tm_ror((uint32_t)w1, 8u));
    acc[0] = tm_smlad(x0e, w0e, acc[0]); /* pixel 0, channel 0 */
    acc[0] = tm_smlad(x0o, w0o, acc[0]);
    acc[1] = tm_smlad(x0e, w1e, acc[1]); /* pixel 0, channel 1 */
    acc[1] = tm_smlad(x0o, w1o, acc[1]);
    acc[2] = tm_smlad(x1e, w0e, acc[2]); /* pixel 1, channel 0 */
    acc[2] = tm_smlad(x1o, w0o, acc[2]);
    acc[3] = tm_smlad(x1e, w1e, acc[3]); /* pixel 1, channel 1 */
    acc[3] = tm_smlad(x1o, w1o, acc[3]);
}

/* One word step of the 1x2 micro-kernel: pixel a0 against channels b0/b1. */
static inline void tm_mm_word_1x2(const int8_t **a0, const int8_t **b0, const int8_t **b1,
                                  int32_t acc[2])
{
    const int32_t x0 = tm_read_s8x4_inc(a0);
    const int32_t w0 = tm_read_s8x4_inc(b0);
    const int32_t w1 = tm_read_s8x4_inc(b1);
    const int32_t x0e = tm_sxtb16(x0);
    const int32_t x0o = tm_sxtb16((int32_t)tm_ror((uint32_t)x0, 8u));
    acc[0] = tm_smlad(x0e, tm_sxtb16(w0), acc[0]);
    acc[0] = tm_smlad(x0o, tm_sxtb16((int32_t)tm_ror((uint32_t)w0, 8u)), acc[0]);
    acc[1] = tm_smlad(x0e, tm_sxtb16(w1), acc[1]);
    acc[1] = tm_smlad(x0o, tm_sxtb16((int32_t)tm_ror((uint32_t)w1, 8u)), acc[1]);
}

tm_status tm_conv2d_1x1_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
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
    if (tm_conv2d_s8_opt_path(conv, input_dims, filter_dims, output_dims) != TM_PATH_CONV_1X1) {
        return TM_ERR_UNSUPPORTED;
    }
    st = tm_check_quant_s8(quant, output_dims->c);
    if (st != TM_OK) {
        return st;
    }
    (void)scratch;

    const int32_t k = input_dims->c;
    const int32_t n_ch = output_dims->c;
    const int32_t n_pix = input_dims->n * input_dims->h * input_dims->w;
    const int32_t zx = quant->input_offset;
    const int32_t pc = quant->per_channel ? 1 : 0;
    const int32_t out_off = quant->output_offset;
    const int32_t lo = quant->act_min;
    const int32_t hi = quant->act_max;

    int32_t c = 0;
    for (; c + 1 < n_ch; c += 2) {
        const int8_t *wc0 = filter + c * k;
        const int8_t *wc1 = wc0 + k;
        const int32_t init0 = ((bias != NULL) ? bias[c] : 0) + zx * tm_row_sum(wc0, k);
        const int32_t init1 = ((bias != NULL) ? bias[c + 1] : 0) + zx * tm_row_sum(wc1, k);
        const int32_t m0 = quant->multiplier[c * pc];
        const int32_t s0 = quant->shift[c * pc];
        const int32_t m1 = quant->multiplier[(c + 1) * pc];
        const int32_t s1 = quant->shift[(c + 1) * pc];
        int32_t p = 0;
        for (; p + 1 < n_pix; p += 2) {
            const int8_t *a0 = input + p * k;
            const int8_t *a1 = a0 + k;
            const int8_t *b0 = wc0;
            const int8_t *b1 = wc1;
            int32_t acc[4] = {init0, init1, init0, init1};
            for (int32_t blk = k >> 4; blk > 0; blk--) {
                tm_mm_word_2x2(&a0, &a1, &b0, &b1, acc);
                tm_mm_word_2x2(&a0, &a1, &b0, &b1, acc);
                tm_mm_word_2x2(&a0, &a1, &b0, &b1, acc);
                tm_mm_word_2x2(&a0, &a1, &b0, &b1, acc);
            }
            for (int32_t blk = (k & 15) >> 2; blk > 0; blk--) {
                tm_mm_word_2x2(&a0, &a1, &b0, &b1, acc);
            }
            for (int32_t r = k & 3; r > 0; r--) {
                const int32_t x0 = *a0++;
                const int32_t x1 = *a1++;
                const int32_t w0 = *b0++;
                const int32_t w1 = *b1++;
                acc[0] += x0 * w0;
                acc[1] += x0 * w1;
                acc[2] += x1 * w0;
                acc[3] += x1 * w1;
            }
            int8_t *out = output + p * n_ch + c;
            out[0] = tm_requant_s8(acc[0], m0, s0, out_off, lo, hi);
            out[1] = tm_requant_s8(acc[1], m1, s1, out_off, lo, hi);
            out[n_ch] = tm_requant_s8(acc[2], m0, s0, out_off, lo, hi);
            out[n_ch + 1] = tm_requant_s8(acc[3], m1, s1, out_off, lo, hi);
        }
        if (p < n_pix) { /* odd last pixel */
            const int8_t *a0 = input + p * k;
            const int8_t *b0 = wc0;
            const int8_t *b1 = wc1;
            int32_t acc[2] = {init0, init1};
            for (int32_t blk = k >> 4; blk > 0; blk--) {
                tm_mm_word_1x2(&a0, &b0, &b1, acc);
                tm_mm_word_1x2(&a0, &b0, &b1, acc);
                tm_mm_word_1x2(&a0, &b0, &b1, acc);
                tm_mm_word_1x2(&a0, &b0, &b1, acc);
            }
            for (int32_t blk = (k & 15) >> 2; blk > 0; blk--) {
                tm_mm_word_1x2(&a0, &b0, &b1, acc);
            }
            for (int32_t r = k & 3; r > 0; r--) {
                const int32_t x0 = *a0++;
                acc[0] += x0 * *b0++;
                acc[1] += x0 * *b1++;
            }
            int8_t *out = output + p * n_ch + c;
            out[0] = tm_requant_s8(acc[0], m0, s0, out_off, lo, hi);
            out[1] = tm_requant_s8(acc[1], m1, s1, out_off, lo, hi);
        }
    }
    if (c < n_ch) { /* odd last channel: scalar row loop */
        const int8_t *wc = filter + c * k;
        const int32_t init = ((bias != NULL) ? bias[c] : 0) + zx * tm_row_sum(wc, k);
        const int32_t m = quant->multiplier[c * pc];
        const int32_t s = quant->shift[c * pc];
        for (int32_t p = 0; p < n_pix; p++) {
            const int8_t *a = input + p * k;
            int32_t acc = init;
            for (int32_t i = 0; i < k; i++) {
                acc += a[i] * wc[i];
            }
            output[p * n_ch + c] = tm_requant_s8(acc, m, s, out_off, lo, hi);
        }
    }
    return TM_OK;
}
