/*
 * tm_mul_f32.c - float MUL (input1 * input2), flat (two same-shape tensors) and
 * broadcasting (tm_bcast), then the activation clamp.
 */
#include "tm_internal.h"

static inline float tm_mul_one_f32(const tm_act_f32 *act, float a, float b)
{
    float v = a * b;
    v = (v < act->act_min) ? act->act_min : v;
    v = (v > act->act_max) ? act->act_max : v;
    return v;
}

tm_status tm_mul_f32(const tm_act_f32 *act, int32_t size, const float *input1,
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
        output[i] = tm_mul_one_f32(act, input1[i], input2[i]);
    }
    return TM_OK;
}

tm_status tm_mul_bcast_f32(const tm_act_f32 *act, const tm_bcast *bcast, const float *input1,
                           const float *input2, float *output)
{
    if (act == NULL || bcast == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (tm_check_bcast(bcast) != TM_OK) {
        return TM_ERR_SHAPE;
    }
    if (!(act->act_min <= act->act_max)) {
        return TM_ERR_PARAM;
    }
    TM_BCAST_APPLY(bcast, input1, input2, output, tm_mul_one_f32, act);
    return TM_OK;
}
