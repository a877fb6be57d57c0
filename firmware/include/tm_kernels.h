/*
 * tm_kernels.h - public C API of tinymodel's neural-network kernels.
 *
 * Three kernel families share one set of parameter structs:
 *   f32     plain float kernels (built soft-float for "f32-soft" and with the FPU for "f32");
 *   s8_ref  int8 kernels with TFLite's integer arithmetic, one scalar MAC per step, no SIMD and
 *           no unrolling (the structure of TFLite Micro's reference kernels);
 *   s8_opt  the same arithmetic with Cortex-M DSP SIMD (see tm_dsp.h); bit-exact with s8_ref.
 *
 * Conventions
 *   - Activations are NHWC; conv filters OHWI; depthwise filters 1 x H x W x (C*M);
 *     dense weights (out, in), row-major; biases int32 (s8) or float (f32), one per output channel,
 *     and may be NULL (no bias).
 *   - Every kernel returns a tm_status; nothing allocates memory.  Kernels that need working memory
 *     take a caller-provided tm_scratch and have a matching *_scratch_bytes() size function; the
 *     conv, depthwise and dense kernels of all three families take one (0 bytes where unused) so
 *     that a host-side planner can treat the variants alike.
 *   - Quantized parameters follow TFLite: real = scale * (q - zero_point); an offset added to the
 *     input is -zero_point, the offset added to the output is +zero_point; a shift is a left shift
 *     when positive and a right shift when negative (see tm_requant.h and
 *     tinymodel/requantization.py for how multiplier and shift are computed from float scales).
 *   - Padding is given as the top/left zero padding; the bottom/right padding follows from the
 *     output size (taps outside the input are skipped, which is the same as zero padding after the
 *     input offset is applied).
 */
#ifndef TM_KERNELS_H
#define TM_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status of every kernel call. */
typedef enum {
    TM_OK = 0,
    TM_ERR_NULL_POINTER = 1, /* a required pointer argument was NULL */
    TM_ERR_SHAPE = 2,        /* non-positive or mutually inconsistent dimensions */
    TM_ERR_PARAM = 3,        /* invalid parameter (stride, dilation, padding, clamp range, shift) */
    TM_ERR_SCRATCH = 4,      /* scratch buffer missing or smaller than *_scratch_bytes() */
    TM_ERR_UNSUPPORTED = 5   /* valid request that this kernel / path does not implement */
} tm_status;

/** A 4-D NHWC shape (also used for OHWI filters: n = out channels, c = in channels). */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} tm_dims;

/** Dense (fully connected) shape: input (batches, in_features), weights (out_features, in_features). */
typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
} tm_fc_dims;

/** Caller-provided working memory. */
typedef struct {
    void *buf;
    int32_t bytes;
} tm_scratch;

/** Convolution geometry (CONV_2D and DEPTHWISE_CONV_2D). */
typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;      /* zero rows above the input */
    int32_t pad_w;      /* zero columns left of the input */
    int32_t dilation_h;
    int32_t dilation_w;
    int32_t ch_mult;    /* depthwise only: output channels per input channel (ignored by conv) */
} tm_conv_params;

/** Pooling geometry (AVERAGE_POOL_2D and MAX_POOL_2D). */
typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;
    int32_t pad_w;
    int32_t filter_h;
    int32_t filter_w;
} tm_pool_params;

/**
 * int8 requantization of conv / depthwise / dense / quantized RELU outputs:
 * out = clamp(output_offset + requantize(acc, multiplier[c], shift[c]), act_min, act_max),
 * where acc accumulates (x + input_offset) * w (+ bias).  per_channel == 0 uses entry 0 for every
 * channel; otherwise multiplier and shift hold one entry per output channel.
 */
typedef struct {
    int32_t input_offset;     /* -input zero point, in [-127, 128] */
    int32_t output_offset;    /* +output zero point, in [-128, 127] */
    int32_t act_min;          /* fused-activation clamp, -128 <= act_min <= act_max <= 127 */
    int32_t act_max;
    const int32_t *multiplier;
    const int32_t *shift;     /* in [-31, 30] */
    int32_t per_channel;
} tm_quant_s8;

/** Parameters of the int8 ADD (see tinymodel.requantization.AddParams for their derivation). */
typedef struct {
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    int32_t left_shift;       /* 0..20 */
    int32_t input1_multiplier;
    int32_t input1_shift;     /* <= 0 */
    int32_t input2_multiplier;
    int32_t input2_shift;     /* <= 0 */
    int32_t output_multiplier;
    int32_t output_shift;     /* <= 0 */
    int32_t act_min;
    int32_t act_max;
} tm_add_params_s8;

