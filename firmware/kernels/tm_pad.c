/*
 * tm_pad.c - PAD / PADV2 of a 4-D NHWC tensor, any variant (1-byte int8 or 4-byte float
 * elements, copied as bits).
 *
 * Semantics (tflite-op-arithmetic.md section 6): out dim = before + in dim + after; an output
 * index inside a padded band gets the fill (int8: zp_out for PAD, the constant's code for PADV2;
 * float: 0.0 for PAD, the constant for PADV2), every other index the next input element.  The
 * loop is TFLite's reference walk: the output in order, element by element.  s8-opt images run
 * tm_pad_s8_opt (blocks) instead for int8.
 */
#include "tm_internal.h"

#define TM_PAD_LOOP(T, FILL)                                                                     \
    do {                                                                                         \
        const T *x = (const T *)input;                                                           \
        T *y = (T *)output;                                                                      \
        const T f = (FILL);                                                                      \
        for (int32_t n = 0; n < out->n; n++) {                                                   \
            const int pn = n < b[0] || n >= b[0] + in->n;                                        \
            for (int32_t h = 0; h < out->h; h++) {                                               \
                const int ph = pn || h < b[1] || h >= b[1] + in->h;                              \
                for (int32_t w = 0; w < out->w; w++) {                                           \
                    const int pw = ph || w < b[2] || w >= b[2] + in->w;                          \
                    for (int32_t c = 0; c < out->c; c++) {                                       \
                        if (pw || c < b[3] || c >= b[3] + in->c) {                               \
                            *y++ = f;                                                            \
                        } else {                                                                 \
                            *y++ = *x++;                                                         \
                        }                                                                        \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    } while (0)

tm_status tm_pad_check(const tm_pad_params *params, const tm_dims *in, const tm_dims *out)
{
    if (!tm_dims_valid(in) || !tm_dims_valid(out)) {
        return TM_ERR_SHAPE;
    }
    const int32_t b[4] = {params->before_n, params->before_h, params->before_w, params->before_c};
    const int32_t i[4] = {in->n, in->h, in->w, in->c};
    const int32_t o[4] = {out->n, out->h, out->w, out->c};
    for (int k = 0; k < 4; k++) {
        if (b[k] < 0 || b[k] > o[k] || i[k] > o[k] - b[k]) {
            return TM_ERR_SHAPE;
        }
    }
    return TM_OK;
}

tm_status tm_pad(const tm_pad_params *params, int32_t elem_bytes, int32_t fill,
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
    if (elem_bytes == 1 && (fill < -128 || fill > 127)) {
        return TM_ERR_PARAM;
    }
    const tm_dims *in = input_dims;
    const tm_dims *out = output_dims;
    const tm_status st = tm_pad_check(params, in, out);
    if (st != TM_OK) {
        return st;
    }
    const int32_t b[4] = {params->before_n, params->before_h, params->before_w, params->before_c};
    if (elem_bytes == 1) {
        TM_PAD_LOOP(int8_t, (int8_t)fill);
    } else {
        TM_PAD_LOOP(uint32_t, (uint32_t)fill);
    }
    return TM_OK;
}
