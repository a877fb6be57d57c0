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
    TM_PATH_DW_GENERIC = 4     /* depthwise ch_mult 1: per-pixel int16 im2col, 4 channels a step */
} tm_path;

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
