/*
 * tm_fuzz.c - feed the device-side protocol code random, malformed, truncated, oversized and
 * structurally valid frames (with random field values) and check that every reply is a valid
 * frame.  Built with -fsanitize=address,undefined -fno-sanitize-recover=all, so any
 * out-of-bounds access or undefined behaviour aborts the run (tests/firmware/test_protocol_fuzz.py).
 *
 *   tm_fuzz [iterations] [seed]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_frame.h"
#include "tm_protocol.h"
#include "tm_runner.h"

int tm_host_init(uint32_t arena_bytes);
size_t tm_host_feed(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

static uint64_t rng_state;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static uint32_t below(uint32_t n)
{
    return n ? rnd() % n : 0u;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* A field value: mostly small and plausible, sometimes extreme. */
static int32_t field(int32_t small_max)
{
    static const int32_t extreme[] = {0, -1, 1, 2, 3, 4, 7, 8, 15, 16, 31, 127, 128, 255, 256,
                                      65535, 65536, 0x7FFF, -32768, 0x7FFFFFFF,
                                      (int32_t)0x80000000, 1 << 30, -(1 << 30), 1000000};
    if (below(100) < 8) {
        return extreme[below(sizeof extreme / sizeof extreme[0])];
    }
    return (int32_t)below((uint32_t)small_max + 1u);
}

