/*
 * tm_add_s8_opt.c - int8 ADD with DSP SIMD widening.
 *
 * Elements in groups of 4: one word load per input, the offsets added in the widening (SXTAB16 on
 * the even and, after a rotate, odd lanes), then per lane the same scalar requantization as the
 * reference (the requantization dominates the cost); the size mod 4 leftover elements run the
 * scalar loop.
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

static inline int8_t tm_add_one(const tm_add_params_s8 *p, int32_t a, int32_t b)
{
    const int32_t s1 = tm_requantize(a * (1 << p->left_shift), p->input1_multiplier,
                                     p->input1_shift);
    const int32_t s2 = tm_requantize(b * (1 << p->left_shift), p->input2_multiplier,
                                     p->input2_shift);
    const int32_t y = tm_requantize(s1 + s2, p->output_multiplier, p->output_shift) +
                      p->output_offset;
    return (int8_t)tm_clamp_s32(y, p->act_min, p->act_max);
}

static inline int32_t tm_lane16(int32_t w, int32_t hi)
{
    return hi ? (int32_t)(int16_t)(uint16_t)((uint32_t)w >> 16)
              : (int32_t)(int16_t)(uint16_t)((uint32_t)w & 0xFFFFu);
}

tm_status tm_add_s8_opt(const tm_add_params_s8 *p, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (p->left_shift < 0 || p->left_shift > 20 || p->input1_shift > 0 || p->input2_shift > 0 ||
        p->output_shift > 0 || tm_check_shift(p->input1_shift) != TM_OK ||
        tm_check_shift(p->input2_shift) != TM_OK || tm_check_shift(p->output_shift) != TM_OK ||
        tm_check_clamp_s8(p->act_min, p->act_max) != TM_OK) {
        return TM_ERR_PARAM;
    }
    const int32_t off1 = tm_dup16(p->input1_offset);
    const int32_t off2 = tm_dup16(p->input2_offset);
    int32_t i = 0;
    for (; i + 3 < size; i += 4) {
        const int32_t a = tm_read_s8x4(input1 + i);
        const int32_t b = tm_read_s8x4(input2 + i);
        const int32_t a02 = tm_sxtab16(off1, a);
        const int32_t a13 = tm_sxtab16(off1, (int32_t)tm_ror((uint32_t)a, 8u));
        const int32_t b02 = tm_sxtab16(off2, b);
        const int32_t b13 = tm_sxtab16(off2, (int32_t)tm_ror((uint32_t)b, 8u));
        output[i] = tm_add_one(p, tm_lane16(a02, 0), tm_lane16(b02, 0));
        output[i + 1] = tm_add_one(p, tm_lane16(a13, 0), tm_lane16(b13, 0));
        output[i + 2] = tm_add_one(p, tm_lane16(a02, 1), tm_lane16(b02, 1));
        output[i + 3] = tm_add_one(p, tm_lane16(a13, 1), tm_lane16(b13, 1));
    }
    for (; i < size; i++) {
        output[i] = tm_add_one(p, input1[i] + p->input1_offset, input2[i] + p->input2_offset);
    }
    return TM_OK;
}
