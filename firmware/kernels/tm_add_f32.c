/*
 * tm_add_f32.c - float ADD of two same-shape tensors, then the activation clamp.
 */
#include "tm_internal.h"

tm_status tm_add_f32(const tm_act_f32 *act, int32_t size, const float *input1,
                     const float *input2, float *output)
{
    if (act == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (!(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        float v = input1[i] + input2[i];
        v = (v < act->act_min) ? act->act_min : v;
        v = (v > act->act_max) ? act->act_max : v;
        output[i] = v;
    }
    return TM_OK;
}
