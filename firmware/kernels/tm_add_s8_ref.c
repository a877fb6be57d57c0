/*
 * tm_add_s8_ref.c - int8 ADD (residual connections, biases added by a separate op), reference
 * structure: a flat loop for two same-shape tensors and a broadcasting loop (tm_bcast).
 *
 * Per element: both inputs are offset, scaled by 2^left_shift and brought to a common scale
 * (each multiplier <= 0.5, so the sum cannot overflow), added, and requantized to the output:
 *   y = clamp(zp_out + rq(rq((x1 + o1) << ls, M1) + rq((x2 + o2) << ls, M2), M_out)).
 */
#include "tm_internal.h"
#include "tm_requant.h"

static tm_status tm_add_check(const tm_add_params_s8 *p)
{
    if (p->left_shift < 0 || p->left_shift > 20 || p->input1_shift > 0 || p->input2_shift > 0 ||
        p->output_shift > 0 || tm_check_shift(p->input1_shift) != TM_OK ||
        tm_check_shift(p->input2_shift) != TM_OK || tm_check_shift(p->output_shift) != TM_OK ||
        tm_check_clamp_s8(p->act_min, p->act_max) != TM_OK) {
        return TM_ERR_PARAM;
    }
    return TM_OK;
}

static inline int8_t tm_add_one(const tm_add_params_s8 *p, int8_t a, int8_t b)
{
    const int32_t x1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t s1 = tm_requantize(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tm_requantize(x2, p->input2_multiplier, p->input2_shift);
    const int32_t y = tm_requantize(s1 + s2, p->output_multiplier, p->output_shift) +
                      p->output_offset;
    return (int8_t)tm_clamp_s32(y, p->act_min, p->act_max);
}

tm_status tm_add_s8_ref(const tm_add_params_s8 *p, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (tm_add_check(p) != TM_OK) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = tm_add_one(p, input1[i], input2[i]);
    }
    return TM_OK;
}

tm_status tm_add_bcast_s8_ref(const tm_add_params_s8 *p, const tm_bcast *bcast,
                              const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (p == NULL || bcast == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (tm_check_bcast(bcast) != TM_OK) {
        return TM_ERR_SHAPE;
    }
    if (tm_add_check(p) != TM_OK) {
        return TM_ERR_PARAM;
    }
    TM_BCAST_APPLY(bcast, input1, input2, output, tm_add_one, p);
    return TM_OK;
}
