/*
 * tm_relu_s8_ref.c - stand-alone int8 RELU / RELU6 (TFLite's quantized ReluX).
 *
 * The output may have a different scale than the input, so each element is requantized:
 *   y = clamp(output_offset + rq(x + input_offset, M), act_min, act_max)
 * with act_min = q(0) and act_max = 127 (RELU) or q(6) (RELU6).
 */
#include "tm_internal.h"
#include "tm_requant.h"

tm_status tm_relu_s8_ref(const tm_quant_s8 *quant, int32_t size, const int8_t *input,
                         int8_t *output)
{
    if (input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    const tm_status st = tm_check_quant_s8(quant, 1);
    if (st != TM_OK) {
        return st;
    }
    const int32_t m = quant->multiplier[0];
    const int32_t e = quant->shift[0];
    for (int32_t i = 0; i < size; i++) {
        output[i] = tm_requant_s8(input[i] + quant->input_offset, m, e, quant->output_offset,
                                  quant->act_min, quant->act_max);
    }
    return TM_OK;
}
