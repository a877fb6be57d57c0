/*
 * tm_protocol.c - command dispatch (docs/protocol.md §3).
 *
 * Every length and index that comes from the wire is checked before use: payload lengths are
 * compared with what the command expects, dimensions are bounded by the runner before any size
 * is computed, and offsets into tensors and tables are checked against their sizes in 64-bit
 * arithmetic.  Replies are built with a bounded writer; nothing is ever written past a buffer.
 */
#include <string.h>

#include "tm_cycles.h"
#include "tm_marker.h"
#include "tm_model.h"
#include "tm_protocol.h"
#include "tm_runner.h"

/* -- little-endian reader / bounded writer -------------------------------------------------- */

static uint16_t tm_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t tm_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
} tm_writer;

static void tm_put(tm_writer *w, const void *data, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

static void tm_put8(tm_writer *w, uint8_t v)
{
    tm_put(w, &v, 1);
}

static void tm_put16(tm_writer *w, uint16_t v)
{
    const uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    tm_put(w, b, 2);
}

static void tm_put32(tm_writer *w, uint32_t v)
{
    const uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tm_put(w, b, 4);
}

static void tm_put64(tm_writer *w, uint64_t v)
{
    tm_put32(w, (uint32_t)v);
    tm_put32(w, (uint32_t)(v >> 32));
}

static void tm_put_str(tm_writer *w, const char *s)
{
    size_t n = s ? strlen(s) : 0u;
    if (n > 400u) {
        n = 400u;
    }
    tm_put16(w, (uint16_t)n);
    tm_put(w, s, n);
}

static void tm_put_f32(tm_writer *w, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    tm_put32(w, u);
}

/* -- state ---------------------------------------------------------------------------------- */

/* Per-channel requantization tables RUN_LAYER builds (values do not change latency). */
static int32_t tm_run_mult[TM_RUN_MAX_CHANNELS];
static int32_t tm_run_shift[TM_RUN_MAX_CHANNELS];

/* RUN_MODEL results beyond the per-layer table. */
static uint32_t tm_model_reps;

static uint32_t tm_align16(uint32_t v)
{
    return (v + 15u) & ~15u;
}

/* -- ABORT between calls (docs/protocol.md §3.7) ----------------------------------------------- */

/* Feed one byte to the ABORT collector; 1 when it completed a valid ABORT frame. */
static int tm_abort_feed(tm_proto *p, uint8_t b)
{
    if (b != 0u) {
        if (p->abort_len < TM_ABORT_RX_BYTES) {
            p->abort_enc[p->abort_len] = b;
        }
        if (p->abort_len <= TM_ABORT_RX_BYTES) {
            p->abort_len++;                 /* TM_ABORT_RX_BYTES + 1: too long, wait for 0x00 */
        }
        return 0;
    }
    const size_t n = p->abort_len;
    p->abort_len = 0;
    if (n == 0u || n > TM_ABORT_RX_BYTES) {
        return 0;
    }
    uint8_t f[TM_ABORT_RX_BYTES];
    int ok = 0;
    const size_t len = tm_cobs_decode(p->abort_enc, n, f, sizeof f, &ok);
    return ok && len == TM_FRAME_MIN_DECODED && f[0] == TM_CMD_ABORT &&
           tm_crc32(f, len - TM_FRAME_CRC_BYTES) == tm_rd32(f + len - TM_FRAME_CRC_BYTES);
}

/* Called between the calls of a run, never inside a timed region.  Nothing to do (one poll)
 * unless a byte has arrived; then bytes are collected while they keep coming, and 1 is returned
 * when they held an ABORT frame.  Anything else that arrives during a run is dropped. */
static int tm_abort_requested(tm_proto *p)
{
    const tm_platform *pl = p->platform;
    uint8_t b = 0;
    if (pl->rx_poll == NULL || !pl->rx_poll(&b)) {
        return 0;
    }
    const uint32_t gap = pl->core_clock_hz / TM_ABORT_GAP_DIV;
    p->abort_len = 0;
    for (uint32_t count = 1;; count++) {
        if (tm_abort_feed(p, b)) {
            return 1;
        }
        if (count >= TM_ABORT_MAX_BYTES) {
            return 0;
        }
        const uint32_t since = tm_cycles_now();
        while (!pl->rx_poll(&b)) {
            if ((uint32_t)(tm_cycles_now() - since) > gap) {
                return 0;
            }
        }
    }
}

/* -- replies ---------------------------------------------------------------------------------- */

typedef struct {
    tm_writer w;       /* payload writer over reply + header */
    uint8_t status;
} tm_reply;

static void tm_reply_start(tm_reply *r, uint8_t *reply, size_t cap)
{
    r->w.buf = reply + TM_FRAME_HEADER_BYTES;
    r->w.cap = cap >= TM_FRAME_MIN_DECODED ? cap - TM_FRAME_MIN_DECODED : 0u;
    if (r->w.cap > TM_FRAME_MAX_PAYLOAD) {
        r->w.cap = TM_FRAME_MAX_PAYLOAD;
    }
    r->w.len = 0;
    r->w.overflow = 0;
    r->status = TM_ST_OK;
}

/* Discard what was written and answer with an error status (details follow via tm_put*). */
static void tm_reply_error(tm_reply *r, tm_st st)
{
    r->w.len = 0;
    r->w.overflow = 0;
    r->status = (uint8_t)st;
}

static void tm_error_length(tm_reply *r, uint16_t expected)
{
    tm_reply_error(r, TM_ST_LENGTH);
    tm_put16(&r->w, expected);
}

static void tm_error_param(tm_reply *r, uint16_t field)
{
    tm_reply_error(r, TM_ST_PARAM);
    tm_put16(&r->w, field);
}

static void tm_error_no_fit(tm_reply *r, tm_no_fit_region region, uint32_t required,
                            uint32_t available)
{
    tm_reply_error(r, TM_ST_NO_FIT);
    tm_put8(&r->w, (uint8_t)region);
    tm_put8(&r->w, 0);
    tm_put16(&r->w, 0);
    tm_put32(&r->w, required);
    tm_put32(&r->w, available);
}

static void tm_error_kernel(tm_reply *r, int32_t kernel_status)
{
    tm_reply_error(r, TM_ST_KERNEL);
    tm_put32(&r->w, (uint32_t)kernel_status);
}

/* A run stopped by ABORT: how many untimed and timed calls it had done. */
static void tm_error_aborted(tm_reply *r, uint32_t warmups_done, uint32_t reps_done)
{
    tm_reply_error(r, TM_ST_ABORTED);
    tm_put32(&r->w, warmups_done);
    tm_put32(&r->w, reps_done);
}

/* Map a runner status onto a reply (TM_RUN_PARAM carries the field offset). */
static void tm_error_run(tm_reply *r, tm_run_status rs, uint16_t field, int32_t kernel_status)
{
    switch (rs) {
    case TM_RUN_PARAM:
        tm_error_param(r, field);
        break;
    case TM_RUN_VARIANT:
        tm_reply_error(r, TM_ST_VARIANT);
        tm_put8(&r->w, (uint8_t)tm_runner_variants());
        break;
    case TM_RUN_KERNEL:
        tm_error_kernel(r, kernel_status);
        break;
    case TM_RUN_NO_FIT:
        tm_reply_error(r, TM_ST_NO_FIT);
        break;
    default:
        tm_reply_error(r, TM_ST_UNSUPPORTED);
        break;
    }
}

/* -- commands --------------------------------------------------------------------------------- */

static void tm_cmd_hello(tm_proto *p, size_t n, tm_reply *r)
{
    if (n != 0u) {
        tm_error_length(r, 0);
        return;
    }
    const tm_platform *pl = p->platform;
    const tm_model *m = tm_model_get();
    tm_put16(&r->w, TM_PROTOCOL_VERSION);
    tm_put16(&r->w, TM_FRAME_MAX_PAYLOAD);
    tm_put32(&r->w, pl->core_clock_hz);
    tm_put8(&r->w, (uint8_t)tm_runner_variants());
    tm_put8(&r->w, pl->fpu_enabled);
    tm_put8(&r->w, pl->clock_status);
    tm_put8(&r->w, 0);
    tm_put32(&r->w, tm_runner_ops());
    tm_put32(&r->w, pl->arena_bytes);
    tm_put32(&r->w, pl->weight_bytes);
    tm_put16(&r->w, (uint16_t)(m ? (m->n_layers > 0xFFFFu ? 0xFFFFu : m->n_layers) : 0u));
    tm_put_str(&r->w, pl->board_id);
    tm_put_str(&r->w, pl->mcu);
    tm_put_str(&r->w, pl->build_id);
    tm_put_str(&r->w, pl->compiler);
    tm_put_str(&r->w, pl->cflags);
    tm_put_str(&r->w, m ? m->name : "");
}

static void tm_cmd_ping(const uint8_t *payload, size_t n, tm_reply *r)
{
    tm_put(&r->w, payload, n);
}

static void tm_fill(uint8_t *dst, uint32_t bytes)
{
    /* The pattern of the flash weight region: float32 0.01 or int8 10, -41, 35, 60. */
    static const uint8_t pattern[4] = {0x0A, 0xD7, 0x23, 0x3C};
    for (uint32_t i = 0; i < bytes; i++) {
        dst[i] = pattern[i & 3u];
    }
}

static void tm_cmd_run_layer(tm_proto *p, const uint8_t *q, size_t n, tm_reply *r)
{
    if (n != TM_RUN_LAYER_REQUEST_BYTES) {
        tm_error_length(r, TM_RUN_LAYER_REQUEST_BYTES);
        return;
    }
    const tm_platform *pl = p->platform;
    tm_layer_desc d;
    memset(&d, 0, sizeof d);
    d.op = q[TM_FIELD_OP];
    const uint32_t variant = q[TM_FIELD_VARIANT];
    d.flags = q[TM_FIELD_FLAGS];
    if (q[TM_FIELD_RESERVED] != 0u) {
        tm_error_param(r, TM_FIELD_RESERVED);
        return;
    }
    if ((d.flags & ~(TM_LAYER_FLAG_BIAS | TM_LAYER_FLAG_PER_CHANNEL |
                     TM_LAYER_FLAG_CONST_OPERAND | TM_LAYER_FLAG_SWAPPED)) != 0u) {
        tm_error_param(r, TM_FIELD_FLAGS);
        return;
    }
    const uint32_t warmups = tm_rd32(q + TM_FIELD_WARMUPS);
    const uint32_t reps = tm_rd32(q + TM_FIELD_REPS);
    if (warmups > TM_RUN_LAYER_MAX_REPS) {
        tm_error_param(r, TM_FIELD_WARMUPS);
        return;
    }
    if (reps < 1u || reps > TM_RUN_LAYER_MAX_REPS) {
        tm_error_param(r, TM_FIELD_REPS);
        return;
    }
    for (int i = 0; i < 4; i++) {
        d.in[i] = (int32_t)tm_rd32(q + TM_FIELD_IN(0) + 4 * i);
        d.filter[i] = (int32_t)tm_rd32(q + TM_FIELD_FILTER(0) + 4 * i);
        d.out[i] = (int32_t)tm_rd32(q + TM_FIELD_OUT(0) + 4 * i);
    }
    for (int i = 0; i < 8; i++) {
        d.geom[i] = (int32_t)tm_rd32(q + TM_FIELD_GEOM(0) + 4 * i);
    }
    for (int i = 0; i < 12; i++) {
        d.quant[i] = (int32_t)tm_rd32(q + TM_FIELD_QUANT(0) + 4 * i);
    }
    if (variant >= (uint32_t)TM_VARIANT_COUNT) {
        tm_error_param(r, TM_FIELD_VARIANT);
        return;
    }
    tm_layer_sizes s;
    uint16_t field = 0;
    tm_run_status rs = tm_runner_sizes(&d, (tm_variant)variant, &s, &field);
    if (rs != TM_RUN_OK) {
        tm_error_run(r, rs, field, 0);
        return;
    }
    if ((d.flags & TM_LAYER_FLAG_PER_CHANNEL) && s.channels > TM_RUN_MAX_CHANNELS) {
        tm_error_no_fit(r, TM_NO_FIT_CHANNELS, s.channels * 4u, TM_RUN_MAX_CHANNELS * 4u);
        return;
    }

    /* Arena: input, second input, output, scratch; each 16-byte aligned (64-bit sums). */
    const uint64_t off_in2 = tm_align16(s.in_bytes);
    const uint64_t off_out = off_in2 + tm_align16(s.in2_bytes);
    const uint64_t off_scr = off_out + tm_align16(s.out_bytes);
    const uint64_t arena_need = off_scr + s.scratch_bytes;
    if (arena_need > pl->arena_bytes) {
        tm_error_no_fit(r, TM_NO_FIT_ARENA, arena_need > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)arena_need,
                        pl->arena_bytes);
        return;
    }
    const uint64_t off_bias = tm_align16(s.weight_bytes);
    const uint64_t weight_need = off_bias + s.bias_bytes;
    if (weight_need > pl->weight_bytes) {
        tm_error_no_fit(r, TM_NO_FIT_WEIGHTS, weight_need > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)weight_need,
                        pl->weight_bytes);
        return;
    }
    d.in_offset = 0;
    d.in2_offset = s.in2_bytes ? (uint32_t)off_in2 : TM_NO_OFFSET;
    d.out_offset = (uint32_t)off_out;
    d.scratch_offset = s.scratch_bytes ? (uint32_t)off_scr : TM_NO_OFFSET;
    d.scratch_bytes = s.scratch_bytes;

    tm_layer_ptrs ptr;
    ptr.in = pl->arena;
    ptr.in2 = s.in2_bytes ? pl->arena + off_in2 : NULL;
    ptr.out = pl->arena + off_out;
    ptr.scratch = s.scratch_bytes ? pl->arena + off_scr : NULL;
    ptr.weights = s.weight_bytes ? pl->weights : NULL;
    ptr.bias = s.bias_bytes ? pl->weights + off_bias : NULL;
    ptr.mult = NULL;
    ptr.shift = NULL;
    if (d.flags & TM_LAYER_FLAG_PER_CHANNEL) {
        for (uint32_t c = 0; c < s.channels; c++) {
            tm_run_mult[c] = d.quant[TM_Q_MULT];
            tm_run_shift[c] = d.quant[TM_Q_SHIFT];
        }
        ptr.mult = tm_run_mult;
        ptr.shift = tm_run_shift;
    }
    tm_fill(pl->arena, s.in_bytes);
    if (s.in2_bytes) {
        tm_fill(pl->arena + off_in2, s.in2_bytes);
    }

    /* Cost of an empty timed region (the two counter reads), for the host to subtract. */
    uint32_t overhead = 0xFFFFFFFFu;
    for (int i = 0; i < 4; i++) {
        const uint32_t t0 = tm_cycles_now();
        const uint32_t t1 = tm_cycles_now();
        if (t1 - t0 < overhead) {
            overhead = t1 - t0;
        }
    }

    int32_t kst = 0;
    for (uint32_t i = 0; i < warmups; i++) {
        if (tm_abort_requested(p)) {
            tm_error_aborted(r, i, 0);
            return;
        }
        rs = tm_runner_exec(&d, (tm_variant)variant, &ptr, &kst);
        if (rs != TM_RUN_OK) {
            tm_error_run(r, rs, 0, kst);
            return;
        }
    }
    uint64_t total = 0;
    uint32_t lo = 0xFFFFFFFFu;
    uint32_t hi = 0;
    for (uint32_t i = 0; i < reps; i++) {
        /* the ABORT poll stays outside the timed region (before the marker and t0) */
        if (tm_abort_requested(p)) {
            tm_error_aborted(r, warmups, i);
            return;
        }
        tm_marker_on();
        const uint32_t t0 = tm_cycles_now();
        rs = tm_runner_exec(&d, (tm_variant)variant, &ptr, &kst);
        const uint32_t t1 = tm_cycles_now();
        tm_marker_off();
        if (rs != TM_RUN_OK) {
            tm_error_run(r, rs, 0, kst);
            return;
        }
        const uint32_t dt = t1 - t0;
        total += dt;
        lo = dt < lo ? dt : lo;
        hi = dt > hi ? dt : hi;
    }
    tm_put32(&r->w, reps);
    tm_put64(&r->w, total);
    tm_put32(&r->w, lo);
    tm_put32(&r->w, hi);
    tm_put32(&r->w, overhead);
    tm_put32(&r->w, (uint32_t)arena_need);
    tm_put32(&r->w, (uint32_t)weight_need);
    tm_put8(&r->w, tm_runner_path(&d, (tm_variant)variant));
    tm_put8(&r->w, 0);
    tm_put16(&r->w, 0);
}

