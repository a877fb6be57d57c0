/*
 * tm_sub_s8_ref.c - int8 SUB (input1 - input2), flat and broadcasting (tm_bcast); one kernel for
 * both int8 variants.
 *
 * TFLite's reference SUB is ADD's arithmetic with the difference of the two rescaled inputs in
 * place of their sum (shared/reference/tflite-op-arithmetic.md section 4; its parameters are
 * ADD's, computed in double as TFLite's sub.cc does):
 *   y = clamp(zp_out + rq(rq((x1 + o1) << ls, M1) - rq((x2 + o2) << ls, M2), M_out)).
 */
#include "tm_internal.h"
#include "tm_requant.h"

static tm_status tm_sub_check(const tm_add_params_s8 *p)
{
    if (p->left_shift < 0 || p->left_shift > 20 || p->input1_shift > 0 || p->input2_shift > 0 ||
        p->output_shift > 0 || tm_check_shift(p->input1_shift) != TM_OK ||
        tm_check_shift(p->input2_shift) != TM_OK || tm_check_shift(p->output_shift) != TM_OK ||
        tm_check_clamp_s8(p->act_min, p->act_max) != TM_OK) {
        return TM_ERR_PARAM;
    }
    return TM_OK;
}

static inline int8_t tm_sub_one(const tm_add_params_s8 *p, int8_t a, int8_t b)
{
    const int32_t x1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t s1 = tm_requantize(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tm_requantize(x2, p->input2_multiplier, p->input2_shift);
    const int32_t y = tm_requantize(s1 - s2, p->output_multiplier, p->output_shift) +
                      p->output_offset;
    return (int8_t)tm_clamp_s32(y, p->act_min, p->act_max);
}

tm_status tm_sub_s8_ref(const tm_add_params_s8 *p, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (tm_sub_check(p) != TM_OK) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = tm_sub_one(p, input1[i], input2[i]);
    }
    return TM_OK;
}

tm_status tm_sub_bcast_s8_ref(const tm_add_params_s8 *p, const tm_bcast *bcast,
                              const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (p == NULL || bcast == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (tm_check_bcast(bcast) != TM_OK) {
        return TM_ERR_SHAPE;
    }
    if (tm_sub_check(p) != TM_OK) {
        return TM_ERR_PARAM;
    }
    TM_BCAST_APPLY(bcast, input1, input2, output, tm_sub_one, p);
    return TM_OK;
}
