/*
 * tm_mean.h - MEAN over the spatial axes (global average pooling as TFLite's MEAN with axes
 * (1, 2)), the one operator of the paper's networks the kernel library does not cover.
 *
 * int8: out[n, c] = clamp(output_offset + requantize(sum_hw(x + input_offset), m, e)), where the
 * host folds the 1/(h*w) into the multiplier: M = s_in / (s_out * h * w) (calibration/codegen.py).
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
