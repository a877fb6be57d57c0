/*
 * tm_runner.c - validate a layer description, size it, and dispatch it to the kernels of the
 * image's variant.
 *
 * Which kernel families are linked is decided by the build (firmware/Makefile):
 *   TM_HAVE_F32     f32 kernels (f32-soft and f32 images; TM_F32_VARIANT says which of the two)
 *   TM_HAVE_S8_REF  s8_ref kernels (s8-ref and s8-opt images)
 *   TM_HAVE_S8_OPT  s8_opt kernels (s8-opt images)
 * The s8_opt entry points are weak references: an s8_opt kernel that is not (yet) linked makes
 * RUN_LAYER answer UNSUPPORTED for that op instead of failing the link; HELLO's op mask says which
 * ops the image has.
 *
 * Every size is computed in 64 bits from dimensions that were bounded first, so a description
 * read from the wire can never make the runner or a kernel address outside its buffers.
 */
#include <float.h>
#include <string.h>

#include "tm_mean.h"
#include "tm_runner.h"

#ifndef TM_HAVE_F32
#define TM_HAVE_F32 0
#endif
#ifndef TM_HAVE_S8_REF
#define TM_HAVE_S8_REF 0
#endif
#ifndef TM_HAVE_S8_OPT
#define TM_HAVE_S8_OPT 0
#endif
#ifndef TM_F32_VARIANT
#define TM_F32_VARIANT TM_VARIANT_F32
#endif
/* Float variants this image answers to (the host build of the fuzz harness answers to both). */
#ifndef TM_F32_VARIANT_MASK
#define TM_F32_VARIANT_MASK (1u << TM_F32_VARIANT)
#endif

#if TM_HAVE_S8_OPT
#pragma weak tm_conv2d_s8_opt
#pragma weak tm_conv2d_s8_opt_scratch_bytes
#pragma weak tm_conv2d_s8_opt_path
#pragma weak tm_depthwise_conv2d_s8_opt
#pragma weak tm_depthwise_conv2d_s8_opt_scratch_bytes
#pragma weak tm_depthwise_conv2d_s8_opt_path
#pragma weak tm_fully_connected_s8_opt
#pragma weak tm_fully_connected_s8_opt_scratch_bytes
#pragma weak tm_avg_pool2d_s8_opt
#pragma weak tm_max_pool2d_s8_opt
#pragma weak tm_add_s8_opt
#pragma weak tm_pad_s8_opt
#endif

/* Largest value of a geometry field (stride, padding, dilation, multiplier, pool window): keeps
 * every index product inside int32 for dims up to TM_RUN_MAX_DIM. */
#define TM_RUN_MAX_GEOM 255
/* Largest element count of one tensor (well above any MCU's RAM). */
#define TM_RUN_MAX_ELEMENTS (1u << 26)

static int tm_is_float_variant(tm_variant v)
{
    return v == TM_VARIANT_F32_SOFT || v == TM_VARIANT_F32;
}

uint32_t tm_runner_variants(void)
{
    uint32_t mask = 0;
#if TM_HAVE_F32
    mask |= TM_F32_VARIANT_MASK;
#endif
#if TM_HAVE_S8_REF
    mask |= 1u << TM_VARIANT_S8_REF;
#endif
#if TM_HAVE_S8_OPT
    mask |= 1u << TM_VARIANT_S8_OPT;
#endif
    return mask;
}

uint32_t tm_runner_ops(void)
{
    /* the ops this runner has a case for (each op appends its code here) */
    static const uint8_t linked[] = {
        TM_OP_CONV_2D, TM_OP_DEPTHWISE_CONV_2D, TM_OP_FULLY_CONNECTED, TM_OP_AVERAGE_POOL_2D,
        TM_OP_MAX_POOL_2D, TM_OP_ADD, TM_OP_SOFTMAX, TM_OP_RELU, TM_OP_RESHAPE, TM_OP_MEAN,
        TM_OP_TRANSPOSE, TM_OP_PAD, TM_OP_RESIZE_NEAREST_NEIGHBOR, TM_OP_RESIZE_BILINEAR,
        TM_OP_LOGISTIC, TM_OP_TANH, TM_OP_HARD_SWISH, TM_OP_LEAKY_RELU, TM_OP_PRELU,
    };
    uint32_t mask = 0;
#if TM_HAVE_F32 || TM_HAVE_S8_REF
    for (size_t i = 0; i < sizeof linked; i++) {
        mask |= 1u << linked[i];
    }
#else
    (void)linked;
#endif
#if TM_HAVE_S8_OPT
    /* an s8-opt image answers for the ops whose SIMD kernel is linked */
    if (!tm_conv2d_s8_opt) {
        mask &= ~(1u << TM_OP_CONV_2D);
    }
    if (!tm_depthwise_conv2d_s8_opt) {
        mask &= ~(1u << TM_OP_DEPTHWISE_CONV_2D);
    }
    if (!tm_fully_connected_s8_opt) {
        mask &= ~(1u << TM_OP_FULLY_CONNECTED);
    }
    if (!tm_avg_pool2d_s8_opt) {
        mask &= ~(1u << TM_OP_AVERAGE_POOL_2D);
    }
    if (!tm_max_pool2d_s8_opt) {
        mask &= ~(1u << TM_OP_MAX_POOL_2D);
    }
    if (!tm_add_s8_opt) {
        mask &= ~(1u << TM_OP_ADD);
    }
    if (!tm_pad_s8_opt) {
        mask &= ~(1u << TM_OP_PAD);
    }
#endif
    return mask;
}

uint64_t tm_runner_work(const tm_layer_desc *d)
{
    uint64_t out = 1;
    uint64_t in = 1;
    for (int i = 0; i < 4; i++) {
        out *= (uint64_t)(d->out[i] > 0 ? d->out[i] : 0);
        in *= (uint64_t)(d->in[i] > 0 ? d->in[i] : 0);
    }
    switch (d->op) {
    case TM_OP_CONV_2D:
        return out * (uint64_t)d->filter[1] * (uint64_t)d->filter[2] * (uint64_t)d->filter[3];
    case TM_OP_DEPTHWISE_CONV_2D:
        return out * (uint64_t)d->filter[1] * (uint64_t)d->filter[2];
    case TM_OP_FULLY_CONNECTED:
        return out * (uint64_t)d->filter[1];
    case TM_OP_AVERAGE_POOL_2D:
    case TM_OP_MAX_POOL_2D:
        return out * (uint64_t)d->geom[TM_G_FILTER_H] * (uint64_t)d->geom[TM_G_FILTER_W];
    default:
        return in + out;
    }
}

/* Float view of a quant word (the wire carries f32 bit patterns). */
static float tm_word_float(int32_t w)
{
    float f;
    uint32_t u = (uint32_t)w;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* -- quantization rules ---------------------------------------------------------------------- */

/* One rule of the table below (tm_quant_rule_kind says what it checks). */
typedef struct {
    uint32_t ops;    /* bit mask of tm_op codes */
    uint8_t f32;     /* 1: float variants, 0: int8 variants */
    uint8_t kind;    /* tm_quant_rule_kind */
    uint8_t slot;
    uint8_t other;   /* second slot of ORDER / AT_MOST_HALF / RADIUS / F32_ORDER, else 0 */
    int32_t lo;
    int32_t hi;
} tm_quant_rule;

#define TM_OPBIT(op) (1u << (op))
/* int8 ops with tm_quant_s8 requantization (offsets, clamp, multiplier, shift). */
#define TM_OPS_REQUANT (TM_OPBIT(TM_OP_CONV_2D) | TM_OPBIT(TM_OP_DEPTHWISE_CONV_2D) | \
                        TM_OPBIT(TM_OP_FULLY_CONNECTED) | TM_OPBIT(TM_OP_RELU) | \
                        TM_OPBIT(TM_OP_MEAN))
