/*
 * tm_mul_s8_opt.c - int8 MUL of two same-shape tensors with DSP SIMD widening (the structure of
 * CMSIS-NN's 4-lane elementwise multiply; written from shared/reference/tflite-op-arithmetic.md
 * section 3(e)).
 *
 * Elements in groups of 4: one word load per input, the offsets added while widening (SXTAB16 on
 * the even and, after a rotate, the odd lanes), the lane products formed with SMULBB / SMULTT, then
 * each product requantized in scalar code exactly as the reference (double rounding); the size mod
 * 4 leftover elements run the scalar loop.  Bit-exact with tm_mul_s8_ref.  Broadcast forms run
 * tm_mul_bcast_s8_ref.
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

static inline int8_t tm_mul_out(const tm_mul_params_s8 *p, int32_t prod)
{
    const int32_t y = tm_requantize(prod, p->output_multiplier, p->output_shift) +
                      p->output_offset;
    return (int8_t)tm_clamp_s32(y, p->act_min, p->act_max);
}

tm_status tm_mul_s8_opt(const tm_mul_params_s8 *p, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    if (p->output_shift < -31 || p->output_shift > 15 ||
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
        output[i] = tm_mul_out(p, tm_smlabb(a02, b02, 0));
        output[i + 1] = tm_mul_out(p, tm_smlabb(a13, b13, 0));
        output[i + 2] = tm_mul_out(p, tm_smlatt(a02, b02, 0));
        output[i + 3] = tm_mul_out(p, tm_smlatt(a13, b13, 0));
    }
    for (; i < size; i++) {
        output[i] = tm_mul_out(p, (input1[i] + p->input1_offset) * (input2[i] + p->input2_offset));
    }
    return TM_OK;
}
