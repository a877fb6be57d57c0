/*
 * tm_pad_s8_opt.c - int8 PAD / PADV2 of s8-opt images: tm_pad's result written in blocks, as
 * CMSIS-NN's arm_pad_s8 does (tflite-op-arithmetic.md section 6 (e)): memset over every padded
 * run, one memcpy per input row of channels - or per whole input image row when the channels are
 * not padded (the usual spatial padding).  Data movement: no SIMD arithmetic.
 */
#include <string.h>

#include "tm_internal.h"

tm_status tm_pad_s8_opt(const tm_pad_params *params, int8_t fill, const tm_dims *input_dims,
                        const int8_t *input, const tm_dims *output_dims, int8_t *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    const tm_dims *in = input_dims;
    const tm_dims *out = output_dims;
    const tm_status st = tm_pad_check(params, in, out);
    if (st != TM_OK) {
        return st;
    }
    const int32_t oc = out->c;
    const int32_t bc = params->before_c;
    const int32_t ac = oc - bc - in->c;
    const int32_t out_row = out->w * oc;              /* one output image row */
    const int32_t out_image = out->h * out_row;
    const size_t in_row = (size_t)in->w * (size_t)in->c;
    const int32_t before_w = params->before_w * oc;
    const int32_t after_w = (out->w - params->before_w - in->w) * oc;
    const int8_t *x = input;
    int8_t *y = output;
    for (int32_t n = 0; n < out->n; n++) {
        if (n < params->before_n || n >= params->before_n + in->n) {
            memset(y, fill, (size_t)out_image);
            y += out_image;
            continue;
        }
        const int32_t above = params->before_h * out_row;
        memset(y, fill, (size_t)above);
        y += above;
        for (int32_t h = 0; h < in->h; h++) {
            memset(y, fill, (size_t)before_w);
            y += before_w;
            if (bc == 0 && ac == 0) {
                memcpy(y, x, in_row);
                y += in_row;
                x += in_row;
            } else {
                for (int32_t w = 0; w < in->w; w++) {
                    memset(y, fill, (size_t)bc);
                    memcpy(y + bc, x, (size_t)in->c);
                    memset(y + bc + in->c, fill, (size_t)ac);
                    y += oc;
                    x += in->c;
                }
            }
            memset(y, fill, (size_t)after_w);
            y += after_w;
        }
        const int32_t below = (out->h - params->before_h - in->h) * out_row;
        memset(y, fill, (size_t)below);
        y += below;
    }
    return TM_OK;
}
