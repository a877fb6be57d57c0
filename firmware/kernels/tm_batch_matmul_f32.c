/*
 * tm_batch_matmul_f32.c - float BATCH_MATMUL.
 *
 * out[b, i, j] = clamp(sum_k A[b,i,k] * B[b,k,j]) with A = adj_x ? lhs^T : lhs,
 * B = adj_y ? rhs^T : rhs over the last two dims and the batch dims broadcast; loop order batch,
 * i, j, k (one scalar MAC per step, the sum formed in k order), operands read through strides.
 */
#include "tm_internal.h"

tm_status tm_batch_matmul_f32(const tm_bmm_params *params, const tm_act_f32 *act,
                              const tm_dims *lhs_dims, const float *lhs,
                              const tm_dims *rhs_dims, const float *rhs,
                              const tm_dims *output_dims, float *output)
{
    const tm_status st = tm_check_bmm(params, lhs_dims, lhs, rhs_dims, rhs, output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    if (act == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
    }
    const int32_t m = output_dims->w;
    const int32_t n = output_dims->c;
    const int32_t k = params->adj_x ? lhs_dims->w : lhs_dims->c;
    const int32_t a_si = params->adj_x ? 1 : lhs_dims->c;
    const int32_t a_sk = params->adj_x ? lhs_dims->c : 1;
    const int32_t b_sk = params->adj_y ? 1 : rhs_dims->c;
    const int32_t b_sj = params->adj_y ? rhs_dims->c : 1;
    const int32_t l_mat = lhs_dims->w * lhs_dims->c;
    const int32_t r_mat = rhs_dims->w * rhs_dims->c;

    for (int32_t b0 = 0; b0 < output_dims->n; b0++) {
        for (int32_t b1 = 0; b1 < output_dims->h; b1++) {
            const float *a = lhs + ((lhs_dims->n == 1 ? 0 : b0) * lhs_dims->h +
                                    (lhs_dims->h == 1 ? 0 : b1)) * l_mat;
            const float *bm = rhs + ((rhs_dims->n == 1 ? 0 : b0) * rhs_dims->h +
                                     (rhs_dims->h == 1 ? 0 : b1)) * r_mat;
            float *out = output + (b0 * output_dims->h + b1) * m * n;
            for (int32_t i = 0; i < m; i++) {
                for (int32_t j = 0; j < n; j++) {
                    float acc = 0.0f;
                    for (int32_t d = 0; d < k; d++) {
                        acc += a[i * a_si + d * a_sk] * bm[d * b_sk + j * b_sj];
                    }
                    acc = acc < act->act_min ? act->act_min : acc;
                    out[i * n + j] = acc > act->act_max ? act->act_max : acc;
                }
            }
        }
    }
    return TM_OK;
}
