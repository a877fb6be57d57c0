/*
 * tm_batch_matmul_s8_ref.c - int8 BATCH_MATMUL (one kernel for s8-ref and s8-opt).
 *
 * out[b, i, j] = clamp(output_offset + requantize(sum_k (A[b,i,k] + lhs_offset) *
 * (B[b,k,j] + rhs_offset), multiplier, shift)) with A = adj_x ? lhs^T : lhs and
 * B = adj_y ? rhs^T : rhs over the last two dims, batch dims broadcast
 * (tflite-op-arithmetic.md section 26(b); double rounding).  Loop order: batch, i, j, k, one
 * scalar MAC per step; operands are read in place through strides (no transposed copy).
 */
#include "tm_internal.h"
#include "tm_requant.h"

tm_status tm_batch_matmul_s8_ref(const tm_bmm_params *params, const tm_bmm_quant_s8 *quant,
                                 const tm_dims *lhs_dims, const int8_t *lhs,
                                 const tm_dims *rhs_dims, const int8_t *rhs,
                                 const tm_dims *output_dims, int8_t *output)
{
    tm_status st = tm_check_bmm(params, lhs_dims, lhs, rhs_dims, rhs, output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    if (quant == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    st = tm_check_clamp_s8(quant->act_min, quant->act_max);
    if (st != TM_OK || tm_check_shift(quant->shift) != TM_OK) {
        return TM_ERR_PARAM;
    }
    const int32_t m = output_dims->w;
    const int32_t n = output_dims->c;
    const int32_t k = params->adj_x ? lhs_dims->w : lhs_dims->c;
    /* element strides of A (i, k) and B (k, j) inside one matrix */
    const int32_t a_si = params->adj_x ? 1 : lhs_dims->c;
    const int32_t a_sk = params->adj_x ? lhs_dims->c : 1;
    const int32_t b_sk = params->adj_y ? 1 : rhs_dims->c;
    const int32_t b_sj = params->adj_y ? rhs_dims->c : 1;
    const int32_t l_mat = lhs_dims->w * lhs_dims->c;
    const int32_t r_mat = rhs_dims->w * rhs_dims->c;

    for (int32_t b0 = 0; b0 < output_dims->n; b0++) {
        for (int32_t b1 = 0; b1 < output_dims->h; b1++) {
            const int8_t *a = lhs + ((lhs_dims->n == 1 ? 0 : b0) * lhs_dims->h +
                                     (lhs_dims->h == 1 ? 0 : b1)) * l_mat;
            const int8_t *bm = rhs + ((rhs_dims->n == 1 ? 0 : b0) * rhs_dims->h +
                                      (rhs_dims->h == 1 ? 0 : b1)) * r_mat;
            int8_t *out = output + (b0 * output_dims->h + b1) * m * n;
            for (int32_t i = 0; i < m; i++) {
                for (int32_t j = 0; j < n; j++) {
                    int32_t acc = 0;
                    for (int32_t d = 0; d < k; d++) {
                        const int32_t x = a[i * a_si + d * a_sk] + quant->lhs_offset;
                        const int32_t y = bm[d * b_sk + j * b_sj] + quant->rhs_offset;
                        acc += x * y;
                    }
                    out[i * n + j] = tm_requant_s8(acc, quant->multiplier, quant->shift,
                                                   quant->output_offset, quant->act_min,
                                                   quant->act_max);
                }
            }
        }
    }
    return TM_OK;
}