/** Parameters of the int8 MUL (see tinymodel.requantization.mul_params for their derivation):
 * out = clamp(output_offset + requantize((x1 + input1_offset) * (x2 + input2_offset),
 * output_multiplier, output_shift), act_min, act_max). */
typedef struct {
    int32_t input1_offset;    /* -zero point of input 1, in [-127, 128] */
    int32_t input2_offset;    /* -zero point of input 2, in [-127, 128] */
    int32_t output_offset;    /* +zero point of the output, in [-128, 127] */
    int32_t output_multiplier;
    int32_t output_shift;     /* in [-31, 15]: a product (<= 2^16) shifted left stays in int32 */
    int32_t act_min;
    int32_t act_max;
} tm_mul_params_s8;

/**
 * Element-wise broadcasting of two inputs onto one 4-D output (NumPy rules: shapes right-aligned,
 * a dimension of 1 repeats).  out is the output shape (n, h, w, c); stride1 / stride2 are each
 * input's element stride per output dimension, 0 where that input has extent 1 (tm_runner.c
 * computes them from the two shapes).  Output element (n, h, w, c) reads input k at
 * n * stridek[0] + h * stridek[1] + w * stridek[2] + c * stridek[3].
 */
typedef struct {
    int32_t out[4];
    int32_t stride1[4];
    int32_t stride2[4];
} tm_bcast;

/**
 * Parameters of the int8 softmax (output scale 1/256, zero point -128, as TFLite requires).
 * (x - max) is rescaled by input_multiplier * 2^input_left_shift into Q5.26; differences below
 * diff_min contribute exactly zero.
 */
typedef struct {
    int32_t input_multiplier;
    int32_t input_left_shift; /* 0..30 */
    int32_t diff_min;         /* <= 0 */
} tm_softmax_params_s8;

/**
 * Parameters of the int8 LOGISTIC and TANH (TFLite Micro's fixed-point algorithm): the input
 * difference q + input_offset is rescaled by input_multiplier * 2^input_left_shift into Q4.27;
 * differences beyond floor(15 * 2^27 / 2^input_left_shift) saturate the output.  The output
 * quantization is fixed: scale 1/256, zero point -128 (LOGISTIC); 1/128, 0 (TANH).
 */
typedef struct {
    int32_t input_offset;     /* -input zero point */
    int32_t input_multiplier; /* 2^30 <= m < 2^31 */
    int32_t input_left_shift; /* 0..31 */
} tm_logistic_params_s8;

/** Parameters of the int8 HARD_SWISH (tinymodel.requantization.HardSwishParams): int16
 * multipliers (Q0.15) of the output and of the "reluish" rescale onto the scale 3/32768. */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t output_multiplier;  /* 0..32767 */
    int32_t output_shift;       /* -15..0 */
    int32_t reluish_multiplier; /* 0..32767 */
    int32_t reluish_shift;      /* -15..15 */
} tm_hard_swish_params_s8;

/** Parameters of the int8 LEAKY_RELU (tinymodel.requantization.LeakyReluParams): the rescale of
 * non-negative inputs (s_in / s_out) and of negative ones (s_in * alpha / s_out, a negative
 * multiplier for a negative alpha). */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t identity_multiplier;
    int32_t identity_shift;     /* -31..30 */
    int32_t alpha_multiplier;   /* > INT32_MIN */
    int32_t alpha_shift;        /* -31..30 */
} tm_leaky_relu_params_s8;

/** Parameters of the int8 PRELU (tinymodel.requantization.PreluParams): the rescale of
 * non-negative inputs (s_in / s_out) and of the products (q + input_offset) * (alpha +
 * alpha_offset) of negative ones (s_in * s_alpha / s_out). */
typedef struct {
    int32_t input_offset;
    int32_t alpha_offset;       /* -alpha zero point */
    int32_t output_offset;
    int32_t identity_multiplier;
    int32_t identity_shift;     /* -31..30 */
    int32_t alpha_multiplier;
    int32_t alpha_shift;        /* -31..30 */
} tm_prelu_params_s8;

/** Float activation clamp (use -FLT_MAX / FLT_MAX for none, 0 / 6 for RELU6). */
typedef struct {
    float act_min;
    float act_max;
} tm_act_f32;

