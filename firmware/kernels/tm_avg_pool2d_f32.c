/*
 * tm_avg_pool2d_f32.c - float AVERAGE_POOL_2D: the mean over the taps inside the input.
 */
#include "tm_internal.h"

tm_status tm_avg_pool2d_f32(const tm_pool_params *pool, const tm_act_f32 *act,
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
                    float sum = 0.0f;
                    int32_t count = 0;
                    for (int32_t ky = ky_start; ky < ky_end; ky++) {
                        for (int32_t kx = kx_start; kx < kx_end; kx++) {
                            sum += input[tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx, c)];
                            count++;
                        }
                    }
                    if (count == 0) {
                        return TM_ERR_PARAM;
                    }
                    float avg = sum / (float)count;
                    avg = (avg < act->act_min) ? act->act_min : avg;
                    avg = (avg > act->act_max) ? act->act_max : avg;
                    output[tm_offset4(output_dims, b, oy, ox, c)] = avg;
                }
            }
        }
    }
    return TM_OK;
}
