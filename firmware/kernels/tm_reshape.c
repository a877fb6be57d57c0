/*
 * tm_reshape.c - RESHAPE: NHWC data is contiguous, so a reshape is a byte copy (nothing when the
 * planner gives input and output the same buffer).  Any dtype.
 */
#include <string.h>

#include "tm_internal.h"

tm_status tm_reshape(const void *input, void *output, int32_t bytes)
{
    if (input == NULL || output == NULL) {
        return TM_ERR_NULL_POINTER;
    }
    if (bytes < 0) {
        return TM_ERR_SHAPE;
    }
    if (input != output) {
        memmove(output, input, (size_t)bytes);
    }
    return TM_OK;
}