/* ... of which these take a QuantizeMultiplier result as it is (MEAN folds 1/n into it). */
#define TM_OPS_NORMALISED (TM_OPBIT(TM_OP_CONV_2D) | TM_OPBIT(TM_OP_DEPTHWISE_CONV_2D) | \
                           TM_OPBIT(TM_OP_FULLY_CONNECTED) | TM_OPBIT(TM_OP_RELU))
#define TM_OPS_POOL (TM_OPBIT(TM_OP_AVERAGE_POOL_2D) | TM_OPBIT(TM_OP_MAX_POOL_2D))
#define TM_OPS_ADD TM_OPBIT(TM_OP_ADD)
#define TM_OPS_SOFTMAX TM_OPBIT(TM_OP_SOFTMAX)
/* float ops with an activation clamp (tm_act_f32) */
#define TM_OPS_F32_ACT (TM_OPS_NORMALISED | TM_OPBIT(TM_OP_MEAN) | TM_OPS_POOL | TM_OPS_ADD)
#define TM_RULE(ops, f32, kind, slot, other, lo, hi) {ops, f32, kind, slot, other, lo, hi}
/* A QuantizeMultiplier result: 0, or in [2^30, 2^31). */
#define TM_MULT_LO 1073741824
#define TM_MULT_HI 2147483647
/* ... reduced to int16 (DownScaleInt32ToInt16Multiplier): [2^14, 2^15) */
#define TM_MULT_Q15_LO 16384
#define TM_MULT_Q15_HI 32767
/* ... of a negative real (LEAKY_RELU's negative alpha): any but INT32_MIN */
#define TM_MULT_SIGNED_LO (-2147483647)
#define TM_OPS_SIGMOID (TM_OPBIT(TM_OP_LOGISTIC) | TM_OPBIT(TM_OP_TANH))
#define TM_OPS_HARD_SWISH TM_OPBIT(TM_OP_HARD_SWISH)
#define TM_OPS_LEAKY_RELU TM_OPBIT(TM_OP_LEAKY_RELU)
#define TM_OPS_PRELU TM_OPBIT(TM_OP_PRELU)

/*
 * The rules, with the source of each.  References: "ref" is the project's reference on TFLite's
 * int8 arithmetic (shared/reference/tflite-op-arithmetic.md, section numbers), which cites
 * TFLite's quantization_util.cc (QuantizeMultiplier and its variants), kernel_util.cc
 * (CalculateActivationRangeQuantized) and the ADD / MEAN / SOFTMAX Prepare functions.
 * tinymodel/firmware_interface.py mirrors this table (tests/test_firmware_interface.py).
 */
