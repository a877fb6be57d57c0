/*
 * tm_avg_pool2d_s8_opt.c - int8 AVERAGE_POOL_2D with DSP SIMD, vectorised across channels.
 *
 * Per output pixel: channels in groups of 4 - per valid tap one word load added into two int16x2
 * lane sums with SXTAB16 (channels 0/2 and, after a rotate, 1/3); then each sum is divided by the
 * tap count with TFLite's rounding (half away from zero) and clamped; the c mod 4 leftover
 * channels run the scalar loop.  int16 lane sums hold at most 256 taps of +-128, so windows with
 * more than 256 valid taps use the scalar loop for every channel.
 */
#include "tm_dsp.h"
#include "tm_internal.h"

static inline int8_t tm_avg_round(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    const int32_t q = (sum > 0) ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)tm_clamp_s32(q, lo, hi);
}

tm_status tm_avg_pool2d_s8_opt(const tm_pool_params *pool, int32_t act_min, int32_t act_max,
                               const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output)
{
    tm_status st = tm_check_pool(pool, input_dims, input, output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_clamp_s8(act_min, act_max);
    if (st != TM_OK) {
        return st;
    }
    const int32_t ch = input_dims->c;

    for (int32_t b = 0; b < output_dims->n; b++) {
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t in_y0 = oy * pool->stride_h - pool->pad_h;
            const int32_t ky0 = (in_y0 < 0) ? -in_y0 : 0;
            const int32_t ky1 = (input_dims->h - in_y0 < pool->filter_h)
                                    ? input_dims->h - in_y0 : pool->filter_h;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t in_x0 = ox * pool->stride_w - pool->pad_w;
                const int32_t kx0 = (in_x0 < 0) ? -in_x0 : 0;
                const int32_t kx1 = (input_dims->w - in_x0 < pool->filter_w)
                                        ? input_dims->w - in_x0 : pool->filter_w;
                const int32_t count = (ky1 - ky0) * (kx1 - kx0);
                if (ky1 <= ky0 || kx1 <= kx0) {
                    return TM_ERR_PARAM; /* window entirely in the padding */
                }
                int8_t *out = output + tm_offset4(output_dims, b, oy, ox, 0);
                int32_t c = 0;
                if (count <= 256) {
                    for (; c + 3 < ch; c += 4) {
                        int32_t sum02 = 0;
                        int32_t sum13 = 0;
                        for (int32_t ky = ky0; ky < ky1; ky++) {
                            const int8_t *p =
                                input + tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx0, c);
                            for (int32_t kx = kx0; kx < kx1; kx++) {
                                const int32_t w = tm_read_s8x4(p);
                                sum02 = tm_sxtab16(sum02, w);
                                sum13 = tm_sxtab16(sum13, (int32_t)tm_ror((uint32_t)w, 8u));
                                p += ch;
                            }
                        }
                        out[c] = tm_avg_round((int16_t)(uint16_t)((uint32_t)sum02 & 0xFFFFu),
                                              count, act_min, act_max);
                        out[c + 1] = tm_avg_round((int16_t)(uint16_t)((uint32_t)sum13 & 0xFFFFu),
                                                  count, act_min, act_max);
                        out[c + 2] = tm_avg_round((int16_t)(uint16_t)((uint32_t)sum02 >> 16),
                                                  count, act_min, act_max);
                        out[c + 3] = tm_avg_round((int16_t)(uint16_t)((uint32_t)sum13 >> 16),
                                                  count, act_min, act_max);
                    }
                }
                for (; c < ch; c++) {
                    int32_t sum = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *p =
                            input + tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx0, c);
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            sum += *p;
                            p += ch;
                        }
                    }
                    out[c] = tm_avg_round(sum, count, act_min, act_max);
                }
            }
        }
    }
    return TM_OK;
}
