/*
 * tm_tanh_f32.c - float TANH from expf (the only libm call the float kernels use):
 * tanh(x) = sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|); below |x| = 2^-4 the odd Taylor
 * polynomial x - x^3/3 + 2x^5/15 - 17x^7/315, which avoids the cancellation in 1 - e.
 */
#include <math.h>

#include "tm_internal.h"

tm_status tm_tanh_f32(int32_t size, const float *input, float *output)
{
    if (input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    for (int32_t i = 0; i < size; i++) {
        const float x = input[i];
        const float ax = x < 0.0f ? -x : x;
        float t;
        if (ax < 0.0625f) {
            const float x2 = ax * ax;
            t = ax * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f))));
        } else {
            const float e = expf(-2.0f * ax);
            t = (1.0f - e) / (1.0f + e);
        }
        output[i] = x < 0.0f ? -t : t;
    }
    return TM_OK;
}
