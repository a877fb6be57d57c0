/*
 * tm_fully_connected_s8_opt.c - int8 FULLY_CONNECTED with DSP SIMD (2021 CMSIS-NN structure).
 *
 * Per batch row:
 *   - output rows are taken two at a time, so each input word is loaded and widened once for two
 *     weight rows; an odd last row runs a one-row copy of the same loop;
 *   - the reduction over K = in_features runs in blocks of 16 int8 (4 words, unrolled), each word
 *     widened with SXTB16 / SXTAB16 (input offset added in the widening) and consumed by two SMLAD
 *     per row; the K mod 16 leftover elements go through a scalar one-element loop.
 *     Latency therefore has a period-16 sawtooth in K.
 *   - weight rows start at r * K bytes and are read with unaligned word loads: for K odd 3/4 of the
 *     rows are misaligned, for K = 2 mod 4 half of them.
 * Both operands are widened into the same lane permutation ((b0, b2) and (b1, b3)), so no PKH is
 * needed.  Requantization once per output, rounding once like the reference (tm_requantize_fc).
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

int32_t tm_fully_connected_s8_opt_scratch_bytes(const tm_fc_dims *dims)
{
    (void)dims;
    return 0;
}

/* 4 MACs of one input word against two weight rows. */
static inline void tm_fc_word2(const int8_t **x, const int8_t **w0, const int8_t **w1,
                               int32_t offset2, int32_t *acc0, int32_t *acc1)
{
    const int32_t xw = tm_read_s8x4_inc(x);
    const int32_t x_even = tm_sxtab16(offset2, xw);
    const int32_t x_odd = tm_sxtab16(offset2, (int32_t)tm_ror((uint32_t)xw, 8u));
    const int32_t a = tm_read_s8x4_inc(w0);
    const int32_t b = tm_read_s8x4_inc(w1);
    *acc0 = tm_smlad(x_even, tm_sxtb16(a), *acc0);
    *acc0 = tm_smlad(x_odd, tm_sxtb16((int32_t)tm_ror((uint32_t)a, 8u)), *acc0);
    *acc1 = tm_smlad(x_even, tm_sxtb16(b), *acc1);
    *acc1 = tm_smlad(x_odd, tm_sxtb16((int32_t)tm_ror((uint32_t)b, 8u)), *acc1);
}

/* 4 MACs of one input word against one weight row. */
static inline void tm_fc_word1(const int8_t **x, const int8_t **w0, int32_t offset2,
                               int32_t *acc0)
{
    const int32_t xw = tm_read_s8x4_inc(x);
    const int32_t x_even = tm_sxtab16(offset2, xw);
    const int32_t x_odd = tm_sxtab16(offset2, (int32_t)tm_ror((uint32_t)xw, 8u));
    const int32_t a = tm_read_s8x4_inc(w0);
    *acc0 = tm_smlad(x_even, tm_sxtb16(a), *acc0);
    *acc0 = tm_smlad(x_odd, tm_sxtb16((int32_t)tm_ror((uint32_t)a, 8u)), *acc0);
}

tm_status tm_fully_connected_s8_opt(const tm_quant_s8 *quant, const tm_fc_dims *dims,
                                    const int8_t *input, const int8_t *weights,
                                    const int32_t *bias, int8_t *output,
                                    const tm_scratch *scratch)
{
    tm_status st = tm_check_fc(dims, input, weights, output);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_quant_fc_s8(quant, dims->out_features);
    if (st != TM_OK) {
        return st;
    }
    (void)scratch;

    const int32_t k = dims->in_features;
    const int32_t n_out = dims->out_features;
    const int32_t offset = quant->input_offset;
    const int32_t offset2 = tm_dup16(offset);
    const int32_t *mult = quant->multiplier;
    const int32_t *shift = quant->shift;
    const int32_t pc = quant->per_channel ? 1 : 0;

    for (int32_t b = 0; b < dims->batches; b++) {
        const int8_t *x_row = input + b * k;
        int8_t *out = output + b * n_out;
        int32_t o = 0;
        for (; o + 1 < n_out; o += 2) {
            const int8_t *x = x_row;
            const int8_t *w0 = weights + o * k;
            const int8_t *w1 = w0 + k;
            int32_t acc0 = (bias != NULL) ? bias[o] : 0;
            int32_t acc1 = (bias != NULL) ? bias[o + 1] : 0;
            for (int32_t blk = k >> 4; blk > 0; blk--) {
                tm_fc_word2(&x, &w0, &w1, offset2, &acc0, &acc1);
                tm_fc_word2(&x, &w0, &w1, offset2, &acc0, &acc1);
                tm_fc_word2(&x, &w0, &w1, offset2, &acc0, &acc1);
                tm_fc_word2(&x, &w0, &w1, offset2, &acc0, &acc1);
            }
            for (int32_t r = k & 15; r > 0; r--) {
                const int32_t xv = *x++ + offset;
                acc0 += xv * *w0++;
                acc1 += xv * *w1++;
            }
            out[o] = tm_requant_fc_s8(acc0, mult[o * pc], shift[o * pc], quant->output_offset,
                                   quant->act_min, quant->act_max);
            out[o + 1] = tm_requant_fc_s8(acc1, mult[(o + 1) * pc], shift[(o + 1) * pc],
                                       quant->output_offset, quant->act_min, quant->act_max);
        }
        if (o < n_out) { /* odd last row */
            const int8_t *x = x_row;
            const int8_t *w0 = weights + o * k;
            int32_t acc0 = (bias != NULL) ? bias[o] : 0;
            for (int32_t blk = k >> 4; blk > 0; blk--) {
                tm_fc_word1(&x, &w0, offset2, &acc0);
                tm_fc_word1(&x, &w0, offset2, &acc0);
                tm_fc_word1(&x, &w0, offset2, &acc0);
                tm_fc_word1(&x, &w0, offset2, &acc0);
            }
            for (int32_t r = k & 15; r > 0; r--) {
                acc0 += (*x++ + offset) * *w0++;
            }
            out[o] = tm_requant_fc_s8(acc0, mult[o * pc], shift[o * pc], quant->output_offset,
                                   quant->act_min, quant->act_max);
        }
    }
    return TM_OK;
}
