/*
 * tm_fully_connected_s8_ref.c - int8 FULLY_CONNECTED, reference structure.
 *
 * Loop order: batch, out, in.  One scalar MAC per step over the in_features of a weight row; no
 * unrolling, so the cost is linear in in_features with no residue effect.  The output stage
 * rounds once (tm_requantize_fc), as TF 2.21's FULLY_CONNECTED does.
 */
#include "tm_internal.h"
#include "tm_requant.h"

int32_t tm_fully_connected_s8_ref_scratch_bytes(const tm_fc_dims *dims)
{
    (void)dims;
    return 0;
}

tm_status tm_fully_connected_s8_ref(const tm_quant_s8 *quant, const tm_fc_dims *dims,
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
    const int32_t input_offset = quant->input_offset;

    for (int32_t b = 0; b < dims->batches; b++) {
        for (int32_t o = 0; o < n_out; o++) {
            int32_t acc = 0;
            for (int32_t d = 0; d < k; d++) {
                const int32_t x = input[b * k + d];
                const int32_t w = weights[o * k + d];
                acc += w * (x + input_offset);
            }
            if (bias != NULL) {
                acc += bias[o];
            }
            const int32_t q = quant->per_channel ? o : 0;
            output[b * n_out + o] = tm_requant_fc_s8(acc, quant->multiplier[q], quant->shift[q],
                                                  quant->output_offset, quant->act_min,
                                                  quant->act_max);
        }
    }
    return TM_OK;
}
