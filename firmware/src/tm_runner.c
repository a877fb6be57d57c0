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
#include "tm_model.h"
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
#pragma weak tm_transpose_conv_s8_opt
#pragma weak tm_transpose_conv_s8_opt_scratch_bytes
#pragma weak tm_transpose_conv_s8_opt_path
#pragma weak tm_mul_s8_opt
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
        TM_OP_CONCATENATION, TM_OP_STRIDED_SLICE,
        TM_OP_MUL, TM_OP_SUB, TM_OP_MAXIMUM, TM_OP_MINIMUM,
        TM_OP_TRANSPOSE, TM_OP_PAD, TM_OP_RESIZE_NEAREST_NEIGHBOR, TM_OP_RESIZE_BILINEAR,
        TM_OP_LOGISTIC, TM_OP_TANH, TM_OP_HARD_SWISH, TM_OP_LEAKY_RELU, TM_OP_PRELU,
        TM_OP_TRANSPOSE_CONV, TM_OP_BATCH_MATMUL,
        TM_OP_QUANTIZE, TM_OP_DEQUANTIZE, TM_OP_SUM,
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
    if (!tm_transpose_conv_s8_opt) {
        mask &= ~(1u << TM_OP_TRANSPOSE_CONV);
    }
    if (!tm_mul_s8_opt) {
        mask &= ~(1u << TM_OP_MUL);
    }
    if (!tm_pad_s8_opt) {
        mask &= ~(1u << TM_OP_PAD);
    }
#endif
    return mask;
}

/* The other operand's shape of a binary element-wise layer: filter[], or in[] when filter[] is
 * all 0 (the equal-shape form the code generator has always written for two run-time inputs). */
static const int32_t *tm_other_shape(const tm_layer_desc *d)
{
    const int zero = d->filter[0] == 0 && d->filter[1] == 0 && d->filter[2] == 0 &&
                     d->filter[3] == 0;
    return zero ? d->in : d->filter;
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
    case TM_OP_TRANSPOSE_CONV:
        /* every input element meets every tap of every output channel */
        return in * (uint64_t)d->filter[0] * (uint64_t)d->filter[1] * (uint64_t)d->filter[2];
    case TM_OP_BATCH_MATMUL:
        /* m x n outputs per batch, each a reduction over k */
        return out * (uint64_t)(d->geom[TM_GB_ADJ_X] ? d->in[2] : d->in[3]);
    case TM_OP_AVERAGE_POOL_2D:
    case TM_OP_MAX_POOL_2D:
        return out * (uint64_t)d->geom[TM_G_FILTER_H] * (uint64_t)d->geom[TM_G_FILTER_W];
    case TM_OP_ADD:
    case TM_OP_SUB:
    case TM_OP_MUL:
    case TM_OP_MAXIMUM:
    case TM_OP_MINIMUM: {
        /* both operands and the output */
        const int32_t *shape2 = tm_other_shape(d);
        uint64_t other = 1;
        for (int i = 0; i < 4; i++) {
            other *= (uint64_t)(shape2[i] > 0 ? shape2[i] : 0);
        }
        return in + other + out;
    }
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
                        TM_OPBIT(TM_OP_MEAN) | TM_OPBIT(TM_OP_TRANSPOSE_CONV) | TM_OPBIT(TM_OP_SUM))
/* ... of which these take a QuantizeMultiplier result as it is (MEAN folds 1/n into it). */
#define TM_OPS_NORMALISED (TM_OPBIT(TM_OP_CONV_2D) | TM_OPBIT(TM_OP_DEPTHWISE_CONV_2D) | \
                           TM_OPBIT(TM_OP_FULLY_CONNECTED) | TM_OPBIT(TM_OP_RELU) | \
                           TM_OPBIT(TM_OP_TRANSPOSE_CONV) | TM_OPBIT(TM_OP_SUM))
