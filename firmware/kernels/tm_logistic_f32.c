/*
 * tm_logistic_f32.c - float LOGISTIC as TFLite's reference kernel computes it:
 * x > 16.619047 gives 1, x < -9 gives exp(x), otherwise 1 / (1 + exp(-x)) (all in float).
 */
#include <math.h>

#include "tm_internal.h"

tm_status tm_logistic_f32(int32_t size, const float *input, float *output)
{
    if (input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    const float upper = 16.619047164916992188f;
    const float lower = -9.0f;
    for (int32_t i = 0; i < size; i++) {
        const float x = input[i];
        float y;
        if (x > upper) {
            y = 1.0f;
        } else if (x < lower) {
            y = expf(x);
        } else {
            y = 1.0f / (1.0f + expf(-x));
        }
        output[i] = y;
    }
    return TM_OK;
}
