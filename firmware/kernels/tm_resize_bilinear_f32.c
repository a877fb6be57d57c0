/*
 * tm_resize_bilinear_f32.c - float RESIZE_BILINEAR (tflite-op-arithmetic.md section 16 (c),
 * TFLite's float reference; the same source is built soft-float for f32-soft and for the FPU).
 *
 * Per axis: scale = in / out, or (in - 1) / (out - 1) with align_corners and out > 1;
 * v = (i + 0.5) scale - 0.5 with half_pixel_centers, else i scale; i0 = max(floor v, 0),
 * i1 = min(ceil v, in - 1); the four taps weighted by (v - i0) and 1 - (v - i0).
 * v >= -0.5, so floor and ceil are done on the truncation (no libm call).
 */
#include "tm_internal.h"

typedef struct {
    int32_t i0;
    int32_t i1;
    float f;   /* v - i0 */
} tm_bilinear_pos_f32;

static tm_bilinear_pos_f32 tm_bilinear_axis_f32(int32_t i, float scale, int32_t in_size,
                                                int32_t half_pixel)
{
    tm_bilinear_pos_f32 t;
    const float v = half_pixel ? ((float)i + 0.5f) * scale - 0.5f : (float)i * scale;
    int32_t lo = (int32_t)v;
    if ((float)lo > v) {
        lo -= 1;
    }
    int32_t hi = (int32_t)v;
    if ((float)hi < v) {
        hi += 1;
    }
    t.i0 = lo > 0 ? lo : 0;
    t.i1 = hi < in_size - 1 ? hi : in_size - 1;
    t.f = v - (float)t.i0;
    return t;
}

static float tm_bilinear_scale_f32(int32_t in_size, int32_t out_size, const tm_resize_params *p)
{
    if (p->align_corners && out_size > 1) {
        return (float)(in_size - 1) / (float)(out_size - 1);
    }
    return (float)in_size / (float)out_size;
}

tm_status tm_resize_bilinear_f32(const tm_resize_params *params, const tm_dims *input_dims,
                                 const float *input, const tm_dims *output_dims, float *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (params->align_corners && params->half_pixel_centers) {
        return TM_ERR_PARAM;
    }
    if (!tm_dims_valid(input_dims) || !tm_dims_valid(output_dims) ||
        input_dims->n != output_dims->n || input_dims->c != output_dims->c) {
        return TM_ERR_SHAPE;
    }
    const tm_dims *in = input_dims;
    const tm_dims *out = output_dims;
    const float sc_h = tm_bilinear_scale_f32(in->h, out->h, params);
    const float sc_w = tm_bilinear_scale_f32(in->w, out->w, params);
    float *y = output;
    for (int32_t n = 0; n < out->n; n++) {
        for (int32_t oy = 0; oy < out->h; oy++) {
            const tm_bilinear_pos_f32 ty =
                tm_bilinear_axis_f32(oy, sc_h, in->h, params->half_pixel_centers);
            for (int32_t ox = 0; ox < out->w; ox++) {
                const tm_bilinear_pos_f32 tx =
                    tm_bilinear_axis_f32(ox, sc_w, in->w, params->half_pixel_centers);
                const float *p00 = input + tm_offset4(in, n, ty.i0, tx.i0, 0);
                const float *p01 = input + tm_offset4(in, n, ty.i0, tx.i1, 0);
                const float *p10 = input + tm_offset4(in, n, ty.i1, tx.i0, 0);
                const float *p11 = input + tm_offset4(in, n, ty.i1, tx.i1, 0);
                const float gy = 1.0f - ty.f;
                const float gx = 1.0f - tx.f;
                for (int32_t c = 0; c < in->c; c++) {
                    *y++ = p00[c] * gy * gx + p10[c] * ty.f * gx + p01[c] * gy * tx.f +
                           p11[c] * ty.f * tx.f;
                }
            }
        }
    }
    return TM_OK;
}
