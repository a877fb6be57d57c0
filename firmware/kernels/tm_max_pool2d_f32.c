/*
 * tm_max_pool2d_f32.c - float MAX_POOL_2D over the taps inside the input.
 */
#include <float.h>

#include "tm_internal.h"

tm_status tm_max_pool2d_f32(const tm_pool_params *pool, const tm_act_f32 *act,
                            const tm_dims *input_dims, const float *input,
                            const tm_dims *output_dims, float *output)
{
    const tm_status st = tm_check_pool(pool, input_dims, input, output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    if (act == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
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
                    float max = -FLT_MAX;
                    for (int32_t ky = ky_start; ky < ky_end; ky++) {
                        for (int32_t kx = kx_start; kx < kx_end; kx++) {
                            const float v =
                                input[tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx, c)];
                            max = (v > max) ? v : max;
                        }
                    }
                    max = (max < act->act_min) ? act->act_min : max;
                    max = (max > act->act_max) ? act->act_max : max;
                    output[tm_offset4(output_dims, b, oy, ox, c)] = max;
                }
            }
        }
    }
    return TM_OK;
}