/** Which code path the s8_opt convolution wrappers take (reported for the latency model). */
typedef enum {
    TM_PATH_REF = 0,           /* scalar path (s8_ref structure) */
    TM_PATH_CONV_1X1 = 1,      /* conv 1x1, stride 1, pad 0, ic % 4 == 0: GEMM without im2col */
    TM_PATH_CONV_IM2COL = 2,   /* generic conv: int16 im2col of 2 pixels + 2x2 GEMM */
    TM_PATH_DW_3X3 = 3,        /* depthwise 3x3, ch_mult 1, pad <= 1, dilation 1 */
    TM_PATH_DW_GENERIC = 4,    /* depthwise ch_mult 1: per-pixel int16 im2col, 4 channels a step */
    TM_PATH_TCONV_GATHER = 5   /* transpose conv: per output pixel, SMLAD dot products over ic */
} tm_path;

/** BATCH_MATMUL options: transpose the last two dims of the LHS (adj_x) / RHS (adj_y). */
typedef struct {
    int32_t adj_x;
    int32_t adj_y;
} tm_bmm_params;

/**
 * int8 BATCH_MATMUL requantization: out = clamp(output_offset + requantize(acc, multiplier,
 * shift), act_min, act_max) with acc = sum (lhs + lhs_offset) * (rhs + rhs_offset).
 */
typedef struct {
    int32_t lhs_offset;       /* -LHS zero point */
    int32_t rhs_offset;       /* -RHS zero point */
    int32_t output_offset;    /* +output zero point */
    int32_t multiplier;
    int32_t shift;
    int32_t act_min;
    int32_t act_max;
} tm_bmm_quant_s8;

/* ---------------------------------------------------------------------------------------------
 * CONV_2D.  input (n, h, w, ic), filter (oc, kh, kw, ic), bias [oc] or NULL,
 * output (n, oh, ow, oc).
 */
tm_status tm_conv2d_s8_ref(const tm_conv_params *conv, const tm_quant_s8 *quant,
                           const tm_dims *input_dims, const int8_t *input,
                           const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const tm_dims *output_dims, int8_t *output, const tm_scratch *scratch);
int32_t tm_conv2d_s8_ref_scratch_bytes(const tm_conv_params *conv, const tm_dims *input_dims,
                                       const tm_dims *filter_dims, const tm_dims *output_dims);

/* Wrapper: dispatches to the 1x1 or the im2col path (tm_conv2d_s8_opt_path tells which). */
tm_status tm_conv2d_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                           const tm_dims *input_dims, const int8_t *input,
                           const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const tm_dims *output_dims, int8_t *output, const tm_scratch *scratch);
int32_t tm_conv2d_s8_opt_scratch_bytes(const tm_conv_params *conv, const tm_dims *input_dims,
                                       const tm_dims *filter_dims, const tm_dims *output_dims);
tm_path tm_conv2d_s8_opt_path(const tm_conv_params *conv, const tm_dims *input_dims,
                              const tm_dims *filter_dims, const tm_dims *output_dims);

/* The two paths, callable directly (the 1x1 path returns TM_ERR_UNSUPPORTED outside its domain). */
tm_status tm_conv2d_1x1_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                               const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *filter_dims, const int8_t *filter,
                               const int32_t *bias, const tm_dims *output_dims, int8_t *output,
                               const tm_scratch *scratch);
tm_status tm_conv2d_im2col_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                  const tm_dims *input_dims, const int8_t *input,
                                  const tm_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const tm_dims *output_dims, int8_t *output,
                                  const tm_scratch *scratch);
int32_t tm_conv2d_im2col_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                              const tm_dims *input_dims,
                                              const tm_dims *filter_dims,
                                              const tm_dims *output_dims);

tm_status tm_conv2d_f32(const tm_conv_params *conv, const tm_act_f32 *act,
                        const tm_dims *input_dims, const float *input,
                        const tm_dims *filter_dims, const float *filter, const float *bias,
                        const tm_dims *output_dims, float *output, const tm_scratch *scratch);
int32_t tm_conv2d_f32_scratch_bytes(const tm_conv_params *conv, const tm_dims *input_dims,
                                    const tm_dims *filter_dims, const tm_dims *output_dims);

/* ---------------------------------------------------------------------------------------------
 * DEPTHWISE_CONV_2D.  input (n, h, w, ic), filter (1, kh, kw, ic * ch_mult), bias [oc] or NULL,
 * output (n, oh, ow, ic * ch_mult); output channel oc = ic_index * ch_mult + m.
 */
tm_status tm_depthwise_conv2d_s8_ref(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                     const tm_dims *input_dims, const int8_t *input,
                                     const tm_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const tm_dims *output_dims,
                                     int8_t *output, const tm_scratch *scratch);
int32_t tm_depthwise_conv2d_s8_ref_scratch_bytes(const tm_conv_params *conv,
                                                 const tm_dims *input_dims,
                                                 const tm_dims *filter_dims,
                                                 const tm_dims *output_dims);

