/*
 * tm_dequantize.c - DEQUANTIZE: int8 -> float32 (see tm_kernels.h).  One scalar implementation
 * for every variant.
 *
 * TFLite's reference Dequantize (tflite-op-arithmetic.md 13(b)) computes
 * (float)((double)scale * (q - zero_point)); the double product of a float and an integer of at
 * most 9 bits is exact, so its rounding to float is the correctly rounded float32 product, which
 * is what one float32 multiplication gives (IEEE 754, soft-float and FPU alike).
 */
#include <stddef.h>

#include "tm_kernels.h"

tm_status tm_dequantize_s8_f32(const tm_quantize_params *p, int32_t size, const int8_t *input,
                               float *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (p->input_offset < -127 || p->input_offset > 128) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = p->scale * (float)((int32_t)input[i] + p->input_offset);
    }
    return TM_OK;
}
