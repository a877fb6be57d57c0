/*
 * tm_resize_bilinear_s8_ref.c - int8 RESIZE_BILINEAR with TFLite's integer arithmetic
 * (tflite-op-arithmetic.md section 16 (b), ResizeBilinearInteger), shared by s8-ref and s8-opt
 * (CMSIS-NN has no resize).  Input and output share scale and zero point, so the codes are
 * interpolated directly.
 *
 * Per axis, in 10-bit fixed point: sc = (1024 in + out / 2) / out, or with align_corners and
 * out > 1 sc = (1024 (in - 1) + (out - 1) / 2) / (out - 1); for output coordinate i
 * v = i sc (+ sc / 2 - 512 with half_pixel_centers), i0 = max(v / 1024, 0),
 * i1 = min((v + 1023) / 1024, in - 1) (C divisions), w1 = v - 1024 i0, w0 = 1024 - w1.
 * out = S / 2^20 rounded half away from zero, S the int64 sum of the four taps times wy wx.
 */
#include "tm_internal.h"

typedef struct {
    int32_t i0;
    int32_t i1;
    int32_t w0;
    int32_t w1;
} tm_bilinear_tap;

static int32_t tm_bilinear_scale(int32_t in_size, int32_t out_size, const tm_resize_params *p)
{
    if (p->align_corners && out_size > 1) {
        return (1024 * (in_size - 1) + (out_size - 1) / 2) / (out_size - 1);
    }
    return (1024 * in_size + out_size / 2) / out_size;
}

static tm_bilinear_tap tm_bilinear_axis(int32_t i, int32_t sc, int32_t in_size,
                                        const tm_resize_params *p)
{
    tm_bilinear_tap t;
    const int32_t v = p->half_pixel_centers ? i * sc + sc / 2 - 512 : i * sc;
    t.i0 = v / 1024 > 0 ? v / 1024 : 0;
    t.i1 = (v + 1023) / 1024 < in_size - 1 ? (v + 1023) / 1024 : in_size - 1;
    t.w1 = v - 1024 * t.i0;
    t.w0 = 1024 - t.w1;
    return t;
}

tm_status tm_resize_bilinear_s8_ref(const tm_resize_params *params, const tm_dims *input_dims,
                                    const int8_t *input, const tm_dims *output_dims,
                                    int8_t *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (params->align_corners && params->half_pixel_centers) {
        return TM_ERR_PARAM;
    }
    if (!tm_dims_valid(input_dims) || !tm_dims_valid(output_dims) ||
        input_dims->n != output_dims->n || input_dims->c != output_dims->c ||
        input_dims->h > 65535 || input_dims->w > 65535 || output_dims->h > 65535 ||
        output_dims->w > 65535) {
        return TM_ERR_SHAPE;
    }
    const tm_dims *in = input_dims;
    const tm_dims *out = output_dims;
    const int32_t sc_h = tm_bilinear_scale(in->h, out->h, params);
    const int32_t sc_w = tm_bilinear_scale(in->w, out->w, params);
    const int32_t depth = in->c;
    int8_t *y = output;
    for (int32_t n = 0; n < out->n; n++) {
        for (int32_t oy = 0; oy < out->h; oy++) {
            const tm_bilinear_tap ty = tm_bilinear_axis(oy, sc_h, in->h, params);
            for (int32_t ox = 0; ox < out->w; ox++) {
                const tm_bilinear_tap tx = tm_bilinear_axis(ox, sc_w, in->w, params);
                const int8_t *p00 = input + tm_offset4(in, n, ty.i0, tx.i0, 0);
                const int8_t *p01 = input + tm_offset4(in, n, ty.i0, tx.i1, 0);
                const int8_t *p10 = input + tm_offset4(in, n, ty.i1, tx.i0, 0);
                const int8_t *p11 = input + tm_offset4(in, n, ty.i1, tx.i1, 0);
                for (int32_t c = 0; c < depth; c++) {
                    const int64_t s = (int64_t)p00[c] * ty.w0 * tx.w0 +
                                      (int64_t)p10[c] * ty.w1 * tx.w0 +
                                      (int64_t)p01[c] * ty.w0 * tx.w1 +
                                      (int64_t)p11[c] * ty.w1 * tx.w1;
                    const int64_t r = s > 0 ? (s + (1 << 19)) / (1 << 20)
                                            : (s - (1 << 19)) / (1 << 20);
                    *y++ = (int8_t)r;
                }
            }
        }
    }
    return TM_OK;
}