/* Wrapper: 3x3 path, generic path, or (ch_mult != 1) the scalar reference kernel. */
tm_status tm_depthwise_conv2d_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                     const tm_dims *input_dims, const int8_t *input,
                                     const tm_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const tm_dims *output_dims,
                                     int8_t *output, const tm_scratch *scratch);
int32_t tm_depthwise_conv2d_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                                 const tm_dims *input_dims,
                                                 const tm_dims *filter_dims,
                                                 const tm_dims *output_dims);
tm_path tm_depthwise_conv2d_s8_opt_path(const tm_conv_params *conv, const tm_dims *input_dims,
                                        const tm_dims *filter_dims, const tm_dims *output_dims);

tm_status tm_depthwise_conv2d_3x3_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                         const tm_dims *input_dims, const int8_t *input,
                                         const tm_dims *filter_dims, const int8_t *filter,
                                         const int32_t *bias, const tm_dims *output_dims,
                                         int8_t *output, const tm_scratch *scratch);
tm_status tm_depthwise_conv2d_generic_s8_opt(const tm_conv_params *conv,
                                             const tm_quant_s8 *quant,
                                             const tm_dims *input_dims, const int8_t *input,
                                             const tm_dims *filter_dims, const int8_t *filter,
                                             const int32_t *bias, const tm_dims *output_dims,
                                             int8_t *output, const tm_scratch *scratch);
int32_t tm_depthwise_conv2d_generic_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                                         const tm_dims *input_dims,
                                                         const tm_dims *filter_dims,
                                                         const tm_dims *output_dims);

tm_status tm_depthwise_conv2d_f32(const tm_conv_params *conv, const tm_act_f32 *act,
                                  const tm_dims *input_dims, const float *input,
                                  const tm_dims *filter_dims, const float *filter,
                                  const float *bias, const tm_dims *output_dims, float *output,
                                  const tm_scratch *scratch);
int32_t tm_depthwise_conv2d_f32_scratch_bytes(const tm_conv_params *conv,
                                              const tm_dims *input_dims,
                                              const tm_dims *filter_dims,
                                              const tm_dims *output_dims);

/* ---------------------------------------------------------------------------------------------
 * TRANSPOSE_CONV.  input (n, h, w, ic), filter (oc, kh, kw, ic), bias [oc] or NULL,
 * output (n, oh, ow, oc); conv->pad_h / pad_w are TFLite's top/left padding of the output
 * (dilation must be 1, ch_mult is ignored).  Input pixel (y, x) tap (ky, kx) lands on output
 * (y * stride_h - pad_h + ky, x * stride_w - pad_w + kx); taps outside the output are dropped.
 * s8_ref scatters into an int32 scratch of one batch's output (tm_transpose_conv_s8_ref_scratch_bytes:
 * 4 * oh * ow * oc bytes), then requantizes; s8_opt gathers per output pixel (no scratch).
 */
tm_status tm_transpose_conv_s8_ref(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                   const tm_dims *input_dims, const int8_t *input,
                                   const tm_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, const tm_dims *output_dims,
                                   int8_t *output, const tm_scratch *scratch);
int32_t tm_transpose_conv_s8_ref_scratch_bytes(const tm_conv_params *conv,
                                               const tm_dims *input_dims,
                                               const tm_dims *filter_dims,
                                               const tm_dims *output_dims);
tm_status tm_transpose_conv_s8_opt(const tm_conv_params *conv, const tm_quant_s8 *quant,
                                   const tm_dims *input_dims, const int8_t *input,
                                   const tm_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, const tm_dims *output_dims,
                                   int8_t *output, const tm_scratch *scratch);
int32_t tm_transpose_conv_s8_opt_scratch_bytes(const tm_conv_params *conv,
                                               const tm_dims *input_dims,
                                               const tm_dims *filter_dims,
                                               const tm_dims *output_dims);
tm_path tm_transpose_conv_s8_opt_path(const tm_conv_params *conv, const tm_dims *input_dims,
                                      const tm_dims *filter_dims, const tm_dims *output_dims);
/* float: scatters straight into the output (no scratch). */
tm_status tm_transpose_conv_f32(const tm_conv_params *conv, const tm_act_f32 *act,
                                const tm_dims *input_dims, const float *input,
                                const tm_dims *filter_dims, const float *filter,
                                const float *bias, const tm_dims *output_dims, float *output,
                                const tm_scratch *scratch);
int32_t tm_transpose_conv_f32_scratch_bytes(const tm_conv_params *conv, const tm_dims *input_dims,
                                            const tm_dims *filter_dims,
                                            const tm_dims *output_dims);