/* The linked network after its table was checked, or NULL with the reply already set. */
static const tm_model *tm_model_ready(tm_reply *r)
{
    const tm_model *m = tm_model_get();
    if (m == NULL) {
        tm_reply_error(r, TM_ST_NO_MODEL);
        return NULL;
    }
    uint32_t bad = 0;
    const tm_run_status rs = tm_model_check(m, &bad);
    if (rs != TM_RUN_OK) {
        tm_error_run(r, rs, (uint16_t)(bad > 0xFFFFu ? 0xFFFFu : bad), 0);
        return NULL;
    }
    return m;
}

static void tm_put_tensor(tm_writer *w, const tm_model_tensor *t)
{
    tm_put8(w, (uint8_t)t->dtype);
    tm_put8(w, (uint8_t)t->rank);
    tm_put16(w, 0);
    tm_put32(w, t->bytes);
    for (int i = 0; i < 4; i++) {
        tm_put32(w, (uint32_t)t->dims[i]);
    }
    tm_put_f32(w, t->scale);
    tm_put32(w, (uint32_t)t->zero_point);
}

static void tm_cmd_model_info(size_t n, tm_reply *r)
{
    if (n != 0u) {
        tm_error_length(r, 0);
        return;
    }
    const tm_model *m = tm_model_ready(r);
    if (m == NULL) {
        return;
    }
    tm_put16(&r->w, (uint16_t)(m->n_layers > 0xFFFFu ? 0xFFFFu : m->n_layers));
    tm_put8(&r->w, (uint8_t)(m->n_inputs > 0xFFu ? 0xFFu : m->n_inputs));
    tm_put8(&r->w, (uint8_t)(m->n_outputs > 0xFFu ? 0xFFu : m->n_outputs));
    tm_put32(&r->w, m->arena_bytes);
    tm_put32(&r->w, m->blob_bytes);
    tm_put_str(&r->w, m->name);
    for (uint32_t i = 0; i < m->n_inputs && i < 0xFFu; i++) {
        tm_put_tensor(&r->w, &m->inputs[i]);
    }
    for (uint32_t i = 0; i < m->n_outputs && i < 0xFFu; i++) {
        tm_put_tensor(&r->w, &m->outputs[i]);
    }
    for (uint32_t i = 0; i < m->n_layers && i < TM_MODEL_INFO_MAX_OPS; i++) {
        tm_put8(&r->w, (uint8_t)m->layers[i].op);
    }
    if (r->w.overflow) {
        tm_reply_error(r, TM_ST_RANGE);
    }
}

