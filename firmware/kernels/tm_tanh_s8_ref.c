/*
 * tm_tanh_s8_ref.c - int8 TANH with fixed-point arithmetic (TFLite Micro's reference integer
 * algorithm; output scale 1/128, zero point 0, which the converter fixes).
 *
 * Per element, x = q + input_offset and radius = floor(15 * 2^27 / 2^input_left_shift):
 *   x <= -radius: -128;  x >= radius: 127;
 *   otherwise y = requantize(x, input_multiplier, input_left_shift) is the input in Q4.27,
 *   t = tanh(y) in Q0.31 (tm_fixedpoint.h) and the output is clamp(rounding_divide_by_pot(t, 24))
 *   (no output offset: the kernel's output zero point is 0).
 * TFLite's interpreter builds a 256-entry float table instead; the two agree except on exact
 * rounding ties (tests/firmware/test_kernels_act.py compares every code against it).
 */
#include "tm_fixedpoint.h"
#include "tm_internal.h"

tm_status tm_tanh_s8_ref(const tm_logistic_params_s8 *params, int32_t size, const int8_t *input,
                         int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (params->input_offset < -127 || params->input_offset > 128 ||
        params->input_left_shift < 0 || params->input_left_shift > 31) {
        return TM_ERR_PARAM;
    }
    const int32_t radius = (int32_t)((15u << 27) >> (uint32_t)params->input_left_shift);
    for (int32_t i = 0; i < size; i++) {
        const int32_t x = input[i] + params->input_offset;
        int32_t v;
        if (x <= -radius) {
            v = -128;
        } else if (x >= radius) {
            v = 127;
        } else {
            const int32_t y = tm_requantize_double(x, params->input_multiplier,
                                                   params->input_left_shift);
            v = tm_rounding_divide_by_pot(tm_fp_tanh(y, 4), 24);
        }
        output[i] = (int8_t)tm_clamp_s32(v, -128, 127);
    }
    return TM_OK;
}
