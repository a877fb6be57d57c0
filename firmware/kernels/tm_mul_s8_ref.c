/*
 * tm_mul_s8_ref.c - int8 MUL, flat and broadcasting (tm_bcast), reference structure (TFLite's
 * MulElementwise, shared/reference/tflite-op-arithmetic.md section 3):
 *   y = clamp(zp_out + MBQM((x1 + o1) * (x2 + o2), M, e), act_min, act_max)
 * with double rounding (tm_requantize).  |(x1 + o1) * (x2 + o2)| <= 65536, so with e <= 15
 * (checked) the left-shifted product stays inside int32.
 */
#include "tm_internal.h"
#include "tm_requant.h"

static tm_status tm_mul_check(const tm_mul_params_s8 *p)
{
    if (p->output_shift < -31 || p->output_shift > 15 ||
        tm_check_clamp_s8(p->act_min, p->act_max) != TM_OK) {
        return TM_ERR_PARAM;
    }
    return TM_OK;
}

static inline int8_t tm_mul_one(const tm_mul_params_s8 *p, int8_t a, int8_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t y = tm_requantize(prod, p->output_multiplier, p->output_shift) +
                      p->output_offset;
    return (int8_t)tm_clamp_s32(y, p->act_min, p->act_max);
}

tm_status tm_mul_s8_ref(const tm_mul_params_s8 *p, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (tm_mul_check(p) != TM_OK) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = tm_mul_one(p, input1[i], input2[i]);
    }
    return TM_OK;
}

tm_status tm_mul_bcast_s8_ref(const tm_mul_params_s8 *p, const tm_bcast *bcast,
                              const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (p == NULL || bcast == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (tm_check_bcast(bcast) != TM_OK) {
        return TM_ERR_SHAPE;
    }
    if (tm_mul_check(p) != TM_OK) {
        return TM_ERR_PARAM;
    }
    TM_BCAST_APPLY(bcast, input1, input2, output, tm_mul_one, p);
    return TM_OK;
}
