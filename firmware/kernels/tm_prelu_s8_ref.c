/*
 * tm_prelu_s8_ref.c - int8 PRELU with a constant alpha that broadcasts (TFLite's reference
 * BroadcastPrelu4DSlow).
 *
 * alpha has the input's rank padded to 4-D; each of its dims is 1 (broadcast) or the input's.
 * With v = q + input_offset and a = alpha + alpha_offset at the same (broadcast) position:
 *   v >= 0:  out = requantize(v, identity_multiplier, identity_shift)
 *   v <  0:  out = requantize(v * a, alpha_multiplier, alpha_shift)
 * then clamp(out + output_offset) to [-128, 127]; requantize is double rounding (tm_requant.h).
 */
#include "tm_internal.h"

/* Stride of alpha along one dim: 0 where it broadcasts. */
static int32_t tm_bstride(int32_t alpha_dim, int32_t stride)
{
    return alpha_dim == 1 ? 0 : stride;
}

tm_status tm_prelu_s8_ref(const tm_prelu_params_s8 *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *alpha_dims, const int8_t *alpha,
                          int8_t *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || alpha_dims == NULL ||
        alpha == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    const tm_dims *d = input_dims;
    const tm_dims *a = alpha_dims;
    if (!tm_dims_valid(d) || !tm_dims_valid(a) || (a->n != 1 && a->n != d->n) ||
        (a->h != 1 && a->h != d->h) || (a->w != 1 && a->w != d->w) ||
        (a->c != 1 && a->c != d->c)) {
        return TM_ERR_SHAPE;
    }
    const tm_prelu_params_s8 *k = params;
    if (k->input_offset < -127 || k->input_offset > 128 || k->alpha_offset < -127 ||
        k->alpha_offset > 128 || k->output_offset < -128 || k->output_offset > 127 ||
        k->identity_shift < -31 || k->identity_shift > 30 || k->alpha_shift < -31 ||
        k->alpha_shift > 30) {
        return TM_ERR_PARAM;
    }
    const int32_t sc = tm_bstride(a->c, 1);
    const int32_t sw = tm_bstride(a->w, a->c);
    const int32_t sh = tm_bstride(a->h, a->w * a->c);
    const int32_t sn = tm_bstride(a->n, a->h * a->w * a->c);
    int32_t i = 0;
    for (int32_t n = 0; n < d->n; n++) {
        for (int32_t y = 0; y < d->h; y++) {
            for (int32_t x = 0; x < d->w; x++) {
                const int8_t *arow = alpha + n * sn + y * sh + x * sw;
                for (int32_t c = 0; c < d->c; c++, i++) {
                    const int32_t v = input[i] + k->input_offset;
                    int32_t o;
                    if (v >= 0) {
                        o = tm_requantize_double(v, k->identity_multiplier, k->identity_shift);
                    } else {
                        o = tm_requantize_double(v * (arow[c * sc] + k->alpha_offset),
                                                 k->alpha_multiplier, k->alpha_shift);
                    }
                    output[i] = (int8_t)tm_clamp_s32(tm_wrap_add(o, k->output_offset), -128, 127);
                }
            }
        }
    }
    return TM_OK;
}
