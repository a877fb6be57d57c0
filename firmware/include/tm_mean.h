/*
 * tm_mean.h - MEAN over the spatial axes (global average pooling as TFLite's MEAN with axes
 * (1, 2)), the one operator of the paper's networks the kernel library does not cover.
 *
 * int8: out[n, c] = clamp(output_offset + requantize(sum_hw(x + input_offset), m, e)), with
 * tm_requantize (double rounding, as TFLite's MultiplyByQuantizedMultiplier).  The host computes
 * (m, e) as TFLite's int8 MEAN does (tinymodel/requantization.py, mean_multiplier): the rescale
 * s_in / s_out is quantized to (m0, e0), and 1/(h*w) is folded in with integer arithmetic,
 * k = min(floor(log2(h*w)), 32, 31 + e0), m = floor(m0 * 2^k / (h*w)), e = e0 - k.  m is then
 * not normalised (it may be below 2^30).  Quantizing s_in / (s_out * h * w) directly instead gives
 * outputs that are off by one for many h*w that are not powers of two.  TFLite uses this one
 * arithmetic for keep_dims true and false and for equal or different input / output scales
 * (reference_ops::QuantizedMeanOrSum, tensorflow/lite/kernels/internal/reference/reduce.h;
 * checked bit for bit against the TF 2.21 interpreter by tests/firmware/test_mean_s8.py).
 * float: out[n, c] = clamp(sum_hw(x) / (h * w)).
 */
#ifndef TM_MEAN_H
#define TM_MEAN_H

#include "tm_kernels.h"

tm_status tm_mean_s8(const tm_quant_s8 *quant, const tm_dims *input_dims, const int8_t *input,
                     int8_t *output);
tm_status tm_mean_f32(const tm_act_f32 *act, const tm_dims *input_dims, const float *input,
                      float *output);

#endif /* TM_MEAN_H */