static const tm_quant_rule tm_quant_rules[] = {
    /* int8 zero points lie in [-128, 127]; an input offset is -zp, an output offset +zp
     * (ref 5(a): "input offsets are -zp, the output offset is +zp"; tm_kernels.h) */
    TM_RULE(TM_OPS_REQUANT, 0, TM_RULE_RANGE, TM_Q_IN_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_REQUANT, 0, TM_RULE_RANGE, TM_Q_OUT_OFFSET, 0, -128, 127),
    /* fused activation range: within [-128, 127] (ref 1.5, CalculateActivationRangeQuantized) */
    TM_RULE(TM_OPS_REQUANT | TM_OPS_POOL, 0, TM_RULE_RANGE, TM_Q_ACT_MIN, 0, -128, 127),
    TM_RULE(TM_OPS_REQUANT | TM_OPS_POOL, 0, TM_RULE_RANGE, TM_Q_ACT_MAX, 0, -128, 127),
    TM_RULE(TM_OPS_REQUANT | TM_OPS_POOL, 0, TM_RULE_ORDER, TM_Q_ACT_MIN, TM_Q_ACT_MAX, 0, 0),
    /* QuantizeMultiplier: m = 0 (a zero or flushed multiplier) or 2^30 <= m < 2^31 (ref 1.2) */
    TM_RULE(TM_OPS_NORMALISED, 0, TM_RULE_ZERO_OR_RANGE, TM_Q_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    /* MEAN: m = floor(m0 * 2^k / n) is not renormalised, 0 <= m < 2^31 (ref 24(b) step 3) */
    TM_RULE(TM_OPBIT(TM_OP_MEAN), 0, TM_RULE_RANGE, TM_Q_MULT, 0, 0, TM_MULT_HI),
    /* shift: e < -31 is flushed to (0, 0), e <= 30 for single rounding (ref 1.2 steps 5-6);
     * MEAN's e - k stays >= -31 since k <= 31 + e (ref 24(b) step 3) */
    TM_RULE(TM_OPS_REQUANT, 0, TM_RULE_RANGE, TM_Q_SHIFT, 0, -31, 30),
    /* ADD (ref 5(a)): offsets as above, left_shift = 20 for int8, three
     * QuantizeMultiplierSmallerThanOneExp results (e <= 0, ref 1.2), each input multiplier
     * <= 1/2, the clamp of ref 1.5 */
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_IN1_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_IN2_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_LEFT_SHIFT, 0, 20, 20),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_ZERO_OR_RANGE, TM_QA_IN1_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_IN1_SHIFT, 0, -31, 0),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_AT_MOST_HALF, TM_QA_IN1_MULT, TM_QA_IN1_SHIFT, 0, 0),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_ZERO_OR_RANGE, TM_QA_IN2_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_IN2_SHIFT, 0, -31, 0),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_AT_MOST_HALF, TM_QA_IN2_MULT, TM_QA_IN2_SHIFT, 0, 0),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_ZERO_OR_RANGE, TM_QA_OUT_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_OUT_SHIFT, 0, -31, 0),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_ACT_MIN, 0, -128, 127),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_ACT_MAX, 0, -128, 127),
    TM_RULE(TM_OPS_ADD, 0, TM_RULE_ORDER, TM_QA_ACT_MIN, TM_QA_ACT_MAX, 0, 0),
    /* SOFTMAX (ref 29(a) Prepare): QuantizeMultiplierGreaterThanOne of a real < 2^31, so
     * 2^30 <= m < 2^31 and 0 <= e <= 31; diff_min = -CalculateInputRadius(5, e) */
    TM_RULE(TM_OPS_SOFTMAX, 0, TM_RULE_RANGE, TM_QS_IN_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_SOFTMAX, 0, TM_RULE_RANGE, TM_QS_IN_LEFT_SHIFT, 0, 0, 31),
    TM_RULE(TM_OPS_SOFTMAX, 0, TM_RULE_RADIUS, TM_QS_DIFF_MIN, TM_QS_IN_LEFT_SHIFT, 0, 0),
    /* LOGISTIC / TANH (ref 7(a), 8(a) TFLM Prepare): r = s_in * 2^27 split by frexp into
     * (m, e) with m = round(f * 2^31) in [2^30, 2^31) (the host refuses m = 2^31) and e >= 0
     * (s_in >= 2^-28); e <= 31 keeps the radius floor(15 * 2^27 / 2^e) a shift */
    TM_RULE(TM_OPS_SIGMOID, 0, TM_RULE_RANGE, TM_QLG_IN_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_SIGMOID, 0, TM_RULE_RANGE, TM_QLG_IN_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_SIGMOID, 0, TM_RULE_RANGE, TM_QLG_IN_LEFT_SHIFT, 0, 0, 31),
    /* HARD_SWISH (ref 9(a)): int16 multipliers; the output's e <= 0 (the kernel requires it),
     * both shifts within int16 rounding shifts (|e| <= 15) */
    TM_RULE(TM_OPS_HARD_SWISH, 0, TM_RULE_RANGE, TM_QHS_IN_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_HARD_SWISH, 0, TM_RULE_RANGE, TM_QHS_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_HARD_SWISH, 0, TM_RULE_RANGE, TM_QHS_OUT_MULT, 0, TM_MULT_Q15_LO,
            TM_MULT_Q15_HI),
    TM_RULE(TM_OPS_HARD_SWISH, 0, TM_RULE_RANGE, TM_QHS_OUT_SHIFT, 0, -15, 0),
    TM_RULE(TM_OPS_HARD_SWISH, 0, TM_RULE_RANGE, TM_QHS_RELUISH_MULT, 0, TM_MULT_Q15_LO,
            TM_MULT_Q15_HI),
    TM_RULE(TM_OPS_HARD_SWISH, 0, TM_RULE_RANGE, TM_QHS_RELUISH_SHIFT, 0, -15, 15),
    /* LEAKY_RELU (ref 10(a)): two QuantizeMultiplier results, alpha's negative for alpha < 0 */
    TM_RULE(TM_OPS_LEAKY_RELU, 0, TM_RULE_RANGE, TM_QLR_IN_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_LEAKY_RELU, 0, TM_RULE_RANGE, TM_QLR_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_LEAKY_RELU, 0, TM_RULE_ZERO_OR_RANGE, TM_QLR_ID_MULT, 0, TM_MULT_LO,
            TM_MULT_HI),
    TM_RULE(TM_OPS_LEAKY_RELU, 0, TM_RULE_RANGE, TM_QLR_ID_SHIFT, 0, -31, 30),
    TM_RULE(TM_OPS_LEAKY_RELU, 0, TM_RULE_RANGE, TM_QLR_ALPHA_MULT, 0, TM_MULT_SIGNED_LO,
            TM_MULT_HI),
    TM_RULE(TM_OPS_LEAKY_RELU, 0, TM_RULE_RANGE, TM_QLR_ALPHA_SHIFT, 0, -31, 30),
    /* PRELU (ref 11(a)): offsets as above, two QuantizeMultiplier results */
    TM_RULE(TM_OPS_PRELU, 0, TM_RULE_RANGE, TM_QPR_IN_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_PRELU, 0, TM_RULE_RANGE, TM_QPR_ALPHA_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_PRELU, 0, TM_RULE_RANGE, TM_QPR_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_PRELU, 0, TM_RULE_ZERO_OR_RANGE, TM_QPR_ID_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_PRELU, 0, TM_RULE_RANGE, TM_QPR_ID_SHIFT, 0, -31, 30),
    TM_RULE(TM_OPS_PRELU, 0, TM_RULE_ZERO_OR_RANGE, TM_QPR_ALPHA_MULT, 0, TM_MULT_LO,
            TM_MULT_HI),
    TM_RULE(TM_OPS_PRELU, 0, TM_RULE_RANGE, TM_QPR_ALPHA_SHIFT, 0, -31, 30),
    /* float LEAKY_RELU: alpha a finite number */
    TM_RULE(TM_OPS_LEAKY_RELU, 1, TM_RULE_F32_FINITE, TM_QF_ALPHA, 0, 0, 0),
    /* float: the activation clamp is an ordered pair of numbers (CalculateActivationRange),
     * SOFTMAX's beta a finite number */
    TM_RULE(TM_OPS_F32_ACT, 1, TM_RULE_F32_ORDER, TM_QF_ACT_MIN, TM_QF_ACT_MAX, 0, 0),
    TM_RULE(TM_OPS_SOFTMAX, 1, TM_RULE_F32_FINITE, TM_QF_BETA, 0, 0, 0),
    /* PAD / PADV2 (ref 6(a)): the int8 fill is zp_out or the constant's code, in [-128, 127];
     * a float fill is a finite number */
    TM_RULE(TM_OPBIT(TM_OP_PAD), 0, TM_RULE_RANGE, TM_QPAD_VALUE, 0, -128, 127),
    TM_RULE(TM_OPBIT(TM_OP_PAD), 1, TM_RULE_F32_FINITE, TM_QPAD_VALUE, 0, 0, 0),
};

static int tm_quant_rule_ok(const tm_quant_rule *r, const int32_t quant[12])
{
    const int32_t v = quant[r->slot];
    const int32_t w = quant[r->other];
    switch (r->kind) {
    case TM_RULE_RANGE:
        return v >= r->lo && v <= r->hi;
    case TM_RULE_ZERO_OR_RANGE:
        return v == 0 || (v >= r->lo && v <= r->hi);
    case TM_RULE_ORDER:
        return v <= w;
    case TM_RULE_AT_MOST_HALF:
        /* m * 2^(e - 31) <= 1/2 with 0 <= m < 2^31 and e <= 0: e < 0, or m <= 2^30 */
        return w < 0 || (w == 0 && v <= TM_MULT_LO);
    case TM_RULE_RADIUS:
        /* floor((2^5 - 1) * 2^26 / 2^e), exact in integers for 0 <= e <= 31 */
        return w >= 0 && w <= 31 && v == -(int32_t)((31u << 26) >> (uint32_t)w);
    case TM_RULE_F32_ORDER: {
        const float a = tm_word_float(v);
        const float b = tm_word_float(w);
        return a == a && b == b && a <= b;   /* a NaN is unequal to itself */
    }
    case TM_RULE_F32_FINITE: {
        const float a = tm_word_float(v);
        return a >= -FLT_MAX && a <= FLT_MAX;
    }
    default:
        return 0;
    }
}

tm_run_status tm_runner_check_quant(uint32_t op, tm_variant v, const int32_t quant[12],
                                    uint16_t *bad_field)
{
    const uint8_t f32 = tm_is_float_variant(v) ? 1u : 0u;
    const uint32_t bit = op < 32u ? (1u << op) : 0u;
    for (size_t i = 0; i < sizeof tm_quant_rules / sizeof tm_quant_rules[0]; i++) {
        const tm_quant_rule *r = &tm_quant_rules[i];
        if ((r->ops & bit) != 0u && r->f32 == f32 && !tm_quant_rule_ok(r, quant)) {
            if (bad_field != NULL) {
                *bad_field = (uint16_t)TM_FIELD_QUANT(r->slot);
            }
            return TM_RUN_PARAM;
        }
    }
    return TM_RUN_OK;
}

static int tm_dim_ok(int32_t v)
{
    return v >= 1 && v <= TM_RUN_MAX_DIM;
}

