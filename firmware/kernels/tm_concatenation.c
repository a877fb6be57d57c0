/*
 * tm_concatenation.c - one input of a CONCATENATION (or PACK) copied into its axis window of the
 * output.  A graph layer with n inputs runs as n of these (tinymodel/pieces.py).
 *
 * TFLite's reference Concatenation (tflite-op-arithmetic.md section 2 (d)): for each index over
 * the dims before the axis, each input's contiguous block of in[axis] x inner elements.  Here:
 * outer = product of the dims before the axis, inner = product of the dims after it; one memcpy
 * of in[axis] x inner elements per outer index, to out + (o x out[axis] + offset) x inner.
 * Any dtype: elem_bytes is the element size.
 */
#include <string.h>

#include "tm_internal.h"

static void tm_dims_array(const tm_dims *d, int32_t a[4])
{
    a[0] = d->n;
    a[1] = d->h;
    a[2] = d->w;
    a[3] = d->c;
}

tm_status tm_concatenation(const tm_concat_params *params, const tm_dims *in, const tm_dims *out,
                           int32_t elem_bytes, const void *input, void *output)
{
    if (params == NULL || in == NULL || out == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_dims_valid(in) || !tm_dims_valid(out) || elem_bytes < 1 || elem_bytes > 8) {
        return TM_ERR_SHAPE;
    }
    const int32_t axis = params->axis;
    if (axis < 0 || axis > 3) {
        return TM_ERR_PARAM;
    }
    int32_t i4[4];
    int32_t o4[4];
    tm_dims_array(in, i4);
    tm_dims_array(out, o4);
    for (int k = 0; k < 4; k++) {
        if (k != axis && i4[k] != o4[k]) {
            return TM_ERR_SHAPE;
        }
    }
    if (params->offset < 0 || params->offset > o4[axis] - i4[axis]) {
        return TM_ERR_PARAM;
    }
    int32_t outer = 1;
    int32_t inner = elem_bytes;
    for (int k = 0; k < axis; k++) {
        outer *= o4[k];
    }
    for (int k = axis + 1; k < 4; k++) {
        inner *= o4[k];
    }
    const size_t run = (size_t)i4[axis] * (size_t)inner;          /* bytes per outer index */
    const size_t dst_step = (size_t)o4[axis] * (size_t)inner;
    const uint8_t *src = (const uint8_t *)input;
    uint8_t *dst = (uint8_t *)output + (size_t)params->offset * (size_t)inner;
    for (int32_t o = 0; o < outer; o++) {
        memcpy(dst, src, run);
        src += run;
        dst += dst_step;
    }
    return TM_OK;
}
