/*
 * tm_transpose_conv_s8_opt.c - int8 TRANSPOSE_CONV with DSP SIMD (gather form).
 *
 * The same sums as the scatter of tm_transpose_conv_s8_ref.c, formed per output element instead
 * (integer addition is exact, so the result is bit-identical and no int32 scratch is needed):
 * output pixel (oy, ox) receives tap (ky, kx) of input pixel (iy, ix) when
 * oy + pad_h - ky = iy * stride_h and ox + pad_w - kx = ix * stride_w with the input pixel inside
 * the input.  Per output pixel, output channels are taken two at a time; for every valid tap the
 * reduction over the input channels is an SMLAD dot product of the input pixel's channels (input
 * offset added while widening with SXTAB16) against the two weight rows w[oc, ky, kx, :], 4
 * channels a step and an ic mod 4 scalar tail; an odd last channel runs a one-row copy.  Weight
 * rows start at ((oc * kh + ky) * kw + kx) * ic bytes and input pixels at a multiple of ic, so for
 * odd ic 3/4 of the word loads are unaligned and for ic = 2 mod 4 half of them (the odd / even /
 * %4 classes of the latency model).  Requantization once per output (double rounding).
 */
#include "tm_dsp.h"
#include "tm_internal.h"
#include "tm_requant.h"

int32_t tm_transpose_conv_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                               const tm_dims *input_dims,
                                               const tm_dims *filter_dims,
                                               const tm_dims *output_dims)
{
    (void)conv;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

tm_path tm_transpose_conv_s8_opt_path(const tm_conv_params *conv, const tm_dims *input_dims,
                                      const tm_dims *filter_dims, const tm_dims *output_dims)
{
    (void)conv;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return TM_PATH_TCONV_GATHER;
}

/* acc0 += x . w0, acc1 += x . w1 over n channels (x + offset). */
static inline void tm_tconv_dot2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                                 int32_t offset, int32_t offset2, int32_t *acc0, int32_t *acc1)
{
    int32_t a0 = *acc0;
    int32_t a1 = *acc1;
    int32_t i = n >> 2;
    while (i-- > 0) {
        const int32_t xw = tm_read_s8x4_inc(&x);
        const int32_t x_even = tm_sxtab16(offset2, xw);
        const int32_t x_odd = tm_sxtab16(offset2, (int32_t)tm_ror((uint32_t)xw, 8u));
        const int32_t a = tm_read_s8x4_inc(&w0);
        const int32_t b = tm_read_s8x4_inc(&w1);
        a0 = tm_smlad(x_even, tm_sxtb16(a), a0);
        a0 = tm_smlad(x_odd, tm_sxtb16((int32_t)tm_ror((uint32_t)a, 8u)), a0);
        a1 = tm_smlad(x_even, tm_sxtb16(b), a1);
        a1 = tm_smlad(x_odd, tm_sxtb16((int32_t)tm_ror((uint32_t)b, 8u)), a1);
    }
    i = n & 3;
    while (i-- > 0) {
        const int32_t v = *x++ + offset;
        a0 += v * *w0++;
        a1 += v * *w1++;
    }
    *acc0 = a0;
    *acc1 = a1;
}

/* acc0 += x . w0 over n channels (x + offset). */
static inline void tm_tconv_dot1(const int8_t *x, const int8_t *w0, int32_t n, int32_t offset,
                                 int32_t offset2, int32_t *acc0)
{
    int32_t a0 = *acc0;
    int32_t i = n >> 2;
    while (i-- > 0) {
        const int32_t xw = tm_read_s8x4_inc(&x);
        const int32_t x_even = tm_sxtab16(offset2, xw);
        const int32_t x_odd = tm_sxtab16(offset2, (int32_t)tm_ror((uint32_t)xw, 8u));
        const int32_t a = tm_read_s8x4_inc(&w0);
        a0 = tm_smlad(x_even, tm_sxtb16(a), a0);
        a0 = tm_smlad(x_odd, tm_sxtb16((int32_t)tm_ror((uint32_t)a, 8u)), a0);
    }
    i = n & 3;
    while (i-- > 0) {
        a0 += (*x++ + offset) * *w0++;
    }
    *acc0 = a0;
}

/* The input row / column a tap reads for output coordinate o, or -1 when there is none. */
static inline int32_t tm_tconv_src(int32_t o, int32_t pad, int32_t k, int32_t stride,
                                   int32_t size)
{
    const int32_t t = o + pad - k;
    if (t < 0 || t % stride != 0) {
        return -1;
    }
    const int32_t i = t / stride;
    return i < size ? i : -1;
}

tm_status tm_transpose_conv_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                   const tm_dims *input_dims, const int8_t *input,
                                   const tm_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, const tm_dims *output_dims,
                                   int8_t *output, const tm_scratch *scratch)
{
    tm_status st = tm_check_transpose_conv(conv, input_dims, input, filter_dims, filter,
                                           output_dims, output);
    if (st != TM_OK) {
        return st;
    }
    st = tm_check_quant_s8(quant, output_dims->c);
    if (st != TM_OK) {
        return st;
    }
    (void)scratch;
    const int32_t in_c = input_dims->c;
    const int32_t out_c = output_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t offset = quant->input_offset;
    const int32_t offset2 = tm_dup16(offset);
    const int32_t oc_stride = k_h * k_w * in_c;

    for (int32_t b = 0; b < output_dims->n; b++) {
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                int8_t *out = output + tm_offset4(output_dims, b, oy, ox, 0);
                int32_t oc = 0;
                for (; oc < out_c; oc += 2) {
                    const int pair = oc + 1 < out_c;
                    int32_t acc0 = 0;
                    int32_t acc1 = 0;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t iy = tm_tconv_src(oy, conv->pad_h, ky, conv->stride_h,
                                                        input_dims->h);
                        if (iy < 0) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t ix = tm_tconv_src(ox, conv->pad_w, kx, conv->stride_w,
                                                            input_dims->w);
                            if (ix < 0) {
                                continue;
                            }
                            const int8_t *x = input + tm_offset4(input_dims, b, iy, ix, 0);
                            const int8_t *w0 = filter + tm_offset4(filter_dims, oc, ky, kx, 0);
                            if (pair) {
                                tm_tconv_dot2(x, w0, w0 + oc_stride, in_c, offset, offset2,
                                              &acc0, &acc1);
                            } else {
                                tm_tconv_dot1(x, w0, in_c, offset, offset2, &acc0);
                            }
                        }
                    }
                    for (int32_t j = 0; j < (pair ? 2 : 1); j++) {
                        const int32_t c = oc + j;
                        int32_t a = j == 0 ? acc0 : acc1;
                        if (bias != NULL) {
                            a += bias[c];
                        }
                        const int32_t q = quant->per_channel ? c : 0;
                        out[c] = tm_requant_s8(a, quant->multiplier[q], quant->shift[q],
                                               quant->output_offset, quant->act_min,
                                               quant->act_max);
                    }
                }
            }
        }
    }
    return TM_OK;
}