/* Checks all four dims; returns the element count (0 when a dim is out of range). */
static uint32_t tm_elems(const int32_t d[4], uint16_t field0, uint16_t *bad_field)
{
    uint64_t n = 1;
    for (int i = 0; i < 4; i++) {
        if (!tm_dim_ok(d[i])) {
            *bad_field = (uint16_t)(field0 + 4u * (uint32_t)i);
            return 0;
        }
        n *= (uint64_t)d[i];
        if (n > TM_RUN_MAX_ELEMENTS) {
            *bad_field = (uint16_t)(field0 + 4u * (uint32_t)i);
            return 0;
        }
    }
    return (uint32_t)n;
}

static int tm_geom_ok(int32_t v, int32_t lo)
{
    return v >= lo && v <= TM_RUN_MAX_GEOM;
}

/* Conv-style geometry: strides and dilations >= 1, paddings >= 0 (the slots TM_G_STRIDE_H ..
 * TM_G_DIL_W, or up to TM_G_PAD_W without dilation). */
static tm_run_status tm_check_geom(const tm_layer_desc *d, int dilation, uint16_t *bad_field)
{
    static const int32_t lo[TM_G_DIL_W + 1] = {
        [TM_G_STRIDE_H] = 1, [TM_G_STRIDE_W] = 1, [TM_G_PAD_H] = 0, [TM_G_PAD_W] = 0,
        [TM_G_DIL_H] = 1, [TM_G_DIL_W] = 1};
    const int n = dilation ? TM_G_DIL_W + 1 : TM_G_PAD_W + 1;
    for (int i = 0; i < n; i++) {
        if (!tm_geom_ok(d->geom[i], lo[i])) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(i);
            return TM_RUN_PARAM;
        }
    }
    return TM_RUN_OK;
}

/* Element-wise layers: the output has the input's shape, dim by dim. */
static tm_run_status tm_check_same_shape(const tm_layer_desc *d, uint16_t *bad_field)
{
    for (int i = 0; i < 4; i++) {
        if (d->out[i] != d->in[i]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(i);
            return TM_RUN_PARAM;
        }
    }
    return TM_RUN_OK;
}

static tm_conv_params tm_conv_of(const tm_layer_desc *d)
{
    tm_conv_params c;
    c.stride_h = d->geom[TM_G_STRIDE_H];
    c.stride_w = d->geom[TM_G_STRIDE_W];
    c.pad_h = d->geom[TM_G_PAD_H];
    c.pad_w = d->geom[TM_G_PAD_W];
    c.dilation_h = d->geom[TM_G_DIL_H];
    c.dilation_w = d->geom[TM_G_DIL_W];
    c.ch_mult = d->op == TM_OP_DEPTHWISE_CONV_2D ? d->geom[TM_G_CH_MULT] : 1;
    return c;
}

static tm_pool_params tm_pool_of(const tm_layer_desc *d)
{
    tm_pool_params p;
    p.stride_h = d->geom[TM_G_STRIDE_H];
    p.stride_w = d->geom[TM_G_STRIDE_W];
    p.pad_h = d->geom[TM_G_PAD_H];
    p.pad_w = d->geom[TM_G_PAD_W];
    p.filter_h = d->geom[TM_G_FILTER_H];
    p.filter_w = d->geom[TM_G_FILTER_W];
    return p;
}

static tm_dims tm_dims_of(const int32_t v[4])
{
    tm_dims t;
    t.n = v[0];
    t.h = v[1];
    t.w = v[2];
    t.c = v[3];
    return t;
}

static tm_fc_dims tm_fc_of(const tm_layer_desc *d)
{
    tm_fc_dims f;
    f.batches = d->in[0];
    f.in_features = d->in[3];
    f.out_features = d->filter[0];
    return f;
}

static int32_t tm_scratch_of(const tm_layer_desc *d, tm_variant v)
{
    const tm_conv_params conv = tm_conv_of(d);
    const tm_dims in = tm_dims_of(d->in);
    const tm_dims fil = tm_dims_of(d->filter);
    const tm_dims out = tm_dims_of(d->out);
    const tm_fc_dims fc = tm_fc_of(d);
    (void)conv, (void)in, (void)fil, (void)out, (void)fc;
    switch (d->op) {
    case TM_OP_CONV_2D:
#if TM_HAVE_F32
        if (tm_is_float_variant(v)) {
            return tm_conv2d_f32_scratch_bytes(&conv, &in, &fil, &out);
        }
#endif
#if TM_HAVE_S8_OPT
        if (v == TM_VARIANT_S8_OPT) {
            return tm_conv2d_s8_opt_scratch_bytes ? tm_conv2d_s8_opt_scratch_bytes(&conv, &in, &fil, &out) : 0;
        }
#endif
#if TM_HAVE_S8_REF
        if (v == TM_VARIANT_S8_REF) {
            return tm_conv2d_s8_ref_scratch_bytes(&conv, &in, &fil, &out);
        }
#endif
        return 0;
    case TM_OP_DEPTHWISE_CONV_2D:
#if TM_HAVE_F32
        if (tm_is_float_variant(v)) {
            return tm_depthwise_conv2d_f32_scratch_bytes(&conv, &in, &fil, &out);
        }
#endif
#if TM_HAVE_S8_OPT
        if (v == TM_VARIANT_S8_OPT) {
            return tm_depthwise_conv2d_s8_opt_scratch_bytes
                       ? tm_depthwise_conv2d_s8_opt_scratch_bytes(&conv, &in, &fil, &out) : 0;
        }
#endif
#if TM_HAVE_S8_REF
        if (v == TM_VARIANT_S8_REF) {
            return tm_depthwise_conv2d_s8_ref_scratch_bytes(&conv, &in, &fil, &out);
        }
#endif
        return 0;
    case TM_OP_FULLY_CONNECTED:
#if TM_HAVE_F32
        if (tm_is_float_variant(v)) {
            return tm_fully_connected_f32_scratch_bytes(&fc);
        }
#endif
#if TM_HAVE_S8_OPT
        if (v == TM_VARIANT_S8_OPT) {
            return tm_fully_connected_s8_opt_scratch_bytes ? tm_fully_connected_s8_opt_scratch_bytes(&fc) : 0;
        }
#endif
#if TM_HAVE_S8_REF
        if (v == TM_VARIANT_S8_REF) {
            return tm_fully_connected_s8_ref_scratch_bytes(&fc);
        }
#endif
        return 0;
    default:
        return 0;
    }
}

