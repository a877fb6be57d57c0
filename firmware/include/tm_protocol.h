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

#define TM_PROTOCOL_VERSION 1u

typedef enum {
    TM_CMD_HELLO = 0x01,
    TM_CMD_PING = 0x02,
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
    TM_ST_UNSUPPORTED = 12
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
} tm_platform;

typedef struct {
    const tm_platform *platform;
    tm_frame_rx rx;
    uint8_t reply[TM_FRAME_MAX_DECODED];
    uint8_t wire[TM_FRAME_MAX_WIRE];
} tm_proto;

void tm_protocol_init(tm_proto *p, const tm_platform *platform);

/* Feed one received byte.  Returns the number of wire bytes to send (0: nothing yet) and points
 * *wire at them (valid until the next call). */
size_t tm_protocol_push(tm_proto *p, uint8_t byte, const uint8_t **wire);

/* Answer one decoded, CRC-checked frame: writes the reply frame (header, payload, CRC) into
 * reply[0..cap) and returns its length (0 only if cap is too small). */
size_t tm_protocol_handle(tm_proto *p, const uint8_t *frame, size_t len, uint8_t *reply,
                          size_t cap);

#endif /* TM_PROTOCOL_H */