#define TM_OPS_POOL (TM_OPBIT(TM_OP_AVERAGE_POOL_2D) | TM_OPBIT(TM_OP_MAX_POOL_2D))
/* ADD and SUB share tm_add_params_s8 (SUB is ADD's arithmetic with a difference) */
#define TM_OPS_ADD (TM_OPBIT(TM_OP_ADD) | TM_OPBIT(TM_OP_SUB))
#define TM_OPS_MUL TM_OPBIT(TM_OP_MUL)
#define TM_OPS_SOFTMAX TM_OPBIT(TM_OP_SOFTMAX)
#define TM_OPS_BMM TM_OPBIT(TM_OP_BATCH_MATMUL)
/* QUANTIZE / DEQUANTIZE: the same kernels (and rules) in float and int8 variants */
#define TM_OPS_CONVERT (TM_OPBIT(TM_OP_QUANTIZE) | TM_OPBIT(TM_OP_DEQUANTIZE))
/* float ops with an activation clamp (tm_act_f32) */
#define TM_OPS_F32_ACT (TM_OPS_NORMALISED | TM_OPBIT(TM_OP_MEAN) | TM_OPS_POOL | TM_OPS_ADD | \
                        TM_OPS_BMM | TM_OPS_MUL)
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
    /* MUL (ref 3(a)): offsets as above, one QuantizeMultiplier result of s1 * s2 / s_out whose
     * shift may be positive but at most 15 (|product| <= 2^16 shifted left stays in int32;
     * ref 31 lists the overflow beyond as undefined), the clamp of ref 1.5 */
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_RANGE, TM_QM_IN1_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_RANGE, TM_QM_IN2_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_RANGE, TM_QM_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_ZERO_OR_RANGE, TM_QM_OUT_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_RANGE, TM_QM_OUT_SHIFT, 0, -31, 15),
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_RANGE, TM_QM_ACT_MIN, 0, -128, 127),
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_RANGE, TM_QM_ACT_MAX, 0, -128, 127),
    TM_RULE(TM_OPS_MUL, 0, TM_RULE_ORDER, TM_QM_ACT_MIN, TM_QM_ACT_MAX, 0, 0),
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
    /* BATCH_MATMUL (ref 26(a)): two input zero points and the output's, one QuantizeMultiplier
     * result of (float)(s_lhs * s_rhs) / s_out, the full int8 range (no fused activation) */
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_RANGE, TM_QB_LHS_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_RANGE, TM_QB_RHS_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_RANGE, TM_QB_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_ZERO_OR_RANGE, TM_QB_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_RANGE, TM_QB_SHIFT, 0, -31, 30),
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_RANGE, TM_QB_ACT_MIN, 0, -128, 127),
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_RANGE, TM_QB_ACT_MAX, 0, -128, 127),
    TM_RULE(TM_OPS_BMM, 0, TM_RULE_ORDER, TM_QB_ACT_MIN, TM_QB_ACT_MAX, 0, 0),
    /* float: the activation clamp is an ordered pair of numbers (CalculateActivationRange),
     * SOFTMAX's beta a finite number */
    TM_RULE(TM_OPS_F32_ACT, 1, TM_RULE_F32_ORDER, TM_QF_ACT_MIN, TM_QF_ACT_MAX, 0, 0),
    TM_RULE(TM_OPS_SOFTMAX, 1, TM_RULE_F32_FINITE, TM_QF_BETA, 0, 0, 0),
    /* QUANTIZE / DEQUANTIZE (ref 12, 13), for int8 and float variants alike: zero points as
     * above, an int8 -> int8 QuantizeMultiplier(s_in / s_out) (ref 12(a), 1.2), a finite
     * scale (the kernel also refuses a float -> int8 scale that is not > 0) */
    TM_RULE(TM_OPS_CONVERT, 0, TM_RULE_RANGE, TM_QZ_IN_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_CONVERT, 0, TM_RULE_RANGE, TM_QZ_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_CONVERT, 0, TM_RULE_ZERO_OR_RANGE, TM_QZ_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_CONVERT, 0, TM_RULE_RANGE, TM_QZ_SHIFT, 0, -31, 30),
    TM_RULE(TM_OPS_CONVERT, 0, TM_RULE_F32_FINITE, TM_QZ_SCALE, 0, 0, 0),
    TM_RULE(TM_OPS_CONVERT, 1, TM_RULE_RANGE, TM_QZ_IN_OFFSET, 0, -127, 128),
    TM_RULE(TM_OPS_CONVERT, 1, TM_RULE_RANGE, TM_QZ_OUT_OFFSET, 0, -128, 127),
    TM_RULE(TM_OPS_CONVERT, 1, TM_RULE_ZERO_OR_RANGE, TM_QZ_MULT, 0, TM_MULT_LO, TM_MULT_HI),
    TM_RULE(TM_OPS_CONVERT, 1, TM_RULE_RANGE, TM_QZ_SHIFT, 0, -31, 30),
    TM_RULE(TM_OPS_CONVERT, 1, TM_RULE_F32_FINITE, TM_QZ_SCALE, 0, 0, 0),
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