tm_run_status tm_runner_sizes(const tm_layer_desc *d, tm_variant v, tm_layer_sizes *s,
                              uint16_t *bad_field)
{
    uint16_t scratch_field = 0;
    if (bad_field == NULL) {
        bad_field = &scratch_field;
    }
    *bad_field = 0;
    memset(s, 0, sizeof *s);
    if ((uint32_t)v >= (uint32_t)TM_VARIANT_COUNT) {
        *bad_field = TM_FIELD_VARIANT;
        return TM_RUN_PARAM;
    }
    if ((tm_runner_variants() & (1u << (uint32_t)v)) == 0) {
        return TM_RUN_VARIANT;
    }
    const uint32_t elem = tm_is_float_variant(v) ? 4u : 1u;
    const uint32_t in_n = tm_elems(d->in, TM_FIELD_IN(0), bad_field);
    if (in_n == 0) {
        return TM_RUN_PARAM;
    }
    const uint32_t out_n = tm_elems(d->out, TM_FIELD_OUT(0), bad_field);
    if (out_n == 0) {
        return TM_RUN_PARAM;
    }
    uint64_t weights = 0;
    uint64_t bias = 0;
    uint32_t channels = 0;
    /* tensor sizes; an op whose tensors differ from "in / out elements of the variant's dtype"
     * (a second input, a float side of QUANTIZE) sets them in its case */
    uint64_t in_bytes = (uint64_t)in_n * elem;
    uint64_t in2_bytes = 0;
    uint64_t out_bytes = (uint64_t)out_n * elem;
    const int has_bias = (d->flags & TM_LAYER_FLAG_BIAS) != 0;

    switch (d->op) {
    case TM_OP_CONV_2D: {
        const uint32_t w_n = tm_elems(d->filter, TM_FIELD_FILTER(0), bad_field);
        if (w_n == 0) {
            return TM_RUN_PARAM;
        }
        if (tm_check_geom(d, 1, bad_field) != TM_RUN_OK) {
            return TM_RUN_PARAM;
        }
        if (d->filter[3] != d->in[3]) {
            *bad_field = (uint16_t)TM_FIELD_FILTER(3);
            return TM_RUN_PARAM;
        }
        if (d->filter[0] != d->out[3]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(3);
            return TM_RUN_PARAM;
        }
        if (d->out[0] != d->in[0]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(0);
            return TM_RUN_PARAM;
        }
        weights = (uint64_t)w_n * elem;
        channels = (uint32_t)d->out[3];
        break;
    }
    case TM_OP_DEPTHWISE_CONV_2D: {
        const uint32_t w_n = tm_elems(d->filter, TM_FIELD_FILTER(0), bad_field);
        if (w_n == 0) {
            return TM_RUN_PARAM;
        }
        if (tm_check_geom(d, 1, bad_field) != TM_RUN_OK) {
            return TM_RUN_PARAM;
        }
        if (!tm_geom_ok(d->geom[TM_G_CH_MULT], 1)) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_G_CH_MULT);
            return TM_RUN_PARAM;
        }
        if (d->filter[0] != 1) {
            *bad_field = (uint16_t)TM_FIELD_FILTER(0);
            return TM_RUN_PARAM;
        }
        if (d->filter[3] != d->out[3] ||
            (int64_t)d->in[3] * d->geom[TM_G_CH_MULT] != (int64_t)d->out[3]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(3);
            return TM_RUN_PARAM;
        }
        if (d->out[0] != d->in[0]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(0);
            return TM_RUN_PARAM;
        }
        weights = (uint64_t)w_n * elem;
        channels = (uint32_t)d->out[3];
        break;
    }
    case TM_OP_FULLY_CONNECTED: {
        /* input (batches, 1, 1, in), filter (out, in, 1, 1), output (batches, 1, 1, out) */
        if (d->filter[0] < 1 || d->filter[0] > TM_RUN_MAX_DIM) {
            *bad_field = (uint16_t)TM_FIELD_FILTER(0);
            return TM_RUN_PARAM;
        }
        if (d->filter[1] != d->in[3]) {
            *bad_field = (uint16_t)TM_FIELD_FILTER(1);
            return TM_RUN_PARAM;
        }
        if (d->in[1] != 1 || d->in[2] != 1) {
            *bad_field = (uint16_t)TM_FIELD_IN(1);
            return TM_RUN_PARAM;
        }
        if (d->out[0] != d->in[0] || d->out[1] != 1 || d->out[2] != 1 || d->out[3] != d->filter[0]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(3);
            return TM_RUN_PARAM;
        }
        const uint64_t w_n = (uint64_t)d->filter[0] * (uint64_t)d->filter[1];
        if (w_n > TM_RUN_MAX_ELEMENTS) {
            *bad_field = (uint16_t)TM_FIELD_FILTER(0);
            return TM_RUN_PARAM;
        }
        weights = w_n * elem;
        channels = (uint32_t)d->filter[0];
        break;
    }
    case TM_OP_AVERAGE_POOL_2D:
    case TM_OP_MAX_POOL_2D:
        if (tm_check_geom(d, 0, bad_field) != TM_RUN_OK) {
            return TM_RUN_PARAM;
        }
        if (!tm_geom_ok(d->geom[TM_G_FILTER_H], 1)) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_G_FILTER_H);
            return TM_RUN_PARAM;
        }
        if (!tm_geom_ok(d->geom[TM_G_FILTER_W], 1)) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_G_FILTER_W);
            return TM_RUN_PARAM;
        }
        if (d->out[0] != d->in[0] || d->out[3] != d->in[3]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(3);
            return TM_RUN_PARAM;
        }
        break;
    case TM_OP_PRELU: {
        /* alpha (filter[]): each dim 1 (broadcast) or the input's */
        const uint32_t a_n = tm_elems(d->filter, TM_FIELD_FILTER(0), bad_field);
        if (a_n == 0) {
            return TM_RUN_PARAM;
        }
        for (int i = 0; i < 4; i++) {
            if (d->filter[i] != 1 && d->filter[i] != d->in[i]) {
                *bad_field = (uint16_t)TM_FIELD_FILTER(i);
                return TM_RUN_PARAM;
            }
        }
        if (tm_check_same_shape(d, bad_field) != TM_RUN_OK) {
            return TM_RUN_PARAM;
        }
        weights = (uint64_t)a_n * elem;
        break;
    }
    case TM_OP_LOGISTIC:
    case TM_OP_TANH:
    case TM_OP_HARD_SWISH:
    case TM_OP_LEAKY_RELU:
        if (tm_check_same_shape(d, bad_field) != TM_RUN_OK) {
            return TM_RUN_PARAM;
        }
        break;
    case TM_OP_ADD:
    case TM_OP_RELU:
    case TM_OP_SOFTMAX:
        if (out_n != in_n || d->out[3] != d->in[3]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(3);
            return TM_RUN_PARAM;
        }
        if (d->op == TM_OP_ADD) {
            in2_bytes = in_bytes;
        }
        break;
    case TM_OP_RESHAPE:
        if (out_n != in_n) {
            *bad_field = (uint16_t)TM_FIELD_OUT(0);
            return TM_RUN_PARAM;
        }
        break;
    case TM_OP_MEAN:
        if (d->out[0] != d->in[0] || d->out[1] != 1 || d->out[2] != 1 || d->out[3] != d->in[3]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(1);
            return TM_RUN_PARAM;
        }
        break;
    case TM_OP_TRANSPOSE: {
        /* geom[TM_GTR_PERM0 + k] is a permutation of 0..3 and out[k] == in[perm_k] */
        uint32_t seen = 0;
        for (int k = 0; k < 4; k++) {
            const int32_t p = d->geom[TM_GTR_PERM0 + k];
            if (p < 0 || p > 3 || (seen & (1u << (uint32_t)p)) != 0) {
                *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GTR_PERM0 + k);
                return TM_RUN_PARAM;
            }
            seen |= 1u << (uint32_t)p;
            if (d->out[k] != d->in[p]) {
                *bad_field = (uint16_t)TM_FIELD_OUT(k);
                return TM_RUN_PARAM;
            }
        }
        break;
    }
    case TM_OP_PAD:
        /* 0 <= before_k and before_k + in[k] <= out[k] (after_k = out[k] - in[k] - before_k) */
        for (int k = 0; k < 4; k++) {
            const int32_t b = d->geom[TM_GPAD_BEFORE_N + k];
            if (b < 0 || b > TM_RUN_MAX_DIM) {
                *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GPAD_BEFORE_N + k);
                return TM_RUN_PARAM;
            }
            if ((int64_t)b + d->in[k] > (int64_t)d->out[k]) {
                *bad_field = (uint16_t)TM_FIELD_OUT(k);
                return TM_RUN_PARAM;
            }
        }
        break;
    case TM_OP_RESIZE_NEAREST_NEIGHBOR:
    case TM_OP_RESIZE_BILINEAR:
        if (d->geom[TM_GRS_ALIGN_CORNERS] != 0 && d->geom[TM_GRS_ALIGN_CORNERS] != 1) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GRS_ALIGN_CORNERS);
            return TM_RUN_PARAM;
        }
        /* both flags: TFLite refuses it for bilinear (ref 16(a)) */
        if ((d->geom[TM_GRS_HALF_PIXEL_CENTERS] != 0 && d->geom[TM_GRS_HALF_PIXEL_CENTERS] != 1) ||
            (d->op == TM_OP_RESIZE_BILINEAR && d->geom[TM_GRS_HALF_PIXEL_CENTERS] == 1 &&
             d->geom[TM_GRS_ALIGN_CORNERS] == 1)) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GRS_HALF_PIXEL_CENTERS);
            return TM_RUN_PARAM;
        }
        if (d->out[0] != d->in[0] || d->out[3] != d->in[3]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(d->out[0] != d->in[0] ? 0 : 3);
            return TM_RUN_PARAM;
        }
        break;
    default:
        *bad_field = TM_FIELD_OP;
        return TM_RUN_PARAM;
    }

    if (tm_runner_check_quant(d->op, v, d->quant, bad_field) != TM_RUN_OK) {
        return TM_RUN_PARAM;
    }
    if (channels > 0 && has_bias) {
        bias = (uint64_t)channels * 4u;
    }
    const int32_t scratch = tm_scratch_of(d, v);
    if (scratch < 0) {
        return TM_RUN_PARAM;
    }
    s->in_bytes = (uint32_t)in_bytes;
    s->in2_bytes = (uint32_t)in2_bytes;
    s->out_bytes = (uint32_t)out_bytes;
    s->scratch_bytes = (uint32_t)scratch;
    s->weight_bytes = (uint32_t)weights;
    s->bias_bytes = (uint32_t)bias;
    s->channels = channels;
    return TM_RUN_OK;
}