/* One inference: every layer timed on its own, marker active during each. */
static tm_run_status tm_model_infer(const tm_model *m, int accumulate, uint64_t *total,
                                    uint32_t *bad_layer, int32_t *kst)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        tm_layer_ptrs ptr;
        tm_model_layer_ptrs(m, i, &ptr);
        tm_marker_on();
        const uint32_t t0 = tm_cycles_now();
        const tm_run_status rs = tm_runner_exec(&m->layers[i], (tm_variant)m->variant, &ptr, kst);
        const uint32_t t1 = tm_cycles_now();
        tm_marker_off();
        if (rs != TM_RUN_OK) {
            *bad_layer = i;
            return rs;
        }
        sum += (uint32_t)(t1 - t0);
        if (accumulate) {
            m->layer_cycles[i] += (uint32_t)(t1 - t0);
        }
    }
    *total = sum;
    return TM_RUN_OK;
}

static void tm_cmd_run_model(tm_proto *p, const uint8_t *q, size_t n, tm_reply *r)
{
    if (n != 8u) {
        tm_error_length(r, 8);
        return;
    }
    const uint32_t warmups = tm_rd32(q);
    const uint32_t reps = tm_rd32(q + 4);
    if (warmups > TM_RUN_MODEL_MAX_REPS) {
        tm_error_param(r, 0);
        return;
    }
    if (reps < 1u || reps > TM_RUN_MODEL_MAX_REPS) {
        tm_error_param(r, 4);
        return;
    }
    const tm_model *m = tm_model_ready(r);
    if (m == NULL) {
        return;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        m->layer_cycles[i] = 0;
    }
    tm_model_reps = 0;
    uint32_t bad = 0;
    int32_t kst = 0;
    uint64_t t = 0;
    for (uint32_t i = 0; i < warmups; i++) {
        if (tm_abort_requested(p)) {
            tm_error_aborted(r, i, 0);
            return;
        }
        const tm_run_status rs = tm_model_infer(m, 0, &t, &bad, &kst);
        if (rs != TM_RUN_OK) {
            tm_error_run(r, rs, (uint16_t)bad, kst);
            return;
        }
    }
    uint64_t total = 0;
    uint64_t lo = UINT64_MAX;
    uint64_t hi = 0;
    for (uint32_t i = 0; i < reps; i++) {
        if (tm_abort_requested(p)) {
            tm_error_aborted(r, warmups, i);
            return;
        }
        const tm_run_status rs = tm_model_infer(m, 1, &t, &bad, &kst);
        if (rs != TM_RUN_OK) {
            tm_error_run(r, rs, (uint16_t)bad, kst);
            return;
        }
        total += t;
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    tm_model_reps = reps;
    const uint32_t count = m->n_layers < TM_RUN_MODEL_FIRST_PAGE ? m->n_layers
                                                                 : TM_RUN_MODEL_FIRST_PAGE;
    tm_put16(&r->w, (uint16_t)(m->n_layers > 0xFFFFu ? 0xFFFFu : m->n_layers));
    tm_put16(&r->w, (uint16_t)count);
    tm_put32(&r->w, reps);
    tm_put64(&r->w, total);
    tm_put64(&r->w, lo);
    tm_put64(&r->w, hi);
    for (uint32_t i = 0; i < count; i++) {
        tm_put64(&r->w, m->layer_cycles[i]);
    }
}

static void tm_cmd_model_cycles(const uint8_t *q, size_t n, tm_reply *r)
{
    if (n != 2u) {
        tm_error_length(r, 2);
        return;
    }
    const tm_model *m = tm_model_ready(r);
    if (m == NULL) {
        return;
    }
    const uint32_t first = tm_rd16(q);
    if (first > m->n_layers) {
        tm_reply_error(r, TM_ST_RANGE);
        tm_put32(&r->w, m->n_layers);
        return;
    }
    uint32_t count = m->n_layers - first;
    if (count > TM_MODEL_CYCLES_PAGE) {
        count = TM_MODEL_CYCLES_PAGE;
    }
    tm_put16(&r->w, (uint16_t)first);
    tm_put16(&r->w, (uint16_t)count);
    for (uint32_t i = 0; i < count; i++) {
        tm_put64(&r->w, tm_model_reps ? m->layer_cycles[first + i] : 0u);
    }
}

/* Tensor `index` of the inputs (inputs != 0) or outputs, or NULL with RANGE set. */
static const tm_model_tensor *tm_model_tensor_at(const tm_model *m, int inputs, uint32_t index,
                                                 tm_reply *r)
{
    const uint32_t count = inputs ? m->n_inputs : m->n_outputs;
    if (index >= count) {
        tm_reply_error(r, TM_ST_RANGE);
        tm_put32(&r->w, count);
        return NULL;
    }
    const tm_model_tensor *t = inputs ? &m->inputs[index] : &m->outputs[index];
    if (t->arena_offset > m->arena_bytes || t->bytes > m->arena_bytes - t->arena_offset) {
        tm_reply_error(r, TM_ST_RANGE);
        tm_put32(&r->w, 0);
        return NULL;
    }
    return t;
}

static void tm_cmd_input_write(const uint8_t *q, size_t n, tm_reply *r)
{
    if (n < 8u) {
        tm_error_length(r, 0xFFFFu);
        return;
    }
    if (q[1] != 0u || q[2] != 0u || q[3] != 0u) {
        tm_error_param(r, 1);
        return;
    }
    const tm_model *m = tm_model_ready(r);
    if (m == NULL) {
        return;
    }
    const tm_model_tensor *t = tm_model_tensor_at(m, 1, q[0], r);
    if (t == NULL) {
        return;
    }
    const uint64_t offset = tm_rd32(q + 4);
    const uint64_t len = (uint64_t)n - 8u;
    if (offset + len > t->bytes) {
        tm_reply_error(r, TM_ST_RANGE);
        tm_put32(&r->w, t->bytes);
        return;
    }
    memcpy(m->arena + t->arena_offset + offset, q + 8, (size_t)len);
    tm_put32(&r->w, t->bytes);
}

static void tm_cmd_infer(size_t n, tm_reply *r)
{
    if (n != 0u) {
        tm_error_length(r, 0);
        return;
    }
    const tm_model *m = tm_model_ready(r);
    if (m == NULL) {
        return;
    }
    uint64_t t = 0;
    uint32_t bad = 0;
    int32_t kst = 0;
    const tm_run_status rs = tm_model_infer(m, 0, &t, &bad, &kst);
    if (rs != TM_RUN_OK) {
        tm_error_run(r, rs, (uint16_t)bad, kst);
        return;
    }
    tm_put64(&r->w, t);
}

static void tm_cmd_output_read(const uint8_t *q, size_t n, tm_reply *r)
{
    if (n != 10u) {
        tm_error_length(r, 10);
        return;
    }
    if (q[1] != 0u || q[2] != 0u || q[3] != 0u) {
        tm_error_param(r, 1);
        return;
    }
    const tm_model *m = tm_model_ready(r);
    if (m == NULL) {
        return;
    }
    const tm_model_tensor *t = tm_model_tensor_at(m, 0, q[0], r);
    if (t == NULL) {
        return;
    }
    const uint64_t offset = tm_rd32(q + 4);
    const uint64_t len = tm_rd16(q + 8);
    if (len > TM_FRAME_MAX_PAYLOAD || offset + len > t->bytes) {
        tm_reply_error(r, TM_ST_RANGE);
        tm_put32(&r->w, t->bytes);
        return;
    }
    tm_put(&r->w, m->arena + t->arena_offset + offset, (size_t)len);
}

/* REPLY_READ: a piece of the last command reply, if it answered sequence number q[0]. */
static void tm_cmd_reply_read(const tm_proto *p, const uint8_t *q, size_t n, tm_reply *r)
{
    if (n != TM_REPLY_READ_REQUEST_BYTES) {
        tm_error_length(r, TM_REPLY_READ_REQUEST_BYTES);
        return;
    }
    if (q[1] != 0u) {
        tm_error_param(r, 1);
        return;
    }
    if (p->last_len < TM_FRAME_MIN_DECODED || p->last_len > sizeof p->last || p->last[1] != q[0]) {
        tm_reply_error(r, TM_ST_NO_REPLY);
        return;
    }
    const uint32_t total = (uint32_t)(p->last_len - TM_FRAME_MIN_DECODED);
    const uint32_t offset = tm_rd16(q + 2);
    uint32_t len = tm_rd16(q + 4);
    if (offset > total) {
        tm_reply_error(r, TM_ST_RANGE);
        tm_put32(&r->w, total);
        return;
    }
    if (len > total - offset) {
        len = total - offset;
    }
    if (len > TM_FRAME_MAX_PAYLOAD - TM_REPLY_READ_HEADER_BYTES) {
        len = TM_FRAME_MAX_PAYLOAD - TM_REPLY_READ_HEADER_BYTES;
    }
    tm_put8(&r->w, p->last[0]);
    tm_put8(&r->w, p->last[2]);
    tm_put16(&r->w, (uint16_t)total);
    tm_put16(&r->w, (uint16_t)offset);
    tm_put(&r->w, p->last + TM_FRAME_HEADER_BYTES + offset, len);
}

/* ABORT outside a run: nothing is running; an empty OK reply says the device is idle. */
static void tm_cmd_abort(size_t n, tm_reply *r)
{
    if (n != 0u) {
        tm_error_length(r, 0);
    }
}

/* -- dispatch --------------------------------------------------------------------------------- */

void tm_protocol_init(tm_proto *p, const tm_platform *platform)
{
    p->platform = platform;
    tm_frame_rx_init(&p->rx);
    p->last_len = 0;
    p->abort_len = 0;
}

size_t tm_protocol_handle(tm_proto *p, const uint8_t *frame, size_t len, uint8_t *reply,
                          size_t cap)
{
    tm_reply r;
    tm_reply_start(&r, reply, cap);
    if (len < TM_FRAME_MIN_DECODED || len > TM_FRAME_MAX_DECODED) {
        tm_reply_error(&r, TM_ST_FRAME);
        return tm_frame_finish(reply, cap, 0xFF, 0, r.status, r.w.len);
    }
    const uint8_t cmd = frame[0];
    const uint8_t seq = frame[1];
    const uint8_t *payload = frame + TM_FRAME_HEADER_BYTES;
    const size_t n = len - TM_FRAME_MIN_DECODED;
    if (frame[2] != 0u || frame[3] != 0u) {
        tm_error_param(&r, 0xFFFFu);
    } else {
        switch (cmd) {
        case TM_CMD_HELLO: tm_cmd_hello(p, n, &r); break;
        case TM_CMD_PING: tm_cmd_ping(payload, n, &r); break;
        case TM_CMD_REPLY_READ: tm_cmd_reply_read(p, payload, n, &r); break;
        case TM_CMD_ABORT: tm_cmd_abort(n, &r); break;
        case TM_CMD_RUN_LAYER: tm_cmd_run_layer(p, payload, n, &r); break;
        case TM_CMD_MODEL_INFO: tm_cmd_model_info(n, &r); break;
        case TM_CMD_RUN_MODEL: tm_cmd_run_model(p, payload, n, &r); break;
        case TM_CMD_MODEL_CYCLES: tm_cmd_model_cycles(payload, n, &r); break;
        case TM_CMD_INPUT_WRITE: tm_cmd_input_write(payload, n, &r); break;
        case TM_CMD_INFER: tm_cmd_infer(n, &r); break;
        case TM_CMD_OUTPUT_READ: tm_cmd_output_read(payload, n, &r); break;
        default: tm_reply_error(&r, TM_ST_UNKNOWN_CMD); break;
        }
    }
    if (r.w.overflow) {
        tm_reply_error(&r, TM_ST_RANGE);
    }
    const size_t out = tm_frame_finish(reply, cap, (uint8_t)(cmd | TM_CMD_RESPONSE), seq, r.status,
                                       r.w.len);
    if (cmd != TM_CMD_REPLY_READ && cmd != TM_CMD_ABORT && out > 0u && out <= sizeof p->last &&
        reply != p->last) {
        memcpy(p->last, reply, out);
        p->last_len = out;
    }
    return out;
}

size_t tm_protocol_push(tm_proto *p, uint8_t byte, const uint8_t **wire)
{
    const tm_rx_event ev = tm_frame_rx_push(&p->rx, byte);
    size_t len = 0;
    switch (ev) {
    case TM_RX_NONE:
        return 0;
    case TM_RX_FRAME:
        len = tm_protocol_handle(p, p->rx.frame, p->rx.frame_len, p->reply, sizeof p->reply);
        break;
    case TM_RX_ERR_CRC:
        len = tm_frame_finish(p->reply, sizeof p->reply, TM_CMD_NAK | TM_CMD_RESPONSE, 0,
                              TM_ST_CRC, 0);
        break;
    case TM_RX_ERR_LONG:
        len = tm_frame_finish(p->reply, sizeof p->reply, TM_CMD_NAK | TM_CMD_RESPONSE, 0,
                              TM_ST_TOO_LONG, 0);
        break;
    default:
        len = tm_frame_finish(p->reply, sizeof p->reply, TM_CMD_NAK | TM_CMD_RESPONSE, 0,
                              TM_ST_FRAME, 0);
        break;
    }
    if (len == 0) {
        return 0;
    }
    const size_t wl = tm_frame_wire(p->reply, len, p->wire, sizeof p->wire);
    *wire = p->wire;
    return wl;
}
