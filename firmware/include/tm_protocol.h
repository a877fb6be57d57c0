/*
 * tm_protocol.h - device side of the serial protocol (docs/protocol.md): command and status
 * codes, and the dispatcher that turns one received byte at a time into reply frames.
 *
 * The dispatcher is platform-free: the board (main.c) or the host harness (firmware/host/)
 * describes the platform in a tm_platform and moves bytes.
 */
#ifndef TM_PROTOCOL_H
#define TM_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "tm_frame.h"

/* 2: CRC-32 frames, REPLY_READ, ABORT (1: CRC-16 frames). */
#define TM_PROTOCOL_VERSION 2u

typedef enum {
    TM_CMD_HELLO = 0x01,
    TM_CMD_PING = 0x02,
    TM_CMD_REPLY_READ = 0x03,
    TM_CMD_ABORT = 0x04,
    TM_CMD_RUN_LAYER = 0x10,
    TM_CMD_MODEL_INFO = 0x20,
    TM_CMD_RUN_MODEL = 0x21,
    TM_CMD_MODEL_CYCLES = 0x22,
    TM_CMD_INPUT_WRITE = 0x30,
    TM_CMD_INFER = 0x31,
    TM_CMD_OUTPUT_READ = 0x32,
    TM_CMD_FAULT = 0x7E,
    TM_CMD_NAK = 0x7F
} tm_cmd;

#define TM_CMD_RESPONSE 0x80u

typedef enum {
    TM_ST_OK = 0,
    TM_ST_CRC = 1,
    TM_ST_FRAME = 2,
    TM_ST_TOO_LONG = 3,
    TM_ST_UNKNOWN_CMD = 4,
    TM_ST_LENGTH = 5,
    TM_ST_PARAM = 6,
    TM_ST_VARIANT = 7,
    TM_ST_NO_FIT = 8,
    TM_ST_KERNEL = 9,
    TM_ST_NO_MODEL = 10,
    TM_ST_RANGE = 11,
    TM_ST_UNSUPPORTED = 12,
    TM_ST_ABORTED = 13,
    TM_ST_NO_REPLY = 14
} tm_st;

/* Which memory a NO_FIT reply is about (its first detail byte). */
typedef enum {
    TM_NO_FIT_ARENA = 0,     /* the RAM arena of RUN_LAYER */
    TM_NO_FIT_WEIGHTS = 1,   /* the flash weight region of RUN_LAYER */
    TM_NO_FIT_CHANNELS = 2   /* the per-channel tables (TM_RUN_MAX_CHANNELS entries) */
} tm_no_fit_region;

#define TM_RUN_LAYER_REQUEST_BYTES 140u
#define TM_RUN_LAYER_MAX_REPS 1000000u
#define TM_RUN_MODEL_MAX_REPS 100000u
#define TM_RUN_MODEL_FIRST_PAGE 100u
#define TM_MODEL_CYCLES_PAGE 127u
#define TM_MODEL_INFO_MAX_OPS 512u

/* REPLY_READ: request u8 seq, u8 0, u16 offset, u16 max_len; reply u8 cmd, u8 status,
 * u16 total, u16 offset, then the bytes (docs/protocol.md §3.6). */
#define TM_REPLY_READ_REQUEST_BYTES 6u
#define TM_REPLY_READ_HEADER_BYTES 6u

/* ABORT while RUN_LAYER / RUN_MODEL runs: once a byte has arrived between two calls, the device
 * collects bytes for an ABORT frame until none has come for core_clock_hz / TM_ABORT_GAP_DIV
 * cycles (50 ms) or TM_ABORT_MAX_BYTES have come (docs/protocol.md §3.7). */
#define TM_ABORT_GAP_DIV 20u
#define TM_ABORT_MAX_BYTES 256u
/* Largest encoded frame the ABORT collector keeps (an ABORT frame is 9 bytes encoded). */
#define TM_ABORT_RX_BYTES 16u

/* Non-blocking receive: 1 and *byte when a byte has arrived, else 0. */
typedef int (*tm_rx_poll_fn)(uint8_t *byte);

/* What the dispatcher needs to know about where it runs. */
typedef struct {
    const char *board_id;
    const char *mcu;
    const char *build_id;
    const char *compiler;
    const char *cflags;
    uint32_t core_clock_hz;
    uint8_t clock_status;
    uint8_t fpu_enabled;
    uint8_t *arena;              /* RUN_LAYER activations (RAM), 16-byte aligned */
    uint32_t arena_bytes;
    const uint8_t *weights;      /* RUN_LAYER weight region (flash), 16-byte aligned */
    uint32_t weight_bytes;
    /* Polled between the calls of RUN_LAYER / RUN_MODEL for an ABORT frame; NULL: those runs
     * cannot be aborted. */
    tm_rx_poll_fn rx_poll;
} tm_platform;

typedef struct {
    const tm_platform *platform;
    tm_frame_rx rx;
    uint8_t reply[TM_FRAME_MAX_DECODED];
    uint8_t wire[TM_FRAME_MAX_WIRE];
    /* The last command reply (every command but REPLY_READ and ABORT), for REPLY_READ. */
    uint8_t last[TM_FRAME_MAX_DECODED];
    size_t last_len;
    /* The ABORT collector: encoded bytes since the last delimiter. */
    uint8_t abort_enc[TM_ABORT_RX_BYTES];
    size_t abort_len;
} tm_proto;

void tm_protocol_init(tm_proto *p, const tm_platform *platform);

/* Feed one received byte.  Returns the number of wire bytes to send (0: nothing yet) and points
 * *wire at them (valid until the next call). */
size_t tm_protocol_push(tm_proto *p, uint8_t byte, const uint8_t **wire);

/* Answer one decoded, CRC-checked frame: writes the reply frame (header, payload, CRC) into
 * reply[0..cap) and returns its length (0 only if cap is too small).  Every reply but those to
 * REPLY_READ and ABORT is also kept in p->last for REPLY_READ. */
size_t tm_protocol_handle(tm_proto *p, const uint8_t *frame, size_t len, uint8_t *reply,
                          size_t cap);

#endif /* TM_PROTOCOL_H */
