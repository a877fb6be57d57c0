/*
 * tm_leaky_relu_s8_ref.c - int8 LEAKY_RELU (TFLite's reference QuantizeLeakyRelu).
 *
 * With v = q + input_offset:
 *   v >= 0:  out = output_offset + requantize(v, identity_multiplier, identity_shift)
 *   v <  0:  out = output_offset + requantize(v, alpha_multiplier, alpha_shift)
 * clamped to [-128, 127]; requantize is double rounding (tm_requant.h).  A negative alpha has a
 * negative alpha_multiplier, used as it is (tests/firmware/test_kernels_act.py: TFLite's
 * reference kernel rounds the product's ties toward +infinity, not symmetrically).
 */
#include "tm_internal.h"

tm_status tm_leaky_relu_s8_ref(const tm_leaky_relu_params_s8 *params, int32_t size,
                               const int8_t *input, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    const tm_leaky_relu_params_s8 *k = params;
    if (k->input_offset < -127 || k->input_offset > 128 || k->output_offset < -128 ||
        k->output_offset > 127 || k->identity_shift < -31 || k->identity_shift > 30 ||
        k->alpha_shift < -31 || k->alpha_shift > 30 || k->alpha_multiplier == TM_INT32_MIN) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        const int32_t v = input[i] + k->input_offset;
        int32_t o;
        if (v >= 0) {
            o = tm_requantize_double(v, k->identity_multiplier, k->identity_shift);
        } else {
            o = tm_requantize_double(v, k->alpha_multiplier, k->alpha_shift);
        }
        output[i] = (int8_t)tm_clamp_s32(tm_wrap_add(o, k->output_offset), -128, 127);
    }
    return TM_OK;
}