/* ---------------------------------------------------------------------------------------------
 * BATCH_MATMUL.  lhs (b0, b1, r, c), rhs (b0', b1', r', c'), output (o0, o1, m, n), all 4-D
 * with the matrix in the last two dims: A = adj_x ? lhs^T : lhs is (m, k), B = adj_y ? rhs^T : rhs
 * is (k, n); batch dims broadcast (each pair equal or one of them 1, o = the larger).
 * out[b, i, j] = sum_k A[b, i, k] * B[b, k, j].  One kernel for both int8 variants (s8-opt
 * images run s8_ref).
 */
tm_status tm_batch_matmul_s8_ref(const tm_bmm_params *params, const tm_bmm_quant_s8 *quant,
                                 const tm_dims *lhs_dims, const int8_t *lhs,
                                 const tm_dims *rhs_dims, const int8_t *rhs,
                                 const tm_dims *output_dims, int8_t *output);
tm_status tm_batch_matmul_f32(const tm_bmm_params *params, const tm_act_f32 *act,
                              const tm_dims *lhs_dims, const float *lhs,
                              const tm_dims *rhs_dims, const float *rhs,
                              const tm_dims *output_dims, float *output);

/* ---------------------------------------------------------------------------------------------
 * FULLY_CONNECTED.  input (batches, in), weights (out, in), bias [out] or NULL, output (batches, out).
 */
tm_status tm_fully_connected_s8_ref(const tm_quant_s8 *quant, const tm_fc_dims *dims,
                                    const int8_t *input, const int8_t *weights,
                                    const int32_t *bias, int8_t *output,
                                    const tm_scratch *scratch);
int32_t tm_fully_connected_s8_ref_scratch_bytes(const tm_fc_dims *dims);

tm_status tm_fully_connected_s8_opt(const tm_quant_s8 *quant, const tm_fc_dims *dims,
                                    const int8_t *input, const int8_t *weights,
                                    const int32_t *bias, int8_t *output,
                                    const tm_scratch *scratch);
int32_t tm_fully_connected_s8_opt_scratch_bytes(const tm_fc_dims *dims);

tm_status tm_fully_connected_f32(const tm_act_f32 *act, const tm_fc_dims *dims,
                                 const float *input, const float *weights, const float *bias,
                                 float *output, const tm_scratch *scratch);
int32_t tm_fully_connected_f32_scratch_bytes(const tm_fc_dims *dims);

/* ---------------------------------------------------------------------------------------------
 * AVERAGE_POOL_2D / MAX_POOL_2D.  input (n, h, w, c), output (n, oh, ow, c).  int8 pooling needs
 * equal input and output quantization (TFLite's requirement); act_min/act_max clamp the result.
 * The average divides by the number of taps inside the input (padding taps are not counted).
 */
tm_status tm_avg_pool2d_s8_ref(const tm_pool_params *pool, int32_t act_min, int32_t act_max,
                               const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output);
tm_status tm_avg_pool2d_s8_opt(const tm_pool_params *pool, int32_t act_min, int32_t act_max,
                               const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output);
tm_status tm_avg_pool2d_f32(const tm_pool_params *pool, const tm_act_f32 *act,
                            const tm_dims *input_dims, const float *input,
                            const tm_dims *output_dims, float *output);

tm_status tm_max_pool2d_s8_ref(const tm_pool_params *pool, int32_t act_min, int32_t act_max,
                               const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output);
tm_status tm_max_pool2d_s8_opt(const tm_pool_params *pool, int32_t act_min, int32_t act_max,
                               const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output);
tm_status tm_max_pool2d_f32(const tm_pool_params *pool, const tm_act_f32 *act,
                            const tm_dims *input_dims, const float *input,
                            const tm_dims *output_dims, float *output);

/* ---------------------------------------------------------------------------------------------
 * ADD of two tensors of the same shape (residual connections), `size` elements.
 */
tm_status tm_add_s8_ref(const tm_add_params_s8 *params, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output);
tm_status tm_add_s8_opt(const tm_add_params_s8 *params, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output);
tm_status tm_add_f32(const tm_act_f32 *act, int32_t size, const float *input1,
                     const float *input2, float *output);

/* ---------------------------------------------------------------------------------------------
 * Binary element-wise operators: ADD, SUB, MUL, MAXIMUM, MINIMUM.  Each has a flat kernel for
 * two inputs of the output's shape (`size` elements) and a _bcast_ kernel for NumPy
 * broadcasting (tm_bcast).  input1 / input2 are TFLite's operands 0 / 1 (SUB computes
 * input1 - input2).  int8 SUB shares ADD's parameters and arithmetic with the difference in place
 * of the sum; int8 MAXIMUM / MINIMUM compare the raw codes (TFLite requires equal input and output
 * quantization) and have no fused activation; float MAXIMUM is (a > b ? a : b), MINIMUM
 * (a < b ? a : b), so a NaN in either operand yields input2, as in TFLite.
 */
