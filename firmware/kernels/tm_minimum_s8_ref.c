/*
 * tm_minimum_s8_ref.c - int8 MINIMUM, flat and broadcasting (tm_bcast); one kernel for both int8
 * variants.  The smaller of the two raw codes: TFLite requires the inputs and the output to share
 * scale and zero point (shared/reference/tflite-op-arithmetic.md sections 1.9 and 17; the host
 * refuses other quantizations), and the operator has no fused activation.
 */
#include "tm_internal.h"

static inline int8_t tm_minimum_one(const void *unused, int8_t a, int8_t b)
{
    (void)unused;
    return (a < b ? a : b);
}

tm_status tm_minimum_s8_ref(int32_t size, const int8_t *input1, const int8_t *input2,
                          int8_t *output)
{
    if (input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (size < 0) {
        return TM_ERR_SHAPE;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = tm_minimum_one(NULL, input1[i], input2[i]);
    }
    return TM_OK;
}

tm_status tm_minimum_bcast_s8_ref(const tm_bcast *bcast, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    if (bcast == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (tm_check_bcast(bcast) != TM_OK) {
        return TM_ERR_SHAPE;
    }
    TM_BCAST_APPLY(bcast, input1, input2, output, tm_minimum_one, NULL);
    return TM_OK;
}
