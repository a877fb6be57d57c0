/*
 * tm_hard_swish_f32.c - float HARD_SWISH: x * min(6, max(0, x + 3)) / 6.
 */
#include "tm_internal.h"

tm_status tm_hard_swish_f32(int32_t size, const float *input, float *output)
{
    if (input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    for (int32_t i = 0; i < size; i++) {
        const float x = input[i];
        float r = x + 3.0f;
        r = r < 0.0f ? 0.0f : r;
        r = r > 6.0f ? 6.0f : r;
        output[i] = x * r / 6.0f;
    }
    return TM_OK;
}
