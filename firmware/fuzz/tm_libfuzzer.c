/*
 * tm_libfuzzer.c - libFuzzer entry point over the device-side protocol code: each input is a
 * byte stream fed to the dispatcher as if it arrived on the UART (frames, partial frames,
 * garbage), and every reply must be a valid frame.  Built with clang's -fsanitize=fuzzer plus
 * AddressSanitizer and UBSan, so any out-of-bounds access or undefined behaviour stops the run.
 *
 *   make -C firmware/fuzz libfuzzer      -> ../build/fuzz/tm_libfuzzer
 *   ../build/fuzz/tm_libfuzzer -max_total_time=300 corpus/
 *
 * With -DTM_LIBFUZZER_RUN_LAYER the first byte of an input selects a variant and the rest is a
 * RUN_LAYER payload wrapped in a valid frame, so the fuzzer spends its time on the request checks
 * and kernels instead of on the CRC.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tm_frame.h"
#include "tm_protocol.h"
#include "tm_runner.h"

int tm_host_init(uint32_t arena_bytes);
size_t tm_host_feed(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

static uint8_t tm_lf_out[1u << 20];
static uint8_t tm_lf_frame[TM_FRAME_MAX_DECODED];
static uint8_t tm_lf_wire[TM_FRAME_MAX_WIRE];
static tm_frame_rx tm_lf_rx;

/* Every byte the device sends must form valid response frames. */
static void tm_lf_check(const uint8_t *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const tm_rx_event ev = tm_frame_rx_push(&tm_lf_rx, o[i]);
        if (ev == TM_RX_FRAME) {
            if ((tm_lf_rx.frame[0] & TM_CMD_RESPONSE) == 0) {
                abort(); /* a reply without the response bit */
            }
        } else if (ev != TM_RX_NONE) {
            abort(); /* the device sent an invalid frame */
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tm_host_init(64u * 1024u);
    tm_frame_rx_init(&tm_lf_rx);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t delimiter = 0;
    /* end whatever partial frame the previous input left, so inputs stay independent */
    tm_lf_check(tm_lf_out, tm_host_feed(&delimiter, 1, tm_lf_out, sizeof tm_lf_out));
#if defined(TM_LIBFUZZER_RUN_LAYER)
    if (size < 1u + TM_RUN_LAYER_REQUEST_BYTES) {
        return 0;
    }
    memcpy(tm_lf_frame + TM_FRAME_HEADER_BYTES, data + 1, TM_RUN_LAYER_REQUEST_BYTES);
    uint8_t *q = tm_lf_frame + TM_FRAME_HEADER_BYTES;
    q[TM_FIELD_VARIANT] = (uint8_t)(data[0] & 3u);
    /* no warm-up and one or two timed calls: the range checks of these two fields are simple,
     * and a million repetitions would only slow the search */
    memset(q + TM_FIELD_WARMUPS, 0, 8u);
    q[TM_FIELD_REPS] = (uint8_t)(1u + ((data[0] >> 2) & 1u));
    const size_t len = tm_frame_finish(tm_lf_frame, sizeof tm_lf_frame, TM_CMD_RUN_LAYER, 1, 0,
                                       TM_RUN_LAYER_REQUEST_BYTES);
    const size_t wl = tm_frame_wire(tm_lf_frame, len, tm_lf_wire, sizeof tm_lf_wire);
    tm_lf_check(tm_lf_out, tm_host_feed(tm_lf_wire, wl, tm_lf_out, sizeof tm_lf_out));
#else
    (void)tm_lf_frame;
    (void)tm_lf_wire;
    tm_lf_check(tm_lf_out, tm_host_feed(data, size, tm_lf_out, sizeof tm_lf_out));
#endif
    return 0;
}