static tm_concat_params tm_concat_of(const tm_layer_desc *d)
{
    tm_concat_params c;
    c.axis = d->geom[TM_GC_AXIS];
    c.offset = d->geom[TM_GC_OFFSET];
    return c;
}

static tm_slice_params tm_slice_of(const tm_layer_desc *d)
{
    tm_slice_params s;
    s.begin_n = d->geom[TM_GS_BEGIN_N];
    s.begin_h = d->geom[TM_GS_BEGIN_H];
    s.begin_w = d->geom[TM_GS_BEGIN_W];
    s.begin_c = d->geom[TM_GS_BEGIN_C];
    s.stride_n = d->geom[TM_GS_STRIDE_N];
    s.stride_h = d->geom[TM_GS_STRIDE_H];
    s.stride_w = d->geom[TM_GS_STRIDE_W];
    s.stride_c = d->geom[TM_GS_STRIDE_C];
    return s;
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

/* The two operands of a binary element-wise layer in TFLite's order (x1 op x2), with their
 * shapes: the run-time input at in_offset and the other operand (in2, or the constant blob with
 * TM_LAYER_FLAG_CONST_OPERAND), swapped with TM_LAYER_FLAG_SWAPPED. */
typedef struct {
    const void *x1;
    const void *x2;
    const int32_t *shape1;
    const int32_t *shape2;
} tm_operands;

static tm_operands tm_operands_of(const tm_layer_desc *d, const tm_layer_ptrs *p)
{
    const void *other = (d->flags & TM_LAYER_FLAG_CONST_OPERAND) ? p->weights : p->in2;
    tm_operands o = {p->in, other, d->in, tm_other_shape(d)};
    if (d->flags & TM_LAYER_FLAG_SWAPPED) {
        o.x1 = other;
        o.x2 = p->in;
        o.shape1 = tm_other_shape(d);
        o.shape2 = d->in;
    }
    return o;
}

/* Whether both operands have the output's shape (the flat kernels' case). */
static int tm_is_flat(const tm_layer_desc *d)
{
    const int32_t *shape2 = tm_other_shape(d);
    for (int i = 0; i < 4; i++) {
        if (d->in[i] != d->out[i] || shape2[i] != d->out[i]) {
            return 0;
        }
    }
    return 1;
}

/* Broadcast strides of two shapes onto the output (each checked by tm_runner_sizes: every dim is
 * the output's or 1): an input's row-major stride, 0 where its extent is 1. */
static tm_bcast tm_bcast_of(const int32_t s1[4], const int32_t s2[4], const int32_t out[4])
{
    tm_bcast b;
    int32_t k1 = 1;
    int32_t k2 = 1;
    for (int i = 3; i >= 0; i--) {
        b.out[i] = out[i];
        b.stride1[i] = s1[i] == 1 ? 0 : k1;
        b.stride2[i] = s2[i] == 1 ? 0 : k2;
        k1 *= s1[i];
        k2 *= s2[i];
    }
    return b;
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
    case TM_OP_TRANSPOSE_CONV:
#if TM_HAVE_F32
        if (tm_is_float_variant(v)) {
            return tm_transpose_conv_f32_scratch_bytes(&conv, &in, &fil, &out);
        }
#endif
#if TM_HAVE_S8_OPT
        if (v == TM_VARIANT_S8_OPT) {
            return tm_transpose_conv_s8_opt_scratch_bytes
                       ? tm_transpose_conv_s8_opt_scratch_bytes(&conv, &in, &fil, &out) : 0;
        }
#endif
#if TM_HAVE_S8_REF
        if (v == TM_VARIANT_S8_REF) {
            return tm_transpose_conv_s8_ref_scratch_bytes(&conv, &in, &fil, &out);
        }
#endif
        return 0;
    default:
        return 0;
    }
}

