/*
 * tm_model.c - the weak "no network" default and the checks of a generated layer table.
 */
#include <stddef.h>
#include <string.h>

#include "tm_model.h"

__attribute__((weak)) const tm_model *tm_model_get(void)
{
    return NULL;
}

static int tm_span_ok(uint32_t offset, uint32_t bytes, uint32_t limit)
{
    return offset <= limit && bytes <= limit - offset;
}

static int tm_blob_span_ok(uint32_t offset, uint32_t bytes, uint32_t limit)
{
    return offset == TM_NO_OFFSET ? bytes == 0u : tm_span_ok(offset, bytes, limit);
}

/* Every entry of a layer's per-channel multiplier and shift tables passes the rules of the
 * runner's TM_Q_MULT / TM_Q_SHIFT slots (tm_runner_check_quant, with the entry in the slot). */
static tm_run_status tm_check_channel_tables(const tm_model *m, const tm_layer_desc *d,
                                             uint32_t channels)
{
    int32_t quant[12];
    memcpy(quant, d->quant, sizeof quant);
    for (uint32_t c = 0; c < channels; c++) {
        memcpy(&quant[TM_Q_MULT], m->blob + d->mult_offset + 4u * c, 4u);
        memcpy(&quant[TM_Q_SHIFT], m->blob + d->shift_offset + 4u * c, 4u);
        if (tm_runner_check_quant(d->op, (tm_variant)m->variant, quant, NULL) != TM_RUN_OK) {
            return TM_RUN_PARAM;
        }
    }
    return TM_RUN_OK;
}

tm_run_status tm_model_check(const tm_model *m, uint32_t *bad_layer)
{
    *bad_layer = 0;
    if (m == NULL || (m->n_layers > 0u && (m->layers == NULL || m->layer_cycles == NULL))) {
        return TM_RUN_PARAM;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const tm_layer_desc *d = &m->layers[i];
        tm_layer_sizes s;
        *bad_layer = i;
        const tm_run_status rs = tm_runner_sizes(d, (tm_variant)m->variant, &s, NULL);
        if (rs != TM_RUN_OK) {
            return rs;
        }
        if (!tm_span_ok(d->in_offset, s.in_bytes, m->arena_bytes) ||
            !tm_span_ok(d->out_offset, s.out_bytes, m->arena_bytes)) {
            return TM_RUN_NO_FIT;
        }
        if (s.in2_bytes && (d->in2_offset == TM_NO_OFFSET ||
                            !tm_span_ok(d->in2_offset, s.in2_bytes, m->arena_bytes))) {
            return TM_RUN_NO_FIT;
        }
        if (s.scratch_bytes > 0u &&
            (d->scratch_offset == TM_NO_OFFSET || d->scratch_bytes < s.scratch_bytes ||
             !tm_span_ok(d->scratch_offset, d->scratch_bytes, m->arena_bytes))) {
            return TM_RUN_NO_FIT;
        }
        if (s.weight_bytes && (d->weights_offset == TM_NO_OFFSET ||
                               !tm_span_ok(d->weights_offset, s.weight_bytes, m->blob_bytes))) {
            return TM_RUN_NO_FIT;
        }
        if (s.bias_bytes && !tm_blob_span_ok(d->bias_offset, s.bias_bytes, m->blob_bytes)) {
            return TM_RUN_NO_FIT;
        }
        if (d->flags & TM_LAYER_FLAG_PER_CHANNEL) {
            const uint32_t table = s.channels * 4u;
            if (d->mult_offset == TM_NO_OFFSET || d->shift_offset == TM_NO_OFFSET ||
                !tm_span_ok(d->mult_offset, table, m->blob_bytes) ||
                !tm_span_ok(d->shift_offset, table, m->blob_bytes)) {
                return TM_RUN_NO_FIT;
            }
            if (tm_check_channel_tables(m, d, s.channels) != TM_RUN_OK) {
                return TM_RUN_PARAM;
            }
        }
    }
    *bad_layer = 0;
    return TM_RUN_OK;
}

void tm_model_layer_ptrs(const tm_model *m, uint32_t i, tm_layer_ptrs *p)
{
    const tm_layer_desc *d = &m->layers[i];
    p->in = m->arena + d->in_offset;
    p->in2 = d->in2_offset == TM_NO_OFFSET ? NULL : m->arena + d->in2_offset;
    p->out = m->arena + d->out_offset;
    p->scratch = d->scratch_offset == TM_NO_OFFSET ? NULL : m->arena + d->scratch_offset;
    p->weights = d->weights_offset == TM_NO_OFFSET ? NULL : m->blob + d->weights_offset;
    p->bias = d->bias_offset == TM_NO_OFFSET ? NULL : m->blob + d->bias_offset;
    p->mult = d->mult_offset == TM_NO_OFFSET ? NULL : (const int32_t *)(const void *)(m->blob + d->mult_offset);
    p->shift = d->shift_offset == TM_NO_OFFSET ? NULL : (const int32_t *)(const void *)(m->blob + d->shift_offset);
}
