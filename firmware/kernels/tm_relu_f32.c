/*
 * tm_relu_f32.c - float RELU / RELU6: a clamp to [act_min, act_max] (0 / FLT_MAX or 0 / 6).
 */
#include "tm_internal.h"

tm_status tm_relu_f32(const tm_act_f32 *act, int32_t size, const float *input, float *output)
{
    if (act == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (!(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        float v = input[i];
        v = (v < act->act_min) ? act->act_min : v;
        v = (v > act->act_max) ? act->act_max : v;
        output[i] = v;
    }
    return TM_OK;
}