tm_status tm_add_bcast_s8_ref(const tm_add_params_s8 *params, const tm_bcast *bcast,
                              const int8_t *input1, const int8_t *input2, int8_t *output);
tm_status tm_add_bcast_f32(const tm_act_f32 *act, const tm_bcast *bcast, const float *input1,
                           const float *input2, float *output);

tm_status tm_sub_s8_ref(const tm_add_params_s8 *params, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output);
tm_status tm_sub_bcast_s8_ref(const tm_add_params_s8 *params, const tm_bcast *bcast,
                              const int8_t *input1, const int8_t *input2, int8_t *output);
tm_status tm_sub_f32(const tm_act_f32 *act, int32_t size, const float *input1,
                     const float *input2, float *output);
tm_status tm_sub_bcast_f32(const tm_act_f32 *act, const tm_bcast *bcast, const float *input1,
                           const float *input2, float *output);

tm_status tm_mul_s8_ref(const tm_mul_params_s8 *params, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output);
tm_status tm_mul_bcast_s8_ref(const tm_mul_params_s8 *params, const tm_bcast *bcast,
                              const int8_t *input1, const int8_t *input2, int8_t *output);
tm_status tm_mul_s8_opt(const tm_mul_params_s8 *params, int32_t size, const int8_t *input1,
                        const int8_t *input2, int8_t *output);
tm_status tm_mul_f32(const tm_act_f32 *act, int32_t size, const float *input1,
                     const float *input2, float *output);
tm_status tm_mul_bcast_f32(const tm_act_f32 *act, const tm_bcast *bcast, const float *input1,
                           const float *input2, float *output);

tm_status tm_maximum_s8_ref(int32_t size, const int8_t *input1, const int8_t *input2,
                            int8_t *output);
tm_status tm_maximum_bcast_s8_ref(const tm_bcast *bcast, const int8_t *input1,
                                  const int8_t *input2, int8_t *output);
tm_status tm_maximum_f32(int32_t size, const float *input1, const float *input2, float *output);
tm_status tm_maximum_bcast_f32(const tm_bcast *bcast, const float *input1, const float *input2,
                               float *output);
tm_status tm_minimum_s8_ref(int32_t size, const int8_t *input1, const int8_t *input2,
                            int8_t *output);
tm_status tm_minimum_bcast_s8_ref(const tm_bcast *bcast, const int8_t *input1,
                                  const int8_t *input2, int8_t *output);
tm_status tm_minimum_f32(int32_t size, const float *input1, const float *input2, float *output);
tm_status tm_minimum_bcast_f32(const tm_bcast *bcast, const float *input1, const float *input2,
                               float *output);

/* ---------------------------------------------------------------------------------------------
 * SOFTMAX over the last axis: `rows` vectors of `depth` elements.
 */
tm_status tm_softmax_s8_ref(const tm_softmax_params_s8 *params, int32_t rows, int32_t depth,
                            const int8_t *input, int8_t *output);
tm_status tm_softmax_f32(float beta, int32_t rows, int32_t depth, const float *input,
                         float *output);

/* ---------------------------------------------------------------------------------------------
 * Stand-alone RELU / RELU6 (fused activations are the act_min/act_max of the other kernels).
 * int8: out = clamp(output_offset + requantize(x + input_offset, multiplier[0], shift[0]),
 * act_min, act_max) - TFLite's quantized RELU, which may change the scale.
 */
tm_status tm_relu_s8_ref(const tm_quant_s8 *quant, int32_t size, const int8_t *input,
                         int8_t *output);
tm_status tm_relu_f32(const tm_act_f32 *act, int32_t size, const float *input, float *output);

/* ---------------------------------------------------------------------------------------------
 * Element-wise activations: LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU over `size` elements, and
 * PRELU, whose constant alpha (4-D, each dim 1 or the input's) broadcasts over the input.
 * The int8 kernels have TFLite's reference arithmetic (s8-opt images use them too); the float
 * ones TFLite's float formulas.
 */
tm_status tm_logistic_s8_ref(const tm_logistic_params_s8 *params, int32_t size,
                             const int8_t *input, int8_t *output);
tm_status tm_logistic_f32(int32_t size, const float *input, float *output);
tm_status tm_tanh_s8_ref(const tm_logistic_params_s8 *params, int32_t size, const int8_t *input,
                         int8_t *output);
