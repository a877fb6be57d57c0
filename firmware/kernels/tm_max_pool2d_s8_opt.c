/*
 * tm_max_pool2d_s8_opt.c - int8 MAX_POOL_2D with DSP SIMD, vectorised across channels.
 *
 * Per output pixel: channels in groups of 4 - one word load per valid tap and a 4-lane maximum
 * (SSUB8 + SEL), the clamp to [act_min, act_max] done the same way, one word store; the c mod 4
 * leftover channels run the scalar loop.  The window is clipped to the input once per pixel.
 */
#include "tm_dsp.h"
#include "tm_internal.h"

tm_status tm_max_pool2d_s8_opt(const tm_pool_params *pool, int32_t act_min, int32_t act_max,
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
    const int32_t lo4 = tm_dup8(act_min);
    const int32_t hi4 = tm_dup8(act_max);

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
                int8_t *out = output + tm_offset4(output_dims, b, oy, ox, 0);
                int32_t c = 0;
                for (; c + 3 < ch; c += 4) {
                    int32_t m = tm_dup8(-128);
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *p =
                            input + tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx0, c);
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            m = tm_max_s8x4(m, tm_read_s8x4(p));
                            p += ch;
                        }
                    }
                    m = tm_min_s8x4(tm_max_s8x4(m, lo4), hi4);
                    tm_write_s8x4(out + c, m);
                }
                for (; c < ch; c++) {
                    int32_t m = -128;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *p =
                            input + tm_offset4(input_dims, b, in_y0 + ky, in_x0 + kx0, c);
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            m = (*p > m) ? *p : m;
                            p += ch;
                        }
                    }
                    out[c] = (int8_t)tm_clamp_s32(m, act_min, act_max);
                }
            }
        }
    }
    return TM_OK;
}
