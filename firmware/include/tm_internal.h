/*
 * tm_internal.h - helpers shared by the kernel sources (not part of the public API):
 * the NHWC offset helper and the argument checks every kernel runs before touching memory.
 */
#ifndef TM_INTERNAL_H
#define TM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tm_kernels.h"
#include "tm_requant.h"

/* Element offset of (n, y, x, c) in an NHWC tensor of shape d (TFLM-style 4-D offset helper). */
static inline int32_t tm_offset4(const tm_dims *d, int32_t n, int32_t y, int32_t x, int32_t c)
{
    return ((n * d->h + y) * d->w + x) * d->c + c;
}

/* Elements of an NHWC shape. */
static inline int32_t tm_dims_size(const tm_dims *d)
{
    return d->n * d->h * d->w * d->c;
}

/* Largest dimension product the kernels accept: element offsets must fit int32. */
#define TM_MAX_ELEMENTS ((int64_t)0x3FFFFFFF)

static inline int tm_dims_valid(const tm_dims *d)
{
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0) {
        return 0;
    }
    return ((int64_t)d->n * d->h * d->w * d->c) <= TM_MAX_ELEMENTS;
}

/* A broadcast description a kernel can walk: positive output dims whose product fits int32,
 * non-negative strides (the runner has checked that they stay inside each input). */
static inline tm_status tm_check_bcast(const tm_bcast *b)
{
    int64_t n = 1;
    for (int i = 0; i < 4; i++) {
        if (b->out[i] <= 0 || b->stride1[i] < 0 || b->stride2[i] < 0) {
            return TM_ERR_SHAPE;
        }
        n *= b->out[i];
    }
    return n <= TM_MAX_ELEMENTS ? TM_OK : TM_ERR_SHAPE;
}

/*
 * The loop every _bcast kernel runs: output elements in order, input k read at
 * n * stridek[0] + h * stridek[1] + w * stridek[2] + c * stridek[3]; y[o] = FN(ctx, a, b).
 * Row offsets are computed once per (n, h, w); the innermost loop walks the channels.
 */