static size_t run_layer_payload(uint8_t *q)
{
    memset(q, 0, TM_RUN_LAYER_REQUEST_BYTES);
    /* binary element-wise ops (MUL, SUB, MAXIMUM, MINIMUM) an extra fifth of the time */
    static const uint8_t binary_ops[] = {15, 16, 17, 18};
    q[0] = (uint8_t)(below(100) < 95 ? (below(5) == 0 ? binary_ops[below(4)]
                                                      : 1 + below(TM_OP_COUNT - 1))
                                     : rnd());
    const int binary = q[0] == 6 || (q[0] >= 15 && q[0] <= 18);
    q[1] = (uint8_t)(below(100) < 95 ? below(4) : rnd());
    /* flags: bias / per-channel; for binary ops also CONST_OPERAND / SWAPPED */
    q[2] = (uint8_t)(below(100) < 95 ? below(binary ? 16 : 4) : rnd());
    q[3] = (uint8_t)(below(100) < 97 ? 0 : rnd());
    put32(q + 4, (uint32_t)(below(100) < 95 ? below(2) : (uint32_t)field(3)));
    put32(q + 8, (uint32_t)(below(100) < 95 ? 1 + below(2) : (uint32_t)field(3)));
    /* a consistent shape most of the time, then perturbed */
    const int32_t n = 1 + (int32_t)below(2), h = 1 + (int32_t)below(8), w = 1 + (int32_t)below(8);
    const int32_t c = 1 + (int32_t)below(8), oc = 1 + (int32_t)below(8), k = 1 + (int32_t)below(3);
    int32_t v[35] = {n, h, w, c, oc, k, k, c, n, h, w, oc, 1, 1, k / 2, k / 2, 1, 1, 1, k,
                     0, 0, -128, 127, 1 << 30, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (q[0] == 2) { v[4] = 1; v[7] = c; v[11] = c; v[18] = 1; }
    if (q[0] == 3) { v[1] = v[2] = 1; v[4] = oc; v[5] = c; v[6] = v[7] = 1;
                     v[8] = n; v[9] = v[10] = 1; v[11] = oc; }
    if (q[0] == 4 || q[0] == 5) { v[11] = c; v[9] = h > k ? h - k + 1 : 1; v[10] = w > k ? w - k + 1 : 1;
                                  v[18] = k; v[19] = k; }
    if (q[0] >= 6) { v[8] = n; v[9] = h; v[10] = w; v[11] = c; }
    if (q[0] == 10) { v[9] = v[10] = 1; }
    if (binary) {
        /* the other operand: the equal-shape form (zeros), the same shape, or a broadcast */
        const uint32_t form = below(5);
        v[4] = form == 0 ? 0 : form == 2 || form == 4 ? 1 : n;
        v[5] = form == 0 ? 0 : form == 1 || form == 3 ? h : 1;
        v[6] = form == 0 ? 0 : form == 1 ? w : 1;
        v[7] = form == 0 ? 0 : form == 1 || form == 2 ? c : 1;
    }
    if (q[0] == 15) { v[20] = 3; v[21] = -5; v[22] = 7; v[23] = 1 << 30; v[24] = -9; v[25] = -128;
                      v[26] = 127; }
    if (q[0] == 6 || q[0] == 16) { v[20] = 0; v[21] = 0; v[22] = 0; v[23] = 20; v[24] = 1 << 30; v[25] = -1;
                     v[26] = 1 << 30; v[27] = -1; v[28] = 1 << 30; v[29] = -20; v[30] = -128; v[31] = 127; }
    if (q[0] == 7) { v[20] = 1 << 30; v[21] = 20; v[22] = -1984; } /* -floor(31 * 2^26 / 2^20) */
    if (q[0] == TM_OP_CONCATENATION) { /* an input's window along an axis of the output */
        const uint32_t axis = below(4);
        const int32_t extra = (int32_t)below(6);
        v[8] = v[0]; v[9] = v[1]; v[10] = v[2]; v[11] = v[3];
        v[8 + axis] += extra;
        v[12] = (int32_t)axis; v[13] = (int32_t)below((uint32_t)extra + 1u);
    }
    if (q[0] == TM_OP_STRIDED_SLICE) { /* a strided window of the input, strides of both signs */
        for (int k = 0; k < 4; k++) {
            const int32_t dim = v[k];
            const int32_t step = below(3) == 0 ? -1 - (int32_t)below(2) : 1 + (int32_t)below(2);
            const int32_t mag = step < 0 ? -step : step;
            const int32_t count = 1 + (int32_t)below((uint32_t)((dim - 1) / mag + 1));
            const int32_t slack = dim - 1 - (count - 1) * mag;
            const int32_t lo = (int32_t)below((uint32_t)slack + 1u);
            v[8 + k] = count;
            v[12 + k] = step > 0 ? lo : dim - 1 - lo;
            v[16 + k] = step;
        }
    }
    if (q[0] == TM_OP_TRANSPOSE) { /* a permutation of the dims, out[k] = in[perm_k] */
        const int32_t in4[4] = {n, h, w, c};
        int32_t perm[4] = {0, 1, 2, 3};
        for (int i = 3; i > 0; i--) {
            const int j = (int)below((uint32_t)i + 1u);
            const int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        for (int i = 0; i < 4; i++) { v[12 + i] = perm[i]; v[8 + i] = in4[perm[i]]; }
    }
    if (q[0] == TM_OP_PAD) { /* before amounts in geom, out = in + before + after */
        for (int i = 0; i < 4; i++) { v[12 + i] = (int32_t)below(3); v[8 + i] = v[i] + v[12 + i] + (int32_t)below(3); }
        v[20] = (int32_t)below(256) - 128;
    }
    if (q[0] == TM_OP_RESIZE_NEAREST_NEIGHBOR || q[0] == TM_OP_RESIZE_BILINEAR) {
        v[12] = (int32_t)below(2); v[13] = v[12] ? 0 : (int32_t)below(2);
        v[9] = 1 + (int32_t)below(16); v[10] = 1 + (int32_t)below(16);
    }
    /* activations: the quant words tinymodel.requantization builds for scales 0.05 -> 0.04 */
    if (q[0] == TM_OP_LOGISTIC || q[0] == TM_OP_TANH) { v[20] = 3; v[21] = 1717986944; v[22] = 23; }
    if (q[0] == TM_OP_HARD_SWISH) { v[20] = 3; v[21] = -9; v[22] = 20480; v[23] = -6;
                                    v[24] = 17476; v[25] = 3; }
    if (q[0] == TM_OP_LEAKY_RELU) { v[20] = 3; v[21] = -9; v[22] = 1342177280; v[23] = 1;
                                    v[24] = 1073741824; v[25] = -2; }
    if (q[0] == TM_OP_PRELU) { v[4] = 1; v[5] = below(2) ? h : 1; v[6] = below(2) ? w : 1; v[7] = c;
                               v[20] = 3; v[21] = 0; v[22] = -9; v[23] = 1342177280; v[24] = 1;
                               v[25] = 1073741824; v[26] = -10; }
    /* issue 17: TRANSPOSE_CONV (the conv layout above: any output size is valid) and
     * BATCH_MATMUL (lhs in, rhs in filter with the reduction in filter[2], adj_x = adj_y = 0) */
    if (q[0] < 11 && below(100) < 10) {
        q[0] = (uint8_t)(below(2) ? TM_OP_TRANSPOSE_CONV : TM_OP_BATCH_MATMUL);
        v[8] = n; v[9] = 1 + (int32_t)below(16); v[10] = 1 + (int32_t)below(16); v[11] = oc;
        if (q[0] == TM_OP_BATCH_MATMUL) {
            v[4] = n; v[5] = h; v[6] = c; v[7] = oc; v[9] = h; v[10] = w;
            v[12] = v[13] = 0;
            v[20] = 0; v[21] = 0; v[22] = 0; v[23] = 1 << 30; v[24] = -3; v[25] = -128; v[26] = 127;
        }
    }
    if (q[1] < 2 && q[0] != TM_OP_PAD) { /* float variants: beta 1.0, activation clamp
                                             * [-FLT_MAX, FLT_MAX] or [0, 6] */
        v[20] = 0x3F800000; v[22] = below(2) ? (int32_t)0xFF7FFFFF : 0;
        v[23] = v[22] ? 0x7F7FFFFF : 0x40C00000;
    }
    if (q[1] < 2 && q[0] == TM_OP_PAD) { /* a float fill */
        v[20] = below(2) ? 0x3F800000 : 0;
    }
    if ((q[0] == TM_OP_MEAN && below(2)) || q[0] == TM_OP_SUM) {
        /* any axes: geom[TM_GR_AXES] a mask, out[] the input with the reduced dims 1 */
        v[12 + TM_GR_AXES] = 1 + (int32_t)below(15);
        for (int i = 0; i < 4; i++) {
            v[8 + i] = ((v[12 + TM_GR_AXES] >> i) & 1) ? 1 : v[i];
        }
        if (q[1] >= 2) {
            v[20] = 0; v[21] = 0; v[22] = -128; v[23] = 127; v[24] = 1 << 30; v[25] = -3;
        }
    }
    if (q[0] == TM_OP_QUANTIZE || q[0] == TM_OP_DEQUANTIZE) {
        /* dtypes in geom[], offsets, a requantize multiplier and a float scale (0.05) in quant[] */
        v[12 + TM_GQ_IN_DTYPE] = q[0] == TM_OP_QUANTIZE ? (int32_t)below(2) : 1;
        v[12 + TM_GQ_OUT_DTYPE] = q[0] == TM_OP_QUANTIZE ? 1 : 0;
        v[20 + TM_QZ_IN_OFFSET] = 3;
        v[20 + TM_QZ_OUT_OFFSET] = -5;
        v[20 + TM_QZ_MULT] = 1 << 30;
        v[20 + TM_QZ_SHIFT] = -2;
        v[20 + TM_QZ_SCALE] = 0x3D4CCCCD;
    }
    const int perturb = (int)below(4);
    for (int i = 0; i < perturb; i++) {
        v[below(32)] = field(16);
    }
    for (int i = 0; i < 32; i++) {
        put32(q + 12 + 4 * i, (uint32_t)v[i]);
    }
    return TM_RUN_LAYER_REQUEST_BYTES;
}

/* Build a request frame (valid CRC) for a random command with a random or structured payload. */
static size_t make_frame(uint8_t *frame, size_t cap)
{
    static const uint8_t cmds[] = {TM_CMD_HELLO, TM_CMD_PING, TM_CMD_REPLY_READ, TM_CMD_ABORT,
                                   TM_CMD_RUN_LAYER,
                                   TM_CMD_MODEL_INFO, TM_CMD_RUN_MODEL, TM_CMD_MODEL_CYCLES,
                                   TM_CMD_INPUT_WRITE, TM_CMD_INFER, TM_CMD_OUTPUT_READ,
                                   TM_CMD_NAK, TM_CMD_FAULT, 0x00, 0xFF, 0x55};
    const uint8_t cmd = below(100) < 40 ? TM_CMD_RUN_LAYER : cmds[below(sizeof cmds)];
    uint8_t *payload = frame + TM_FRAME_HEADER_BYTES;
    size_t n;
    if (cmd == TM_CMD_RUN_LAYER && below(100) < 85) {
        n = run_layer_payload(payload);
        if (below(100) < 5) {
            n = below(TM_RUN_LAYER_REQUEST_BYTES + 8); /* wrong length */
        }
    } else {
        n = below(100) < 70 ? below(16) : below(TM_FRAME_MAX_PAYLOAD + 1);
        for (size_t i = 0; i < n; i++) {
            payload[i] = (uint8_t)(below(100) < 50 ? below(4) : rnd());
        }
        if (cmd == TM_CMD_RUN_MODEL && n >= 8) {
            put32(payload, below(3));
            put32(payload + 4, below(3));
        }
    }
    const size_t len = tm_frame_finish(frame, cap, cmd, (uint8_t)rnd(), 0, n);
    if (below(100) < 3) {
        frame[2] = (uint8_t)rnd(); /* non-zero status in a request */
        frame[3] = (uint8_t)rnd();
        tm_frame_seal(frame, len);
    }
    return len;
}

static uint8_t out[1u << 20];
static uint8_t stream[8192];
static tm_frame_rx check_rx;
static unsigned long replies, naks;
static unsigned long layer_status[16];

/* Every byte the device sends must form valid frames. */
static void check_output(const uint8_t *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const tm_rx_event ev = tm_frame_rx_push(&check_rx, o[i]);
        if (ev == TM_RX_FRAME) {
            replies++;
            if (check_rx.frame[0] == (TM_CMD_NAK | TM_CMD_RESPONSE)) {
                naks++;
            }
            if (check_rx.frame[0] == (TM_CMD_RUN_LAYER | TM_CMD_RESPONSE)) {
                layer_status[check_rx.frame[2] & 15u]++;
            }
            if ((check_rx.frame[0] & TM_CMD_RESPONSE) == 0) {
                fprintf(stderr, "reply without the response bit\n");
                exit(2);
            }
        } else if (ev != TM_RX_NONE) {
            fprintf(stderr, "device sent an invalid frame (event %d)\n", (int)ev);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    const unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000ul;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 0x9E3779B97F4A7C15ull;
    if (rng_state == 0) {
        rng_state = 1;
    }
    tm_host_init(64u * 1024u);
    tm_frame_rx_init(&check_rx);
    unsigned long kinds[6] = {0};
    uint8_t frame[TM_FRAME_MAX_DECODED];
    for (unsigned long it = 0; it < iterations; it++) {
        size_t len = 0;
        const unsigned kind = below(6);
        kinds[kind]++;
        switch (kind) {
        case 0: { /* valid frame */
            const size_t fl = make_frame(frame, sizeof frame);
            len = tm_frame_wire(frame, fl, stream, sizeof stream);
            break;
        }
        case 1: { /* valid frame, then corrupted bytes (bit flips, CRC damage) */
            const size_t fl = make_frame(frame, sizeof frame);
            len = tm_frame_wire(frame, fl, stream, sizeof stream);
            const unsigned flips = 1 + below(4);
            for (unsigned f = 0; f < flips && len > 2; f++) {
                stream[1 + below((uint32_t)len - 2)] ^= (uint8_t)(1u << below(8));
            }
            break;
        }
        case 2: { /* truncated frame, then a delimiter */
            const size_t fl = make_frame(frame, sizeof frame);
            len = tm_frame_wire(frame, fl, stream, sizeof stream);
            len = 1 + below((uint32_t)len - 1);
            stream[len++] = 0;
            break;
        }
        case 3: { /* random bytes, random length */
            len = below(2048);
            for (size_t i = 0; i < len; i++) {
                stream[i] = (uint8_t)(below(100) < 10 ? 0 : rnd());
            }
            break;
        }
        case 4: { /* oversized: more than TM_FRAME_MAX_ENCODED non-zero bytes */
            len = TM_FRAME_MAX_ENCODED + 1 + below(4000);
            if (len > sizeof stream - 1) {
                len = sizeof stream - 1;
            }
            for (size_t i = 0; i < len; i++) {
                stream[i] = (uint8_t)(1 + below(255));
            }
            stream[len++] = 0;
            break;
        }
        default: { /* random COBS-valid frames with a correct CRC but random content */
            const size_t n = below(40);
            for (size_t i = 0; i < n + TM_FRAME_HEADER_BYTES; i++) {
                frame[i] = (uint8_t)rnd();
            }
            tm_frame_seal(frame, n + TM_FRAME_MIN_DECODED);
            len = tm_frame_wire(frame, n + TM_FRAME_MIN_DECODED, stream, sizeof stream);
            break;
        }
        }
        const size_t o = tm_host_feed(stream, len, out, sizeof out);
        check_output(out, o);
    }
    /* the device must still answer after all of that */
    const uint8_t hello[] = {TM_CMD_HELLO, 7, 0, 0};
    memcpy(frame, hello, sizeof hello);
    const size_t fl = tm_frame_finish(frame, sizeof frame, TM_CMD_HELLO, 7, 0, 0);
    const size_t len = tm_frame_wire(frame, fl, stream, sizeof stream);
    /* The fuzzing may leave a partial frame in the device's receiver: the HELLO frame's leading
     * delimiter ends it, and the device NAKs it before it answers HELLO.  One NAK, then HELLO. */
    const unsigned long before = replies;
    const unsigned long naks_before = naks;
    check_output(out, tm_host_feed(stream, len, out, sizeof out));
    const unsigned long new_naks = naks - naks_before;
    if (new_naks > 1u || replies != before + 1u + new_naks ||
        check_rx.frame[0] != (TM_CMD_HELLO | TM_CMD_RESPONSE) || check_rx.frame[2] != TM_ST_OK) {
        fprintf(stderr, "device did not answer HELLO after the fuzzing\n");
        return 3;
    }
    printf("frames %lu (valid %lu, corrupted %lu, truncated %lu, random %lu, oversized %lu, "
           "random-content %lu) replies %lu naks %lu\n",
           iterations, kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], replies, naks);
    printf("RUN_LAYER replies by status:");
    for (int i = 0; i < 16; i++) {
        if (layer_status[i]) {
            printf(" %d:%lu", i, layer_status[i]);
        }
    }
    printf("\n");
    return 0;
}
