/*
 * tm_minimum_f32.c - float MINIMUM, flat and broadcasting (tm_bcast), as TFLite's reference
 * (a < b ? a : b): a NaN in either operand yields input2.  No fused activation.
 */
#include "tm_internal.h"

static inline float tm_minimum_one(const void *unused, float a, float b)
{
    (void)unused;
    return (a < b ? a : b);
}

tm_status tm_minimum_f32(int32_t size, const float *input1, const float *input2,
                          float *output)
{
    if (input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = tm_minimum_one(NULL, input1[i], input2[i]);
    }
    return TM_OK;
}

tm_status tm_minimum_bcast_f32(const tm_bcast *bcast, const float *input1,
                                const float *input2, float *output)
{
    if (bcast == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (tm_check_bcast(bcast) != TM_OK) {
        return TM_ERR_SHAPE;
    }
    TM_BCAST_APPLY(bcast, input1, input2, output, tm_minimum_one, NULL);
    return TM_OK;
}
