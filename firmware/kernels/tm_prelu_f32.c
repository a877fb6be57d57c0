/*
 * tm_prelu_f32.c - float PRELU with a constant alpha that broadcasts: x >= 0 ? x : alpha * x.
 * alpha has the input's rank padded to 4-D; each of its dims is 1 (broadcast) or the input's.
 */
#include "tm_internal.h"

/* Stride of alpha along one dim: 0 where it broadcasts. */
static int32_t tm_bstride(int32_t alpha_dim, int32_t stride)
{
    return alpha_dim == 1 ? 0 : stride;
}

tm_status tm_prelu_f32(const tm_dims *input_dims, const float *input, const tm_dims *alpha_dims,
                       const float *alpha, float *output)
{
    if (input_dims == NULL || input == NULL || alpha_dims == NULL || alpha == NULL ||
        output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    const tm_dims *d = input_dims;
    const tm_dims *a = alpha_dims;
    if (!tm_dims_valid(d) || !tm_dims_valid(a) || (a->n != 1 && a->n != d->n) ||
        (a->h != 1 && a->h != d->h) || (a->w != 1 && a->w != d->w) ||
        (a->c != 1 && a->c != d->c)) {
        return TM_ERR_SHAPE;
    }
    const int32_t sc = tm_bstride(a->c, 1);
    const int32_t sw = tm_bstride(a->w, a->c);
    const int32_t sh = tm_bstride(a->h, a->w * a->c);
    const int32_t sn = tm_bstride(a->n, a->h * a->w * a->c);
    int32_t i = 0;
    for (int32_t n = 0; n < d->n; n++) {
        for (int32_t y = 0; y < d->h; y++) {
            for (int32_t x = 0; x < d->w; x++) {
                const float *arow = alpha + n * sn + y * sh + x * sw;
                for (int32_t c = 0; c < d->c; c++, i++) {
                    const float v = input[i];
                    output[i] = v >= 0.0f ? v : v * arow[c * sc];
                }
            }
        }
    }
    return TM_OK;
}