tm_status tm_tanh_f32(int32_t size, const float *input, float *output);
tm_status tm_hard_swish_s8_ref(const tm_hard_swish_params_s8 *params, int32_t size,
                               const int8_t *input, int8_t *output);
tm_status tm_hard_swish_f32(int32_t size, const float *input, float *output);
tm_status tm_leaky_relu_s8_ref(const tm_leaky_relu_params_s8 *params, int32_t size,
                               const int8_t *input, int8_t *output);
tm_status tm_leaky_relu_f32(float alpha, int32_t size, const float *input, float *output);
tm_status tm_prelu_s8_ref(const tm_prelu_params_s8 *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *alpha_dims, const int8_t *alpha,
                          int8_t *output);
tm_status tm_prelu_f32(const tm_dims *input_dims, const float *input, const tm_dims *alpha_dims,
                       const float *alpha, float *output);

/* ---------------------------------------------------------------------------------------------
 * RESHAPE: a byte copy (any dtype); input and output may be the same buffer.
 */
tm_status tm_reshape(const void *input, void *output, int32_t bytes);

/* ---------------------------------------------------------------------------------------------
 * Data movement of layers with several inputs or outputs, one firmware layer per input / output
 * (docs/kernels.md).  Both are byte copies for any dtype (elem_bytes: 1 for int8, 4 for float32)
 * with one memcpy per contiguous run, as TFLite's reference kernels copy.
 *
 * CONCATENATION (also PACK): copies the whole input (in) into the window of the output (out)
 * that starts at index offset along axis (0..3 of NHWC); every other dim of in equals out's:
 * for each index over the dims before the axis, one run of in[axis] x inner elements.
 */
typedef struct {
    int32_t axis;       /* 0..3: n, h, w, c */
    int32_t offset;     /* first index of the window along the axis */
} tm_concat_params;

tm_status tm_concatenation(const tm_concat_params *params, const tm_dims *in, const tm_dims *out,
                           int32_t elem_bytes, const void *input, void *output);

/*
 * STRIDED_SLICE (also SLICE, SPLIT, SPLIT_V, UNPACK: one layer per output): out[i] =
 * in[begin + i * stride] in each dim (a stride may be negative); out gives the counts.  Trailing
 * dims read with stride 1 over their whole extent merge into one contiguous run.
 */
typedef struct {
    int32_t begin_n;
    int32_t begin_h;
    int32_t begin_w;
    int32_t begin_c;
    int32_t stride_n;
    int32_t stride_h;
    int32_t stride_w;
    int32_t stride_c;
} tm_slice_params;

tm_status tm_strided_slice(const tm_slice_params *params, const tm_dims *in, const tm_dims *out,
                           int32_t elem_bytes, const void *input, void *output);

/* ---------------------------------------------------------------------------------------------
 * QUANTIZE / DEQUANTIZE (tm_quantize.c, tm_dequantize.c): one scalar implementation linked into
 * every image, so float and int8 images run them alike.  TFLite's reference arithmetic
 * (shared/reference/tflite-op-arithmetic.md 12, 13):
 *   float -> int8  q = clamp(rha(x / scale) + output_offset), a float32 division, ties away from 0
 *   int8 -> int8   q = clamp(requantize(x + input_offset, multiplier, shift) + output_offset)
 *   int8 -> float  f = scale * (x + input_offset), one float32 product (equal to TFLite's
 *                  (float)((double)scale * (x - zp)): that double product is exact)
 */
typedef struct {
    int32_t input_offset;   /* -input zero point (int8 input) */
    int32_t output_offset;  /* +output zero point (int8 output) */
    int32_t multiplier;     /* int8 -> int8: QuantizeMultiplier(s_in / s_out) */
    int32_t shift;
    float scale;            /* float -> int8: the output scale; int8 -> float: the input scale */
} tm_quantize_params;

tm_status tm_quantize_f32_s8(const tm_quantize_params *params, int32_t size, const float *input,
                             int8_t *output);
tm_status tm_requantize_s8(const tm_quantize_params *params, int32_t size, const int8_t *input,
                           int8_t *output);
tm_status tm_dequantize_s8_f32(const tm_quantize_params *params, int32_t size,
                               const int8_t *input, float *output);

