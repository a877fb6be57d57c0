/*
 * tm_transpose.c - TRANSPOSE of a 4-D NHWC tensor, any variant (1-byte int8 or 4-byte float
 * elements, copied as bits).
 *
 * Semantics (tflite-op-arithmetic.md section 23): out.shape[k] = in.shape[perm_k] and
 * out[i0 i1 i2 i3] = in[j] with j[perm_k] = i_k.  The loop is TFLite's reference walk: the output
 * in order, each element read from the input at the strides of the permuted dims.  Shorter ranks
 * are padded to 4-D with leading dims of 1 by the host (perm entries shifted by 4 - rank).
 *
 * s8-opt uses this kernel too: CMSIS-NN's DSP transpose is also a scalar strided copy
 * (section 23 (e)), so a separate body would have the same loop.
 */
#include "tm_internal.h"

#define TM_TRANSPOSE_LOOP(T)                                                                    \
    do {                                                                                        \
        const T *x = (const T *)input;                                                          \
        T *y = (T *)output;                                                                     \
        for (int32_t i0 = 0; i0 < o[0]; i0++) {                                                 \
            for (int32_t i1 = 0; i1 < o[1]; i1++) {                                             \
                for (int32_t i2 = 0; i2 < o[2]; i2++) {                                         \
                    const T *r = x + i0 * s[0] + i1 * s[1] + i2 * s[2];                         \
                    for (int32_t i3 = 0; i3 < o[3]; i3++) {                                     \
                        *y++ = r[i3 * s[3]];                                                    \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    } while (0)

tm_status tm_transpose(const tm_transpose_params *params, int32_t elem_bytes,
                       const tm_dims *input_dims, const void *input, const tm_dims *output_dims,
                       void *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (elem_bytes != 1 && elem_bytes != 4) {
        return TM_ERR_PARAM;
    }
    if (!tm_dims_valid(input_dims) || !tm_dims_valid(output_dims)) {
        return TM_ERR_SHAPE;
    }
    const int32_t perm[4] = {params->perm0, params->perm1, params->perm2, params->perm3};
    const int32_t in[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t o[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    const int32_t in_stride[4] = {in[1] * in[2] * in[3], in[2] * in[3], in[3], 1};
    int32_t s[4];
    uint32_t seen = 0;
    for (int k = 0; k < 4; k++) {
        if (perm[k] < 0 || perm[k] > 3 || (seen & (1u << perm[k])) != 0) {
            return TM_ERR_PARAM;
        }
        seen |= 1u << perm[k];
        if (o[k] != in[perm[k]]) {
            return TM_ERR_SHAPE;
        }
        s[k] = in_stride[perm[k]];
    }
    if (elem_bytes == 1) {
        TM_TRANSPOSE_LOOP(int8_t);
    } else {
        TM_TRANSPOSE_LOOP(uint32_t);
    }
    return TM_OK;
}