/* The reduced dimensions of a MEAN / SUM (TM_GR_AXES; 0 is MEAN's original spatial form). */
static int32_t tm_reduce_axes(int32_t axes)
{
    return axes == 0 ? 6 : axes;
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
    case TM_OP_TRANSPOSE_CONV: {
        /* input (n, h, w, ic), filter (oc, kh, kw, ic), output (n, oh, ow, oc); any output size
         * is safe (taps outside it are dropped), dilation 1 */
        const uint32_t w_n = tm_elems(d->filter, TM_FIELD_FILTER(0), bad_field);
        if (w_n == 0) {
            return TM_RUN_PARAM;
        }
        if (tm_check_geom(d, 1, bad_field) != TM_RUN_OK) {
            return TM_RUN_PARAM;
        }
        if (d->geom[TM_G_DIL_H] != 1 || d->geom[TM_G_DIL_W] != 1) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(d->geom[TM_G_DIL_H] != 1 ? TM_G_DIL_H : TM_G_DIL_W);
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
    case TM_OP_BATCH_MATMUL: {
        /* lhs in[4], rhs filter[4] (a runtime second input, or with TM_LAYER_FLAG_CONST_OPERAND a
         * constant in the weights), output out[4]; matrices in the last two dims, batch dims
         * broadcast */
        const uint32_t r_n = tm_elems(d->filter, TM_FIELD_FILTER(0), bad_field);
        if (r_n == 0) {
            return TM_RUN_PARAM;
        }
        for (int i = TM_GB_ADJ_X; i <= TM_GB_ADJ_Y; i++) {
            if (d->geom[i] != 0 && d->geom[i] != 1) {
                *bad_field = (uint16_t)TM_FIELD_GEOM(i);
                return TM_RUN_PARAM;
            }
        }
        const int32_t m = d->geom[TM_GB_ADJ_X] ? d->in[3] : d->in[2];
        const int32_t k = d->geom[TM_GB_ADJ_X] ? d->in[2] : d->in[3];
        const int32_t rk = d->geom[TM_GB_ADJ_Y] ? d->filter[3] : d->filter[2];
        const int32_t n = d->geom[TM_GB_ADJ_Y] ? d->filter[2] : d->filter[3];
        if (rk != k) {
            *bad_field = (uint16_t)TM_FIELD_FILTER(d->geom[TM_GB_ADJ_Y] ? 3 : 2);
            return TM_RUN_PARAM;
        }
        for (int i = 0; i < 2; i++) {
            const int32_t a = d->in[i];
            const int32_t b = d->filter[i];
            if (a != b && a != 1 && b != 1) {
                *bad_field = (uint16_t)TM_FIELD_FILTER(i);
                return TM_RUN_PARAM;
            }
            if (d->out[i] != (a > b ? a : b)) {
                *bad_field = (uint16_t)TM_FIELD_OUT(i);
                return TM_RUN_PARAM;
            }
        }
        if (d->out[2] != m || d->out[3] != n) {
            *bad_field = (uint16_t)TM_FIELD_OUT(d->out[2] != m ? 2 : 3);
            return TM_RUN_PARAM;
        }
        if (d->flags & TM_LAYER_FLAG_CONST_OPERAND) {
            weights = (uint64_t)r_n * elem;
        } else {
            in2_bytes = (uint64_t)r_n * elem;
        }
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
    case TM_OP_SUB:
    case TM_OP_MUL:
    case TM_OP_MAXIMUM:
    case TM_OP_MINIMUM: {
        /* in[] and filter[] broadcast onto out[]: each dim equals the output's or is 1, and the
         * output's is the larger of the two */
        const int32_t *shape2 = tm_other_shape(d);
        const uint32_t other_n = tm_elems(shape2, TM_FIELD_FILTER(0), bad_field);
        if (other_n == 0) {
            return TM_RUN_PARAM;
        }
        for (int i = 0; i < 4; i++) {
            const int32_t a = d->in[i];
            const int32_t b = shape2[i];
            if (a != d->out[i] && a != 1) {
                *bad_field = (uint16_t)TM_FIELD_IN(i);
                return TM_RUN_PARAM;
            }
            if (b != d->out[i] && b != 1) {
                *bad_field = (uint16_t)TM_FIELD_FILTER(i);
                return TM_RUN_PARAM;
            }
            if (d->out[i] != (a > b ? a : b)) {
                *bad_field = (uint16_t)TM_FIELD_OUT(i);
                return TM_RUN_PARAM;
            }
        }
        if (d->flags & TM_LAYER_FLAG_CONST_OPERAND) {
            weights = (uint64_t)other_n * elem;
        } else {
            in2_bytes = (uint64_t)other_n * elem;
        }
        break;
    }
    case TM_OP_RELU:
    case TM_OP_SOFTMAX:
        if (out_n != in_n || d->out[3] != d->in[3]) {
            *bad_field = (uint16_t)TM_FIELD_OUT(3);
            return TM_RUN_PARAM;
        }
        break;
    case TM_OP_RESHAPE:
        if (out_n != in_n) {
            *bad_field = (uint16_t)TM_FIELD_OUT(0);
            return TM_RUN_PARAM;
        }
        break;
    case TM_OP_CONCATENATION: {
        /* the input fills the window [offset, offset + in[axis]) of the output's axis; every
         * other dim equals the output's */
        const int32_t axis = d->geom[TM_GC_AXIS];
        if (axis < 0 || axis > 3) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GC_AXIS);
            return TM_RUN_PARAM;
        }
        for (int k = 0; k < 4; k++) {
            if (k != axis && d->in[k] != d->out[k]) {
                *bad_field = (uint16_t)TM_FIELD_OUT(k);
                return TM_RUN_PARAM;
            }
        }
        if (d->geom[TM_GC_OFFSET] < 0 || d->geom[TM_GC_OFFSET] > d->out[axis] - d->in[axis]) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GC_OFFSET);
            return TM_RUN_PARAM;
        }
        break;
    }
    case TM_OP_STRIDED_SLICE:
        /* per dim: a non-zero stride, and the first and last index read inside the input */
        for (int k = 0; k < 4; k++) {
            const int32_t begin = d->geom[TM_GS_BEGIN_N + k];
            const int32_t stride = d->geom[TM_GS_STRIDE_N + k];
            if (stride == 0 || stride < -TM_RUN_MAX_DIM || stride > TM_RUN_MAX_DIM) {
                *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GS_STRIDE_N + k);
                return TM_RUN_PARAM;
            }
            const int64_t last = (int64_t)begin + (int64_t)(d->out[k] - 1) * stride;
            if (begin < 0 || begin >= d->in[k]) {
                *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GS_BEGIN_N + k);
                return TM_RUN_PARAM;
            }
            if (last < 0 || last >= d->in[k]) {
                *bad_field = (uint16_t)TM_FIELD_OUT(k);
                return TM_RUN_PARAM;
            }
        }
        break;
    case TM_OP_MEAN:
    case TM_OP_SUM: {
        /* the reduced dims (TM_GR_AXES, 0: the spatial ones) are 1 in out[], the others equal */
        const int32_t axes = tm_reduce_axes(d->geom[TM_GR_AXES]);
        if (axes < 1 || axes > 15) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GR_AXES);
            return TM_RUN_PARAM;
        }
        for (int i = 0; i < 4; i++) {
            if (d->out[i] != (((axes >> i) & 1) ? 1 : d->in[i])) {
                *bad_field = (uint16_t)TM_FIELD_OUT(i);
                return TM_RUN_PARAM;
            }
        }
        break;
    }
    case TM_OP_QUANTIZE:
    case TM_OP_DEQUANTIZE: {
        /* float32 -> int8, int8 -> int8 (QUANTIZE) or int8 -> float32 (DEQUANTIZE), whatever the
         * variant: the tensor sizes follow the dtypes, not the variant */
        const int32_t in_dt = d->geom[TM_GQ_IN_DTYPE];
        const int32_t out_dt = d->geom[TM_GQ_OUT_DTYPE];
        const int quantize = d->op == TM_OP_QUANTIZE;
        if (quantize ? (in_dt != (int32_t)TM_DTYPE_F32 && in_dt != (int32_t)TM_DTYPE_S8)
                     : in_dt != (int32_t)TM_DTYPE_S8) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GQ_IN_DTYPE);
            return TM_RUN_PARAM;
        }
        if (out_dt != (int32_t)(quantize ? TM_DTYPE_S8 : TM_DTYPE_F32)) {
            *bad_field = (uint16_t)TM_FIELD_GEOM(TM_GQ_OUT_DTYPE);
            return TM_RUN_PARAM;
        }
        if (out_n != in_n) {
            *bad_field = (uint16_t)TM_FIELD_OUT(0);
            return TM_RUN_PARAM;
        }
        in_bytes = (uint64_t)in_n * (in_dt == (int32_t)TM_DTYPE_F32 ? 4u : 1u);
        out_bytes = (uint64_t)out_n * (out_dt == (int32_t)TM_DTYPE_F32 ? 4u : 1u);
        break;
    }
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
        if (d->op == TM_OP_TRANSPOSE_CONV && tm_transpose_conv_s8_opt_path) {
            return (uint8_t)tm_transpose_conv_s8_opt_path(&conv, &in, &fil, &out);
        }
    }
