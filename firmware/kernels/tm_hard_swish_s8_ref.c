/*
 * tm_hard_swish_s8_ref.c - int8 HARD_SWISH, x * relu6(x + 3) / 6, in TFLite's int16 fixed point
 * (the reference kernel of TFLite and TFLite Micro).
 *
 * With v = q + input_offset and h = 128 v (the input on a scale 128 times finer, int16):
 *   p = srdhm16(h, output_multiplier)                       the output value before its shift
 *   r = h, rescaled by reluish_multiplier * 2^reluish_shift onto the scale 3/32768
 *       (a left shift is split around the multiply: r * 2^(e-1), srdhm16, * 2, each saturated)
 *   r = (r + 32768) >> 1                                    relu6(x + 3) / 6 in [0, 32767]
 *   out = clamp(rounding_divide_by_pot(sdhm16(r, p), -output_shift) + output_offset)
 * where srdhm16(a, b) = floor((a b + 2^14) / 2^15) and sdhm16(a, b) = (a b) / 2^15 truncated,
 * both saturating -32768 * -32768 to 32767.  The multipliers are int16 (Q0.15).
 */
#include "tm_internal.h"

static int32_t tm_sat16(int32_t v)
{
    return tm_clamp_s32(v, -32768, 32767);
}

static int32_t tm_srdhm16(int32_t a, int32_t b)
{
    if (a == -32768 && b == -32768) {
        return 32767;
    }
    const int32_t ab = a * b;
    /* floor((ab + 2^14) / 2^15): an arithmetic shift floors */
    return (ab + (1 << 14)) >> 15;
}

static int32_t tm_sdhm16(int32_t a, int32_t b)
{
    if (a == -32768 && b == -32768) {
        return 32767;
    }
    return (a * b) / (1 << 15);
}

tm_status tm_hard_swish_s8_ref(const tm_hard_swish_params_s8 *params, int32_t size,
                               const int8_t *input, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    const tm_hard_swish_params_s8 *k = params;
    if (k->input_offset < -127 || k->input_offset > 128 || k->output_offset < -128 ||
        k->output_offset > 127 || k->output_multiplier < 0 || k->output_multiplier > 32767 ||
        k->reluish_multiplier < 0 || k->reluish_multiplier > 32767 || k->output_shift > 0 ||
        k->output_shift < -15 || k->reluish_shift < -15 || k->reluish_shift > 15) {
        return TM_ERR_PARAM;
    }
    for (int32_t i = 0; i < size; i++) {
        const int32_t h = (input[i] + k->input_offset) * 128;
        const int32_t p = tm_srdhm16(h, k->output_multiplier);
        int32_t r = h;
        if (k->reluish_shift > 0) {
            r = tm_sat16(r * (1 << (k->reluish_shift - 1)));
        }
        r = tm_srdhm16(r, k->reluish_multiplier);
        if (k->reluish_shift > 0) {
            r = tm_sat16(r * 2);
        }
        if (k->reluish_shift < 0) {
            r = tm_rounding_divide_by_pot(r, -k->reluish_shift);
        }
        r = (r + 32768) >> 1;
        const int32_t o = tm_rounding_divide_by_pot(tm_sdhm16(r, p), -k->output_shift) +
                          k->output_offset;
        output[i] = (int8_t)tm_clamp_s32(o, -128, 127);
    }
    return TM_OK;
}