/* ---------------------------------------------------------------------------------------------
 * Reductions over any set of axes of a 4-D NHWC tensor (MEAN other than the spatial one, SUM).
 * axes: bit i set reduces dimension i (0 n, 1 h, 2 w, 3 c), 1..15; the output is the input shape
 * with the reduced dimensions 1, row-major.
 * int8: out = clamp(output_offset + requantize(sum(x + input_offset), multiplier[0], shift[0]),
 *       act_min, act_max): MEAN's multiplier has 1/n folded in (TFLite's QuantizedMeanOrSum),
 *       SUM's is QuantizeMultiplier(s_in / s_out) (TFLite Micro's SUM).
 * float: out = clamp(sum(x)), divided by n for a mean; summed in input order.
 */
typedef struct {
    int32_t axes;
} tm_reduce_params;

tm_status tm_reduce_s8_ref(const tm_reduce_params *params, const tm_quant_s8 *quant,
                           const tm_dims *input_dims, const int8_t *input, int8_t *output);
tm_status tm_reduce_f32(const tm_reduce_params *params, const tm_act_f32 *act, int32_t mean,
                        const tm_dims *input_dims, const float *input, float *output);

/* ---------------------------------------------------------------------------------------------
 * Data movement of issue 17 (TRANSPOSE, PAD, RESIZE_NEAREST_NEIGHBOR).  One source per operator
 * serves every variant (tm_transpose.c, tm_pad.c, tm_resize_nearest.c, like tm_reshape.c): the
 * kernels move elements of `elem_bytes` bytes (1: int8, 4: float32) and never compute on them;
 * quantization is untouched (the converter gives input and output one scale and zero point,
 * tflite-op-arithmetic.md 1.9).  input and output must not overlap.
 */

/** TRANSPOSE of a 4-D tensor: output dim k is input dim perm_k (a permutation of 0..3). */
typedef struct {
    int32_t perm0;
    int32_t perm1;
    int32_t perm2;
    int32_t perm3;
} tm_transpose_params;

/** PAD: elements inserted before each NHWC dim; those after are out - in - before. */
typedef struct {
    int32_t before_n;
    int32_t before_h;
    int32_t before_w;
    int32_t before_c;
} tm_pad_params;

/** PAD's fill element: the int8 code (1-byte elements; zp_out for PAD, the constant for PADV2)
 * or the float32 bit pattern (4-byte elements). */
typedef struct {
    int32_t value;
} tm_pad_value;

/** RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR options (0 or 1 each). */
typedef struct {
    int32_t align_corners;
    int32_t half_pixel_centers;
} tm_resize_params;

/* out[i0 i1 i2 i3] = in[j] with j[perm_k] = i_k: TFLite's reference walk (output in order, one
 * strided read per element). */
tm_status tm_transpose(const tm_transpose_params *params, int32_t elem_bytes,
                       const tm_dims *input_dims, const void *input, const tm_dims *output_dims,
                       void *output);

/* TFLite's reference PAD: the output in order, one element at a time, the fill in the padded
 * bands and the next input element elsewhere. */
tm_status tm_pad(const tm_pad_params *params, int32_t elem_bytes, int32_t fill,
                 const tm_dims *input_dims, const void *input, const tm_dims *output_dims,
                 void *output);
/* int8 PAD of s8-opt images: the same result in blocks, memset for padded runs and one memcpy
 * per input row (the structure of CMSIS-NN's arm_pad_s8). */
tm_status tm_pad_s8_opt(const tm_pad_params *params, int8_t fill, const tm_dims *input_dims,
                        const int8_t *input, const tm_dims *output_dims, int8_t *output);

/* Nearest-neighbour resize of (n, h, w, c) to (n, oh, ow, c): one memcpy of c elements per output
 * pixel from TFLite's GetNearestNeighbor source pixel (computed in float, as TFLite does). */
tm_status tm_resize_nearest(const tm_resize_params *params, int32_t elem_bytes,
                            const tm_dims *input_dims, const void *input,
                            const tm_dims *output_dims, void *output);

/* ---------------------------------------------------------------------------------------------
 * RESIZE_BILINEAR of (n, h, w, c) to (n, oh, ow, c).  int8: TFLite's integer path
 * (ResizeBilinearInteger: 10-bit fixed-point source coordinates, four taps, round half away from
 * zero at 2^20), shared by s8-ref and s8-opt; float: TFLite's float reference.
 * align_corners and half_pixel_centers are not both 1.
 */
tm_status tm_resize_bilinear_s8_ref(const tm_resize_params *params, const tm_dims *input_dims,
                                    const int8_t *input, const tm_dims *output_dims,
                                    int8_t *output);
tm_status tm_resize_bilinear_f32(const tm_resize_params *params, const tm_dims *input_dims,
                                 const float *input, const tm_dims *output_dims, float *output);

#ifdef __cplusplus
}
#endif

#endif /* TM_KERNELS_H */
