/*
 * tm_softmax_f32.c - float SOFTMAX over the last axis:
 * y_i = exp(beta * (x_i - max x)) / sum_j exp(beta * (x_j - max x)), with expf (single precision).
 */
#include <math.h>

#include "tm_internal.h"

tm_status tm_softmax_f32(float beta, int32_t rows, int32_t depth, const float *input,
                         float *output)
{
    if (input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (rows < 0 || depth <= 0) {
        return TM_ERR_SHAPE;
    }
    for (int32_t r = 0; r < rows; r++) {
        const float *x = input + r * depth;
        float *y = output + r * depth;
        float max = x[0];
        for (int32_t i = 1; i < depth; i++) {
            max = (x[i] > max) ? x[i] : max;
        }
        float sum = 0.0f;
        for (int32_t i = 0; i < depth; i++) {
            y[i] = expf((x[i] - max) * beta);
            sum += y[i];
        }
        const float inv = 1.0f / sum;
        for (int32_t i = 0; i < depth; i++) {
            y[i] *= inv;
        }
    }
    return TM_OK;
}