#define TM_BCAST_APPLY(bc, x1, x2, y, FN, ctx)                                                  \
    do {                                                                                        \
        int32_t o_ = 0;                                                                         \
        const int32_t c1_ = (bc)->stride1[3];                                                   \
        const int32_t c2_ = (bc)->stride2[3];                                                   \
        for (int32_t n_ = 0; n_ < (bc)->out[0]; n_++) {                                         \
            for (int32_t h_ = 0; h_ < (bc)->out[1]; h_++) {                                     \
                for (int32_t w_ = 0; w_ < (bc)->out[2]; w_++) {                                 \
                    const int32_t r1_ = n_ * (bc)->stride1[0] + h_ * (bc)->stride1[1] +          \
                                        w_ * (bc)->stride1[2];                                  \
                    const int32_t r2_ = n_ * (bc)->stride2[0] + h_ * (bc)->stride2[1] +          \
                                        w_ * (bc)->stride2[2];                                  \
                    for (int32_t c_ = 0; c_ < (bc)->out[3]; c_++) {                             \
                        (y)[o_++] = FN((ctx), (x1)[r1_ + c_ * c1_], (x2)[r2_ + c_ * c2_]);      \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    } while (0)

static inline tm_status tm_check_clamp_s8(int32_t act_min, int32_t act_max)
{
    if (act_min < -128 || act_max > 127 || act_min > act_max) {
        return TM_ERR_PARAM;
    }
    return TM_OK;
}

static inline tm_status tm_check_shift(int32_t shift)
{
#if TM_SINGLE_ROUNDING
    return (shift < -31 || shift > 30) ? TM_ERR_PARAM : TM_OK;
#else
    return (shift < -31 || shift > 31) ? TM_ERR_PARAM : TM_OK;
#endif
}

/* Quantization parameters for `channels` output channels (max_shift: 31, or 30 where the
 * kernel rounds once). */
static inline tm_status tm_check_quant_shift_s8(const tm_quant_s8 *q, int32_t channels,
                                                int32_t max_shift)
{
    if (q == NULL || q->multiplier == NULL || q->shift == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (q->input_offset < -127 || q->input_offset > 128 || q->output_offset < -128 ||
        q->output_offset > 127) {
        return TM_ERR_PARAM;
    }
    const tm_status st = tm_check_clamp_s8(q->act_min, q->act_max);
    if (st != TM_OK) {
        return st;
    }
    const int32_t n = q->per_channel ? channels : 1;
    for (int32_t i = 0; i < n; i++) {
        if (tm_check_shift(q->shift[i]) != TM_OK || q->shift[i] > max_shift ||
            q->multiplier[i] < 0) {
            return TM_ERR_PARAM;
        }
    }
    return TM_OK;
}

/* Quantization parameters of conv / depthwise / relu kernels (tm_requantize). */
static inline tm_status tm_check_quant_s8(const tm_quant_s8 *q, int32_t channels)
{
    return tm_check_quant_shift_s8(q, channels, TM_SINGLE_ROUNDING ? 30 : 31);
}

/* Quantization parameters of dense kernels (tm_requantize_fc). */
static inline tm_status tm_check_quant_fc_s8(const tm_quant_s8 *q, int32_t channels)
{
    return tm_check_quant_shift_s8(q, channels, TM_FC_SINGLE_ROUNDING ? 30 : 31);
}

/* Scratch of at least `required` bytes, 4-byte aligned (no check when nothing is required). */
static inline tm_status tm_check_scratch(const tm_scratch *s, int32_t required)
{
    if (required <= 0) {
        return TM_OK;
    }
    if (s == NULL || s->buf == NULL || s->bytes < required || ((uintptr_t)s->buf & 3u) != 0u) {
        return TM_ERR_SCRATCH;
    }
    return TM_OK;
}

/* Geometry shared by conv, depthwise and pooling. */
static inline tm_status tm_check_geometry(int32_t stride_h, int32_t stride_w, int32_t pad_h,
                                          int32_t pad_w, int32_t dil_h, int32_t dil_w)
{
    if (stride_h <= 0 || stride_w <= 0 || dil_h <= 0 || dil_w <= 0 || pad_h < 0 || pad_w < 0) {
        return TM_ERR_PARAM;
    }
    return TM_OK;
}

/* CONV_2D shapes: input (n,h,w,ic), filter (oc,kh,kw,ic), output (n,oh,ow,oc). */
static inline tm_status tm_check_conv(const tm_conv_params *conv, const tm_dims *in,
                                      const void *input, const tm_dims *fil, const void *filter,
                                      const tm_dims *out, const void *output)
{
    if (conv == NULL || in == NULL || input == NULL || fil == NULL || filter == NULL ||
        out == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_dims_valid(in) || !tm_dims_valid(fil) || !tm_dims_valid(out)) {
        return TM_ERR_SHAPE;
    }
    if (in->n != out->n || fil->c != in->c || fil->n != out->c) {
        return TM_ERR_SHAPE;
    }
    return tm_check_geometry(conv->stride_h, conv->stride_w, conv->pad_h, conv->pad_w,
                             conv->dilation_h, conv->dilation_w);
}

/* DEPTHWISE_CONV_2D shapes: filter (1,kh,kw,ic*m), output (n,oh,ow,ic*m). */
static inline tm_status tm_check_depthwise(const tm_conv_params *conv, const tm_dims *in,
                                           const void *input, const tm_dims *fil,
                                           const void *filter, const tm_dims *out,
                                           const void *output)
{
    if (conv == NULL || in == NULL || input == NULL || fil == NULL || filter == NULL ||
        out == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_dims_valid(in) || !tm_dims_valid(fil) || !tm_dims_valid(out)) {
        return TM_ERR_SHAPE;
    }
    if (conv->ch_mult <= 0) {
        return TM_ERR_PARAM;
    }
    if (in->n != out->n || fil->n != 1 || fil->c != out->c ||
        (int64_t)in->c * conv->ch_mult != (int64_t)out->c) {
        return TM_ERR_SHAPE;
    }
    return tm_check_geometry(conv->stride_h, conv->stride_w, conv->pad_h, conv->pad_w,
                             conv->dilation_h, conv->dilation_w);
}

/* Pooling shapes: input (n,h,w,c), output (n,oh,ow,c). */
static inline tm_status tm_check_pool(const tm_pool_params *pool, const tm_dims *in,
                                      const void *input, const tm_dims *out, const void *output)
{
    if (pool == NULL || in == NULL || input == NULL || out == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_dims_valid(in) || !tm_dims_valid(out) || in->n != out->n || in->c != out->c) {
        return TM_ERR_SHAPE;
    }
    if (pool->filter_h <= 0 || pool->filter_w <= 0) {
        return TM_ERR_PARAM;
    }
    return tm_check_geometry(pool->stride_h, pool->stride_w, pool->pad_h, pool->pad_w, 1, 1);
}

/* TRANSPOSE_CONV shapes: input (n,h,w,ic), filter (oc,kh,kw,ic), output (n,oh,ow,oc), dilation 1. */
static inline tm_status tm_check_transpose_conv(const tm_conv_params *conv, const tm_dims *in,
                                                const void *input, const tm_dims *fil,
                                                const void *filter, const tm_dims *out,
                                                const void *output)
{
    const tm_status st = tm_check_conv(conv, in, input, fil, filter, out, output);
    if (st != TM_OK) {
        return st;
    }
    return (conv->dilation_h != 1 || conv->dilation_w != 1) ? TM_ERR_PARAM : TM_OK;
}

/* BATCH_MATMUL shapes (tm_kernels.h): the (m, k) x (k, n) -> (m, n) matrices agree and every
 * batch dim of the output is the broadcast of the operands'. */
static inline tm_status tm_check_bmm(const tm_bmm_params *p, const tm_dims *l, const void *lhs,
                                     const tm_dims *r, const void *rhs, const tm_dims *o,
                                     const void *out)
{
    if (p == NULL || l == NULL || lhs == NULL || r == NULL || rhs == NULL || o == NULL ||
        out == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (!tm_dims_valid(l) || !tm_dims_valid(r) || !tm_dims_valid(o)) {
        return TM_ERR_SHAPE;
    }
    const int32_t m = p->adj_x ? l->c : l->w;
    const int32_t k = p->adj_x ? l->w : l->c;
    const int32_t rk = p->adj_y ? r->c : r->w;
    const int32_t n = p->adj_y ? r->w : r->c;
    if (k != rk || o->w != m || o->c != n) {
        return TM_ERR_SHAPE;
    }
    if ((l->n != r->n && l->n != 1 && r->n != 1) || o->n != (l->n > r->n ? l->n : r->n) ||
        (l->h != r->h && l->h != 1 && r->h != 1) || o->h != (l->h > r->h ? l->h : r->h)) {
        return TM_ERR_SHAPE;
    }
    return TM_OK;
}

/* Dense shapes. */
static inline tm_status tm_check_fc(const tm_fc_dims *d, const void *input, const void *weights,
                                    const void *output)
{
    if (d == NULL || input == NULL || weights == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (d->batches <= 0 || d->in_features <= 0 || d->out_features <= 0) {
        return TM_ERR_SHAPE;
    }
    if ((int64_t)d->in_features * d->out_features > TM_MAX_ELEMENTS ||
        (int64_t)d->batches * d->in_features > TM_MAX_ELEMENTS ||
        (int64_t)d->batches * d->out_features > TM_MAX_ELEMENTS) {
        return TM_ERR_SHAPE;
    }
    return TM_OK;
}

/* Shapes of a PAD (tm_pad.c; both PAD kernels call it): every before >= 0 and
 * before + in <= out per dim, valid dims; TM_OK or TM_ERR_SHAPE. */
tm_status tm_pad_check(const tm_pad_params *params, const tm_dims *in, const tm_dims *out);

#endif /* TM_INTERNAL_H */