#if TM_HAVE_F32 || TM_HAVE_S8_REF || TM_HAVE_S8_OPT
static tm_pad_params tm_pad_of(const tm_layer_desc *d)
{
    tm_pad_params pad;
    pad.before_n = d->geom[TM_GPAD_BEFORE_N];
    pad.before_h = d->geom[TM_GPAD_BEFORE_H];
    pad.before_w = d->geom[TM_GPAD_BEFORE_W];
    pad.before_c = d->geom[TM_GPAD_BEFORE_C];
    return pad;
}

static tm_resize_params tm_resize_of(const tm_layer_desc *d)
{
    tm_resize_params rs;
    rs.align_corners = d->geom[TM_GRS_ALIGN_CORNERS];
    rs.half_pixel_centers = d->geom[TM_GRS_HALF_PIXEL_CENTERS];
    return rs;
}

/* The data-movement kernels shared by every variant (TRANSPOSE, PAD, RESIZE_NEAREST_NEIGHBOR),
 * on elements of elem_bytes bytes. */
static tm_status tm_exec_move(const tm_layer_desc *d, int32_t elem_bytes, const tm_layer_ptrs *p)
{
    const tm_dims in = tm_dims_of(d->in);
    const tm_dims out = tm_dims_of(d->out);
    switch (d->op) {
    case TM_OP_TRANSPOSE: {
        tm_transpose_params tr;
        tr.perm0 = d->geom[TM_GTR_PERM0];
        tr.perm1 = d->geom[TM_GTR_PERM1];
        tr.perm2 = d->geom[TM_GTR_PERM2];
        tr.perm3 = d->geom[TM_GTR_PERM3];
        return tm_transpose(&tr, elem_bytes, &in, p->in, &out, p->out);
    }
    case TM_OP_PAD: {
        const tm_pad_params pad = tm_pad_of(d);
        tm_pad_value pv;
        pv.value = d->quant[TM_QPAD_VALUE];
        return tm_pad(&pad, elem_bytes, pv.value, &in, p->in, &out, p->out);
    }
    case TM_OP_RESIZE_NEAREST_NEIGHBOR: {
        const tm_resize_params rs = tm_resize_of(d);
        return tm_resize_nearest(&rs, elem_bytes, &in, p->in, &out, p->out);
    }
    default:
        return TM_ERR_UNSUPPORTED;
    }
}
#endif

uint8_t tm_runner_path(const tm_layer_desc *d, tm_variant v)
{
#if TM_HAVE_S8_OPT
    if (v == TM_VARIANT_S8_OPT) {
        const tm_conv_params conv = tm_conv_of(d);
        const tm_dims in = tm_dims_of(d->in);
        const tm_dims fil = tm_dims_of(d->filter);
        const tm_dims out = tm_dims_of(d->out);
        if (d->op == TM_OP_CONV_2D && tm_conv2d_s8_opt_path) {
            return (uint8_t)tm_conv2d_s8_opt_path(&conv, &in, &fil, &out);
        }
        if (d->op == TM_OP_DEPTHWISE_CONV_2D && tm_depthwise_conv2d_s8_opt_path) {
            return (uint8_t)tm_depthwise_conv2d_s8_opt_path(&conv, &in, &fil, &out);
        }
    }
#else
    (void)d;
    (void)v;
#endif
    return TM_PATH_NONE;
}

