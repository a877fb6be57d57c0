/*
 * tm_leaky_relu_f32.c - float LEAKY_RELU: x > 0 ? x : alpha * x.
 */
#include "tm_internal.h"

tm_status tm_leaky_relu_f32(float alpha, int32_t size, const float *input, float *output)
{
    if (input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    for (int32_t i = 0; i < size; i++) {
        const float x = input[i];
        output[i] = x > 0.0f ? x : alpha * x;
    }
    return TM_OK;
}
