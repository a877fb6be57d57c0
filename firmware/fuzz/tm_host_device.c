/*
 * tm_host_device.c - the device side of the protocol compiled for the host: the real dispatcher,
 * runner and kernels over a static arena and weight region, with byte-in / byte-out entry points.
 *
 * Used by the fuzz harness (tm_fuzz.c, under AddressSanitizer and UBSan) and, as a shared
 * library, by the Python tests (tests/support/hostdevice.py) as a transport that behaves like a
 * board.  Cycle counts are fake (tm_host_cycles).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tm_protocol.h"

uint32_t tm_host_cycles;

#define TM_HOST_ARENA_BYTES (512u * 1024u)
#define TM_HOST_WEIGHT_BYTES (256u * 1024u)

static uint8_t tm_host_arena[TM_HOST_ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t tm_host_weights[TM_HOST_WEIGHT_BYTES] __attribute__((aligned(16)));
static tm_platform tm_host_platform;
static tm_proto tm_host_proto;

/* The bytes of the current tm_host_feed call not yet pushed: what a board's UART would receive
 * while a run is going on, so an ABORT written after a request reaches the run's polls. */
static const uint8_t *tm_host_in;
static size_t tm_host_in_left;

static int tm_host_rx_poll(uint8_t *byte)
{
    if (tm_host_in_left == 0u) {
        return 0;
    }
    *byte = *tm_host_in++;
    tm_host_in_left--;
    return 1;
}

/* (Re)start the device with an arena of arena_bytes (at most 512 KiB). */
int tm_host_init(uint32_t arena_bytes)
{
    static const uint8_t pattern[4] = {0x0A, 0xD7, 0x23, 0x3C};
    if (arena_bytes > TM_HOST_ARENA_BYTES) {
        return -1;
    }
    for (uint32_t i = 0; i < TM_HOST_WEIGHT_BYTES; i++) {
        tm_host_weights[i] = pattern[i & 3u];
    }
    tm_platform *pl = &tm_host_platform;
    pl->board_id = "HOST";
    pl->mcu = "x86 host";
    pl->build_id = "0000000000000000";
    pl->compiler = "host cc";
    pl->cflags = "-fsanitize=address,undefined";
    pl->core_clock_hz = 1000000u;
    pl->clock_status = 0;
    pl->fpu_enabled = 1;
    pl->arena = tm_host_arena;
    pl->arena_bytes = arena_bytes;
    pl->weights = tm_host_weights;
    pl->weight_bytes = TM_HOST_WEIGHT_BYTES;
    pl->rx_poll = tm_host_rx_poll;
    tm_protocol_init(&tm_host_proto, pl);
    return 0;
}

/* Feed n received bytes; the wire bytes of every reply are appended to out (up to cap).
 * Bytes after a request reach that request's ABORT polls (tm_host_rx_poll) if it runs long
 * enough to poll.  Returns the number of bytes written to out. */
size_t tm_host_feed(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t used = 0;
    tm_host_in = in;
    tm_host_in_left = n;
    while (tm_host_in_left > 0u) {
        const uint8_t b = *tm_host_in++;
        tm_host_in_left--;
        const uint8_t *wire = NULL;
        const size_t wl = tm_protocol_push(&tm_host_proto, b, &wire);
        if (wl > 0u) {
            const size_t take = wl < cap - used ? wl : cap - used;
            memcpy(out + used, wire, take);
            used += take;
        }
    }
    return used;
}