#if TM_HAVE_F32
static tm_run_status tm_exec_f32(const tm_layer_desc *d, const tm_layer_ptrs *p, tm_status *st)
{
    const tm_conv_params conv = tm_conv_of(d);
    const tm_pool_params pool = tm_pool_of(d);
    const tm_dims in = tm_dims_of(d->in);
    const tm_dims fil = tm_dims_of(d->filter);
    const tm_dims out = tm_dims_of(d->out);
    const tm_fc_dims fc = tm_fc_of(d);
    tm_act_f32 act;
    act.act_min = tm_word_float(d->quant[TM_QF_ACT_MIN]);
    act.act_max = tm_word_float(d->quant[TM_QF_ACT_MAX]);
    const tm_scratch scratch = {p->scratch, (int32_t)d->scratch_bytes};
    const int32_t size = d->in[0] * d->in[1] * d->in[2] * d->in[3];
    const float *bias = (d->flags & TM_LAYER_FLAG_BIAS) ? (const float *)p->bias : NULL;
    switch (d->op) {
    case TM_OP_CONV_2D:
        *st = tm_conv2d_f32(&conv, &act, &in, (const float *)p->in, &fil,
                            (const float *)p->weights, bias, &out, (float *)p->out, &scratch);
        break;
    case TM_OP_DEPTHWISE_CONV_2D:
        *st = tm_depthwise_conv2d_f32(&conv, &act, &in, (const float *)p->in, &fil,
                                      (const float *)p->weights, bias, &out, (float *)p->out,
                                      &scratch);
        break;
    case TM_OP_FULLY_CONNECTED:
        *st = tm_fully_connected_f32(&act, &fc, (const float *)p->in, (const float *)p->weights,
                                     bias, (float *)p->out, &scratch);
        break;
    case TM_OP_AVERAGE_POOL_2D:
        *st = tm_avg_pool2d_f32(&pool, &act, &in, (const float *)p->in, &out, (float *)p->out);
        break;
    case TM_OP_MAX_POOL_2D:
        *st = tm_max_pool2d_f32(&pool, &act, &in, (const float *)p->in, &out, (float *)p->out);
        break;
    case TM_OP_ADD:
        *st = tm_add_f32(&act, size, (const float *)p->in, (const float *)p->in2,
                         (float *)p->out);
        break;
    case TM_OP_SOFTMAX:
        *st = tm_softmax_f32(tm_word_float(d->quant[TM_QF_BETA]), d->in[0] * d->in[1] * d->in[2],
                             d->in[3], (const float *)p->in, (float *)p->out);
        break;
    case TM_OP_RELU:
        *st = tm_relu_f32(&act, size, (const float *)p->in, (float *)p->out);
        break;
    case TM_OP_RESHAPE:
        *st = tm_reshape(p->in, p->out, size * 4);
        break;
    case TM_OP_MEAN:
        *st = tm_mean_f32(&act, &in, (const float *)p->in, (float *)p->out);
        break;
    case TM_OP_TRANSPOSE:
    case TM_OP_PAD:
    case TM_OP_RESIZE_NEAREST_NEIGHBOR:
        *st = tm_exec_move(d, 4, p);
        break;
    case TM_OP_RESIZE_BILINEAR: {
        const tm_resize_params rs = tm_resize_of(d);
        *st = tm_resize_bilinear_f32(&rs, &in, (const float *)p->in, &out, (float *)p->out);
        break;
    }
    case TM_OP_LOGISTIC:
        *st = tm_logistic_f32(size, (const float *)p->in, (float *)p->out);
        break;
    case TM_OP_TANH:
        *st = tm_tanh_f32(size, (const float *)p->in, (float *)p->out);
        break;
    case TM_OP_HARD_SWISH:
        *st = tm_hard_swish_f32(size, (const float *)p->in, (float *)p->out);
        break;
    case TM_OP_LEAKY_RELU:
        *st = tm_leaky_relu_f32(tm_word_float(d->quant[TM_QF_ALPHA]), size,
                                (const float *)p->in, (float *)p->out);
        break;
    case TM_OP_PRELU:
        *st = tm_prelu_f32(&in, (const float *)p->in, &fil, (const float *)p->weights,
                           (float *)p->out);
        break;
    default:
        return TM_RUN_UNSUPPORTED;
    }
    return *st == TM_OK ? TM_RUN_OK : TM_RUN_KERNEL;
}
#endif

#if TM_HAVE_S8_REF || TM_HAVE_S8_OPT
static tm_run_status tm_exec_s8(const tm_layer_desc *d, tm_variant v, const tm_layer_ptrs *p,
                                tm_status *st)
{
    const tm_conv_params conv = tm_conv_of(d);
    const tm_pool_params pool = tm_pool_of(d);
    const tm_dims in = tm_dims_of(d->in);
    const tm_dims fil = tm_dims_of(d->filter);
    const tm_dims out = tm_dims_of(d->out);
    const tm_fc_dims fc = tm_fc_of(d);
    const tm_scratch scratch = {p->scratch, (int32_t)d->scratch_bytes};
    const int32_t size = d->in[0] * d->in[1] * d->in[2] * d->in[3];
    const int32_t *bias = (d->flags & TM_LAYER_FLAG_BIAS) ? (const int32_t *)p->bias : NULL;
    tm_quant_s8 q;
    q.input_offset = d->quant[TM_Q_IN_OFFSET];
    q.output_offset = d->quant[TM_Q_OUT_OFFSET];
    q.act_min = d->quant[TM_Q_ACT_MIN];
    q.act_max = d->quant[TM_Q_ACT_MAX];
    q.per_channel = (d->flags & TM_LAYER_FLAG_PER_CHANNEL) ? 1 : 0;
    q.multiplier = q.per_channel ? p->mult : &d->quant[TM_Q_MULT];
    q.shift = q.per_channel ? p->shift : &d->quant[TM_Q_SHIFT];
    const int opt = v == TM_VARIANT_S8_OPT;
    (void)opt;

    switch (d->op) {
    case TM_OP_CONV_2D:
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_conv2d_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_conv2d_s8_opt(&conv, &q, &in, (const int8_t *)p->in, &fil,
                                   (const int8_t *)p->weights, bias, &out, (int8_t *)p->out,
                                   &scratch);
            break;
        }
#endif
        *st = tm_conv2d_s8_ref(&conv, &q, &in, (const int8_t *)p->in, &fil,
                               (const int8_t *)p->weights, bias, &out, (int8_t *)p->out, &scratch);
        break;
    case TM_OP_DEPTHWISE_CONV_2D:
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_depthwise_conv2d_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_depthwise_conv2d_s8_opt(&conv, &q, &in, (const int8_t *)p->in, &fil,
                                             (const int8_t *)p->weights, bias, &out,
                                             (int8_t *)p->out, &scratch);
            break;
        }
#endif
        *st = tm_depthwise_conv2d_s8_ref(&conv, &q, &in, (const int8_t *)p->in, &fil,
                                         (const int8_t *)p->weights, bias, &out,
                                         (int8_t *)p->out, &scratch);
        break;
    case TM_OP_FULLY_CONNECTED:
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_fully_connected_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_fully_connected_s8_opt(&q, &fc, (const int8_t *)p->in,
                                            (const int8_t *)p->weights, bias, (int8_t *)p->out,
                                            &scratch);
            break;
        }
#endif
        *st = tm_fully_connected_s8_ref(&q, &fc, (const int8_t *)p->in, (const int8_t *)p->weights,
                                        bias, (int8_t *)p->out, &scratch);
        break;
    case TM_OP_AVERAGE_POOL_2D:
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_avg_pool2d_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_avg_pool2d_s8_opt(&pool, q.act_min, q.act_max, &in, (const int8_t *)p->in,
                                       &out, (int8_t *)p->out);
            break;
        }
#endif
        *st = tm_avg_pool2d_s8_ref(&pool, q.act_min, q.act_max, &in, (const int8_t *)p->in, &out,
                                   (int8_t *)p->out);
        break;
    case TM_OP_MAX_POOL_2D:
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_max_pool2d_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_max_pool2d_s8_opt(&pool, q.act_min, q.act_max, &in, (const int8_t *)p->in,
                                       &out, (int8_t *)p->out);
            break;
        }
#endif
        *st = tm_max_pool2d_s8_ref(&pool, q.act_min, q.act_max, &in, (const int8_t *)p->in, &out,
                                   (int8_t *)p->out);
        break;
    case TM_OP_ADD: {
        tm_add_params_s8 a;
        a.input1_offset = d->quant[TM_QA_IN1_OFFSET];
        a.input2_offset = d->quant[TM_QA_IN2_OFFSET];
        a.output_offset = d->quant[TM_QA_OUT_OFFSET];
        a.left_shift = d->quant[TM_QA_LEFT_SHIFT];
        a.input1_multiplier = d->quant[TM_QA_IN1_MULT];
        a.input1_shift = d->quant[TM_QA_IN1_SHIFT];
        a.input2_multiplier = d->quant[TM_QA_IN2_MULT];
        a.input2_shift = d->quant[TM_QA_IN2_SHIFT];
        a.output_multiplier = d->quant[TM_QA_OUT_MULT];
        a.output_shift = d->quant[TM_QA_OUT_SHIFT];
        a.act_min = d->quant[TM_QA_ACT_MIN];
        a.act_max = d->quant[TM_QA_ACT_MAX];
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_add_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_add_s8_opt(&a, size, (const int8_t *)p->in, (const int8_t *)p->in2,
                                (int8_t *)p->out);
            break;
        }
