/*
 * tm_strided_slice.c - one strided window of a 4-D input: STRIDED_SLICE, and one output of
 * SLICE, SPLIT, SPLIT_V or UNPACK (tinymodel/pieces.py turns those into begins and strides).
 *
 * out[n][h][w][c] = in[b_n + n s_n][b_h + h s_h][b_w + w s_w][b_c + c s_c] (tflite-op-arithmetic.md
 * section 18 (d): the host resolves begin / end / masks into a first index and a count per dim).
 * The copy is one memcpy per contiguous run: trailing dims read with stride 1 merge into the run
 * as long as the dims after them are read whole, so a channel slice copies out.c elements per
 * pixel and a split along h copies whole rows of w x c.  Any dtype: elem_bytes is the element size.
 */
#include <string.h>

#include "tm_internal.h"

tm_status tm_strided_slice(const tm_slice_params *params, const tm_dims *in, const tm_dims *out,
                           int32_t elem_bytes, const void *input, void *output)
{
    if (params == NULL || in == NULL || out == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_dims_valid(in) || !tm_dims_valid(out) || elem_bytes < 1 || elem_bytes > 8) {
        return TM_ERR_SHAPE;
    }
    if ((int64_t)in->n * in->h * in->w * in->c * elem_bytes > (int64_t)INT32_MAX) {
        return TM_ERR_SHAPE;
    }
    const int32_t id[4] = {in->n, in->h, in->w, in->c};
    const int32_t od[4] = {out->n, out->h, out->w, out->c};
    const int32_t begin[4] = {params->begin_n, params->begin_h, params->begin_w, params->begin_c};
    const int32_t stride[4] = {params->stride_n, params->stride_h, params->stride_w,
                               params->stride_c};
    int64_t in_step[4];     /* bytes between neighbours of each dim in the input */
    int64_t base = 0;
    int64_t step = elem_bytes;
    for (int k = 3; k >= 0; k--) {
        const int64_t last = (int64_t)begin[k] + (int64_t)(od[k] - 1) * stride[k];
        if (stride[k] == 0 || begin[k] < 0 || begin[k] >= id[k] || last < 0 || last >= id[k]) {
            return TM_ERR_PARAM;
        }
        base += (int64_t)begin[k] * step;
        in_step[k] = step * stride[k];
        step *= id[k];
    }
    /* merge trailing stride-1 dims into one run; count[k] = 1 for the merged ones */
    int32_t count[4] = {od[0], od[1], od[2], od[3]};
    size_t run = (size_t)elem_bytes;
    for (int k = 3; k >= 0 && stride[k] == 1; k--) {
        run *= (size_t)od[k];
        count[k] = 1;
        if (od[k] != id[k]) {
            break;
        }
    }
    /* the input has at most INT32_MAX bytes, so every step fits a ptrdiff_t */
    const ptrdiff_t s0 = (ptrdiff_t)in_step[0];
    const ptrdiff_t s1 = (ptrdiff_t)in_step[1];
    const ptrdiff_t s2 = (ptrdiff_t)in_step[2];
    const ptrdiff_t s3 = (ptrdiff_t)in_step[3];
    const uint8_t *sn = (const uint8_t *)input + (ptrdiff_t)base;
    uint8_t *dst = (uint8_t *)output;
    for (int32_t n = 0; n < count[0]; n++, sn += s0) {
        const uint8_t *sh = sn;
        for (int32_t h = 0; h < count[1]; h++, sh += s1) {
            const uint8_t *sw = sh;
            for (int32_t w = 0; w < count[2]; w++, sw += s2) {
                const uint8_t *sc = sw;
                for (int32_t c = 0; c < count[3]; c++, sc += s3) {
                    memcpy(dst, sc, run);
                    dst += run;
                }
            }
        }
    }
    return TM_OK;
}
