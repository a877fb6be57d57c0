/*
 * tm_max_pool2d_s8_ref.c - int8 MAX_POOL_2D, reference structure.
 *
 * Loop order: batch, out_y, out_x, channel, ky, kx over the window clipped to the input; the
 * maximum starts at -128 and is clamped to [act_min, act_max].
 */
#include "tm_internal.h"

tm_status tm_max_pool2d_s8_ref(const tm_pool_params *pool, int32_t act_min, int32_t act_max,
                               const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output)
{
    tm_status st = tm_check_pool(pool, input_dims, input, output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_clamp_s8(act_min, act_max);
    if (st != TM_OK) {
        return st;
    }

    for (int32_t b = 0; b < output_dims->n; b++) {
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t in_y0 = oy * pool->stride_h - pool->pad_h;
            const int32_t ky_start = (in_y0 < 0) ? -in_y0 : 0;
            const int32_t ky_end = (input_dims->h - in_y0 < pool->filter_h)
                                       ? input_dims->h - in_y0 : pool->filter_h;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t in_x0 = ox * pool->stride_w - pool->pad_w;
                const int32_t kx_start = (in_x0 < 0) ? -in_x0 : 0;
                const int32_t kx_end = (input_dims->w - in_x0 < pool->filter_w)
                                           ? input_dims->w - in_x0 : pool->filter_w;
                for (int32_t c = 0; c < output_dims->c; c++) {
                    int32_t max = -128;
                    for (int32_t ky = ky_start; ky < ky_end; ky++) {
                        for (int32_t kx = kx_start; kx < kx_end; kx++) {
                            const int32_t v =
                                input[tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx, c)];
                            max = (v > max) ? v : max;
                        }
                    }
                    output[tm_offset4(output_dims, b, oy, ox, c)] =
                        (int8_t)tm_clamp_s32(max, act_min, act_max);
                }
            }
        }
    }
    return TM_OK;
}
