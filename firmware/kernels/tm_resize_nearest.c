/*
 * tm_resize_nearest.c - RESIZE_NEAREST_NEIGHBOR of a 4-D NHWC tensor, any variant (1-byte int8
 * or 4-byte float elements; no arithmetic on the values, input and output share quantization).
 *
 * Source index (tflite-op-arithmetic.md section 15, TFLite's GetNearestNeighbor), in float32 as
 * TFLite computes it:
 *   scale = (align_corners and out > 1) ? (in - 1) / (out - 1) : in / out
 *   v = (i + (half_pixel_centers ? 0.5 : 0)) * scale
 *   src = align_corners ? round_half_away(v) : floor(v), then min(src, in - 1) (and max 0)
 * v >= 0, so floor is a truncation and the rounding is done on the fraction (no libm call).  The
 * loop is the reference one: per output row the source row, per output pixel the source pixel
 * and one memcpy of the channel vector.  s8-opt uses it too (CMSIS-NN has no resize).
 */
#include <string.h>

#include "tm_internal.h"

static int32_t tm_nearest_index(int32_t i, int32_t in_size, int32_t out_size,
                                const tm_resize_params *p)
{
    const float scale = (p->align_corners && out_size > 1)
                            ? (float)(in_size - 1) / (float)(out_size - 1)
                            : (float)in_size / (float)out_size;
    const float v = ((float)i + (p->half_pixel_centers ? 0.5f : 0.0f)) * scale;
    int32_t s = (int32_t)v;
    if (p->align_corners && v - (float)s >= 0.5f) {
        s += 1;
    }
    if (s > in_size - 1) {
        s = in_size - 1;
    }
    return s < 0 ? 0 : s;
}

tm_status tm_resize_nearest(const tm_resize_params *params, int32_t elem_bytes,
                            const tm_dims *input_dims, const void *input,
                            const tm_dims *output_dims, void *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (elem_bytes != 1 && elem_bytes != 4) {
        return TM_ERR_PARAM;
    }
    if (!tm_dims_valid(input_dims) || !tm_dims_valid(output_dims) ||
        input_dims->n != output_dims->n || input_dims->c != output_dims->c) {
        return TM_ERR_SHAPE;
    }
    const tm_dims *in = input_dims;
    const tm_dims *out = output_dims;
    const size_t pixel = (size_t)in->c * (size_t)elem_bytes;
    const uint8_t *x = (const uint8_t *)input;
    uint8_t *y = (uint8_t *)output;
    for (int32_t n = 0; n < out->n; n++) {
        for (int32_t oy = 0; oy < out->h; oy++) {
            const int32_t iy = tm_nearest_index(oy, in->h, out->h, params);
            for (int32_t ox = 0; ox < out->w; ox++) {
                const int32_t ix = tm_nearest_index(ox, in->w, out->w, params);
                memcpy(y, x + (size_t)tm_offset4(in, n, iy, ix, 0) * (size_t)elem_bytes, pixel);
                y += pixel;
            }
        }
    }
    return TM_OK;
}