#else
    (void)d;
    (void)v;
#endif
    return TM_PATH_NONE;
}

#if TM_HAVE_F32 || TM_HAVE_S8_REF || TM_HAVE_S8_OPT
/* QUANTIZE / DEQUANTIZE: the same kernels in every image (dtypes checked by tm_runner_sizes). */
static tm_status tm_exec_convert(const tm_layer_desc *d, const tm_layer_ptrs *p)
{
    tm_convert_dtypes dt;
    dt.in_dtype = d->geom[TM_GQ_IN_DTYPE];
    dt.out_dtype = d->geom[TM_GQ_OUT_DTYPE];
    tm_quantize_params qp;
    qp.input_offset = d->quant[TM_QZ_IN_OFFSET];
    qp.output_offset = d->quant[TM_QZ_OUT_OFFSET];
    qp.multiplier = d->quant[TM_QZ_MULT];
    qp.shift = d->quant[TM_QZ_SHIFT];
    qp.scale = tm_word_float(d->quant[TM_QZ_SCALE]);
    const int32_t size = d->in[0] * d->in[1] * d->in[2] * d->in[3];
    if (dt.out_dtype == (int32_t)TM_DTYPE_F32) {
        return tm_dequantize_s8_f32(&qp, size, (const int8_t *)p->in, (float *)p->out);
    }
    if (dt.in_dtype == (int32_t)TM_DTYPE_F32) {
        return tm_quantize_f32_s8(&qp, size, (const float *)p->in, (int8_t *)p->out);
    }
    return tm_requantize_s8(&qp, size, (const int8_t *)p->in, (int8_t *)p->out);
}
#endif

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
    case TM_OP_SUB:
    case TM_OP_MUL:
    case TM_OP_MAXIMUM:
    case TM_OP_MINIMUM: {
        const tm_operands o = tm_operands_of(d, p);
        const float *x1 = (const float *)o.x1;
        const float *x2 = (const float *)o.x2;
        float *y = (float *)p->out;
        if (tm_is_flat(d)) {
            const int32_t n = d->out[0] * d->out[1] * d->out[2] * d->out[3];
            *st = d->op == TM_OP_ADD ? tm_add_f32(&act, n, x1, x2, y)
                : d->op == TM_OP_SUB ? tm_sub_f32(&act, n, x1, x2, y)
                : d->op == TM_OP_MUL ? tm_mul_f32(&act, n, x1, x2, y)
                : d->op == TM_OP_MAXIMUM ? tm_maximum_f32(n, x1, x2, y)
                : tm_minimum_f32(n, x1, x2, y);
        } else {
            const tm_bcast b = tm_bcast_of(o.shape1, o.shape2, d->out);
            *st = d->op == TM_OP_ADD ? tm_add_bcast_f32(&act, &b, x1, x2, y)
                : d->op == TM_OP_SUB ? tm_sub_bcast_f32(&act, &b, x1, x2, y)
                : d->op == TM_OP_MUL ? tm_mul_bcast_f32(&act, &b, x1, x2, y)
                : d->op == TM_OP_MAXIMUM ? tm_maximum_bcast_f32(&b, x1, x2, y)
                : tm_minimum_bcast_f32(&b, x1, x2, y);
        }
        break;
    }
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
    case TM_OP_CONCATENATION: {
        const tm_concat_params cp = tm_concat_of(d);
        *st = tm_concatenation(&cp, &in, &out, 4, p->in, p->out);
        break;
    }
    case TM_OP_STRIDED_SLICE: {
        const tm_slice_params sp = tm_slice_of(d);
        *st = tm_strided_slice(&sp, &in, &out, 4, p->in, p->out);
        break;
    }
    case TM_OP_MEAN:
    case TM_OP_SUM: {
        tm_reduce_params rp;
        rp.axes = tm_reduce_axes(d->geom[TM_GR_AXES]);
        if (d->op == TM_OP_MEAN && rp.axes == 6) {
            *st = tm_mean_f32(&act, &in, (const float *)p->in, (float *)p->out);
        } else {
            *st = tm_reduce_f32(&rp, &act, d->op == TM_OP_MEAN, &in, (const float *)p->in,
                                (float *)p->out);
        }
        break;
    }
    case TM_OP_QUANTIZE:
    case TM_OP_DEQUANTIZE:
        *st = tm_exec_convert(d, p);
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
    case TM_OP_TRANSPOSE_CONV:
        *st = tm_transpose_conv_f32(&conv, &act, &in, (const float *)p->in, &fil,
                                    (const float *)p->weights, bias, &out, (float *)p->out,
                                    &scratch);
        break;
    case TM_OP_BATCH_MATMUL: {
        tm_bmm_params bp;
        bp.adj_x = d->geom[TM_GB_ADJ_X];
        bp.adj_y = d->geom[TM_GB_ADJ_Y];
        const void *rhs = (d->flags & TM_LAYER_FLAG_CONST_OPERAND) ? p->weights : p->in2;
        *st = tm_batch_matmul_f32(&bp, &act, &in, (const float *)p->in, &fil, (const float *)rhs,
                                  &out, (float *)p->out);
        break;
    }
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
    case TM_OP_ADD:
    case TM_OP_SUB: {
        const tm_operands o = tm_operands_of(d, p);
        const int8_t *x1 = (const int8_t *)o.x1;
        const int8_t *x2 = (const int8_t *)o.x2;
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
        if (!tm_is_flat(d)) {
            /* broadcast forms: one scalar kernel for both int8 variants */
            const tm_bcast b = tm_bcast_of(o.shape1, o.shape2, d->out);
            *st = d->op == TM_OP_ADD ? tm_add_bcast_s8_ref(&a, &b, x1, x2, (int8_t *)p->out)
                                     : tm_sub_bcast_s8_ref(&a, &b, x1, x2, (int8_t *)p->out);
            break;
        }
        if (d->op == TM_OP_SUB) {
            *st = tm_sub_s8_ref(&a, size, x1, x2, (int8_t *)p->out);
            break;
        }
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_add_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_add_s8_opt(&a, size, x1, x2, (int8_t *)p->out);
            break;
        }