#endif
        *st = tm_add_s8_ref(&a, size, (const int8_t *)p->in, (const int8_t *)p->in2,
                            (int8_t *)p->out);
        break;
    }
    case TM_OP_SOFTMAX: {
        tm_softmax_params_s8 sp;
        sp.input_multiplier = d->quant[TM_QS_IN_MULT];
        sp.input_left_shift = d->quant[TM_QS_IN_LEFT_SHIFT];
        sp.diff_min = d->quant[TM_QS_DIFF_MIN];
        *st = tm_softmax_s8_ref(&sp, d->in[0] * d->in[1] * d->in[2], d->in[3],
                                (const int8_t *)p->in, (int8_t *)p->out);
        break;
    }
    case TM_OP_RELU:
        q.per_channel = 0;
        q.multiplier = &d->quant[TM_Q_MULT];
        q.shift = &d->quant[TM_Q_SHIFT];
        *st = tm_relu_s8_ref(&q, size, (const int8_t *)p->in, (int8_t *)p->out);
        break;
    case TM_OP_RESHAPE:
        *st = tm_reshape(p->in, p->out, size);
        break;
    case TM_OP_MEAN:
        q.per_channel = 0;
        q.multiplier = &d->quant[TM_Q_MULT];
        q.shift = &d->quant[TM_Q_SHIFT];
        *st = tm_mean_s8(&q, &in, (const int8_t *)p->in, (int8_t *)p->out);
        break;
    case TM_OP_PAD:
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_pad_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            const tm_pad_params pad = tm_pad_of(d);
            tm_pad_value pv;
            pv.value = d->quant[TM_QPAD_VALUE];
            *st = tm_pad_s8_opt(&pad, (int8_t)pv.value, &in, (const int8_t *)p->in, &out,
                                (int8_t *)p->out);
            break;
        }
#endif
        *st = tm_exec_move(d, 1, p);
        break;
    case TM_OP_TRANSPOSE:
    case TM_OP_RESIZE_NEAREST_NEIGHBOR:
        *st = tm_exec_move(d, 1, p);
        break;
    case TM_OP_RESIZE_BILINEAR: {
        const tm_resize_params rs = tm_resize_of(d);
        *st = tm_resize_bilinear_s8_ref(&rs, &in, (const int8_t *)p->in, &out, (int8_t *)p->out);
        break;
    }
    case TM_OP_LOGISTIC:
    case TM_OP_TANH: {
        /* s8-opt images run the scalar kernels too (TFLM has no CMSIS-NN int8 sigmoid / tanh) */
        tm_logistic_params_s8 lg;
        lg.input_offset = d->quant[TM_QLG_IN_OFFSET];
        lg.input_multiplier = d->quant[TM_QLG_IN_MULT];
        lg.input_left_shift = d->quant[TM_QLG_IN_LEFT_SHIFT];
        *st = d->op == TM_OP_LOGISTIC
                  ? tm_logistic_s8_ref(&lg, size, (const int8_t *)p->in, (int8_t *)p->out)
                  : tm_tanh_s8_ref(&lg, size, (const int8_t *)p->in, (int8_t *)p->out);
        break;
    }
    case TM_OP_HARD_SWISH: {
        tm_hard_swish_params_s8 hs;
        hs.input_offset = d->quant[TM_QHS_IN_OFFSET];
        hs.output_offset = d->quant[TM_QHS_OUT_OFFSET];
        hs.output_multiplier = d->quant[TM_QHS_OUT_MULT];
        hs.output_shift = d->quant[TM_QHS_OUT_SHIFT];
        hs.reluish_multiplier = d->quant[TM_QHS_RELUISH_MULT];
        hs.reluish_shift = d->quant[TM_QHS_RELUISH_SHIFT];
        *st = tm_hard_swish_s8_ref(&hs, size, (const int8_t *)p->in, (int8_t *)p->out);
        break;
    }
    case TM_OP_LEAKY_RELU: {
        tm_leaky_relu_params_s8 lr;
        lr.input_offset = d->quant[TM_QLR_IN_OFFSET];
        lr.output_offset = d->quant[TM_QLR_OUT_OFFSET];
        lr.identity_multiplier = d->quant[TM_QLR_ID_MULT];
        lr.identity_shift = d->quant[TM_QLR_ID_SHIFT];
        lr.alpha_multiplier = d->quant[TM_QLR_ALPHA_MULT];
        lr.alpha_shift = d->quant[TM_QLR_ALPHA_SHIFT];
        *st = tm_leaky_relu_s8_ref(&lr, size, (const int8_t *)p->in, (int8_t *)p->out);
        break;
    }
    case TM_OP_PRELU: {
        tm_prelu_params_s8 pr;
        pr.input_offset = d->quant[TM_QPR_IN_OFFSET];
        pr.alpha_offset = d->quant[TM_QPR_ALPHA_OFFSET];
        pr.output_offset = d->quant[TM_QPR_OUT_OFFSET];
        pr.identity_multiplier = d->quant[TM_QPR_ID_MULT];
        pr.identity_shift = d->quant[TM_QPR_ID_SHIFT];
        pr.alpha_multiplier = d->quant[TM_QPR_ALPHA_MULT];
        pr.alpha_shift = d->quant[TM_QPR_ALPHA_SHIFT];
        *st = tm_prelu_s8_ref(&pr, &in, (const int8_t *)p->in, &fil, (const int8_t *)p->weights,
                              (int8_t *)p->out);
        break;
    }
    default:
        return TM_RUN_UNSUPPORTED;
    }
    return *st == TM_OK ? TM_RUN_OK : TM_RUN_KERNEL;
}
#endif

tm_run_status tm_runner_exec(const tm_layer_desc *d, tm_variant v, const tm_layer_ptrs *p,
                             int32_t *kernel_status)
{
    tm_status st = TM_OK;
    tm_run_status rs = TM_RUN_VARIANT;
#if defined(TM_FUZZ_MAX_WORK)
    /* fuzz builds: validation runs in full, but very long kernel calls are skipped */
    if (tm_runner_work(d) > (uint64_t)TM_FUZZ_MAX_WORK) {
        if (kernel_status != NULL) {
            *kernel_status = 0;
        }
        return TM_RUN_UNSUPPORTED;
    }
#endif
    if ((uint32_t)v < (uint32_t)TM_VARIANT_COUNT && (tm_runner_variants() & (1u << (uint32_t)v))) {
#if TM_HAVE_F32
        if (tm_is_float_variant(v)) {
            rs = tm_exec_f32(d, p, &st);
        }
#endif
#if TM_HAVE_S8_REF || TM_HAVE_S8_OPT
        if (!tm_is_float_variant(v)) {
            rs = tm_exec_s8(d, v, p, &st);
        }
#endif
    }
    if (kernel_status != NULL) {
        *kernel_status = (int32_t)st;
    }
    return rs;
}