#endif
        *st = tm_add_s8_ref(&a, size, x1, x2, (int8_t *)p->out);
        break;
    }
    case TM_OP_MUL: {
        const tm_operands o = tm_operands_of(d, p);
        const int8_t *x1 = (const int8_t *)o.x1;
        const int8_t *x2 = (const int8_t *)o.x2;
        tm_mul_params_s8 m;
        m.input1_offset = d->quant[TM_QM_IN1_OFFSET];
        m.input2_offset = d->quant[TM_QM_IN2_OFFSET];
        m.output_offset = d->quant[TM_QM_OUT_OFFSET];
        m.output_multiplier = d->quant[TM_QM_OUT_MULT];
        m.output_shift = d->quant[TM_QM_OUT_SHIFT];
        m.act_min = d->quant[TM_QM_ACT_MIN];
        m.act_max = d->quant[TM_QM_ACT_MAX];
        if (!tm_is_flat(d)) {
            const tm_bcast b = tm_bcast_of(o.shape1, o.shape2, d->out);
            *st = tm_mul_bcast_s8_ref(&m, &b, x1, x2, (int8_t *)p->out);
            break;
        }
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_mul_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_mul_s8_opt(&m, size, x1, x2, (int8_t *)p->out);
            break;
        }
#endif
        *st = tm_mul_s8_ref(&m, size, x1, x2, (int8_t *)p->out);
        break;
    }
    case TM_OP_MAXIMUM:
    case TM_OP_MINIMUM: {
        const tm_operands o = tm_operands_of(d, p);
        const int8_t *x1 = (const int8_t *)o.x1;
        const int8_t *x2 = (const int8_t *)o.x2;
        int8_t *y = (int8_t *)p->out;
        if (tm_is_flat(d)) {
            *st = d->op == TM_OP_MAXIMUM ? tm_maximum_s8_ref(size, x1, x2, y)
                                         : tm_minimum_s8_ref(size, x1, x2, y);
        } else {
            const tm_bcast b = tm_bcast_of(o.shape1, o.shape2, d->out);
            *st = d->op == TM_OP_MAXIMUM ? tm_maximum_bcast_s8_ref(&b, x1, x2, y)
                                         : tm_minimum_bcast_s8_ref(&b, x1, x2, y);
        }
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
    case TM_OP_CONCATENATION: {
        const tm_concat_params cp = tm_concat_of(d);
        *st = tm_concatenation(&cp, &in, &out, 1, p->in, p->out);
        break;
    }
    case TM_OP_STRIDED_SLICE: {
        const tm_slice_params sp = tm_slice_of(d);
        *st = tm_strided_slice(&sp, &in, &out, 1, p->in, p->out);
        break;
    }
    case TM_OP_MEAN:
    case TM_OP_SUM: {
        q.per_channel = 0;
        q.multiplier = &d->quant[TM_Q_MULT];
        q.shift = &d->quant[TM_Q_SHIFT];
        tm_reduce_params rp;
        rp.axes = tm_reduce_axes(d->geom[TM_GR_AXES]);
        if (d->op == TM_OP_MEAN && rp.axes == 6) {
            *st = tm_mean_s8(&q, &in, (const int8_t *)p->in, (int8_t *)p->out);
        } else {
            *st = tm_reduce_s8_ref(&rp, &q, &in, (const int8_t *)p->in, (int8_t *)p->out);
        }
        break;
    }
    case TM_OP_QUANTIZE:
    case TM_OP_DEQUANTIZE:
        *st = tm_exec_convert(d, p);
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
    case TM_OP_TRANSPOSE_CONV:
#if TM_HAVE_S8_OPT
        if (opt) {
            if (!tm_transpose_conv_s8_opt) {
                return TM_RUN_UNSUPPORTED;
            }
            *st = tm_transpose_conv_s8_opt(&conv, &q, &in, (const int8_t *)p->in, &fil,
                                           (const int8_t *)p->weights, bias, &out,
                                           (int8_t *)p->out, &scratch);
            break;
        }
#endif
        *st = tm_transpose_conv_s8_ref(&conv, &q, &in, (const int8_t *)p->in, &fil,
                                       (const int8_t *)p->weights, bias, &out, (int8_t *)p->out,
                                       &scratch);
        break;
    case TM_OP_BATCH_MATMUL: {
        /* one scalar kernel for both int8 variants */
        tm_bmm_params bp;
        bp.adj_x = d->geom[TM_GB_ADJ_X];
        bp.adj_y = d->geom[TM_GB_ADJ_Y];
        tm_bmm_quant_s8 bq;
        bq.lhs_offset = d->quant[TM_QB_LHS_OFFSET];
        bq.rhs_offset = d->quant[TM_QB_RHS_OFFSET];
        bq.output_offset = d->quant[TM_QB_OUT_OFFSET];
        bq.multiplier = d->quant[TM_QB_MULT];
        bq.shift = d->quant[TM_QB_SHIFT];
        bq.act_min = d->quant[TM_QB_ACT_MIN];
        bq.act_max = d->quant[TM_QB_ACT_MAX];
        const void *rhs = (d->flags & TM_LAYER_FLAG_CONST_OPERAND) ? p->weights : p->in2;
        *st = tm_batch_matmul_s8_ref(&bp, &bq, &in, (const int8_t *)p->in, &fil,
                                     (const int8_t *)rhs, &out, (int8_t *)p->out);
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
