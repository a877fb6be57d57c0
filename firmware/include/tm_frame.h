/*
 * tm_frame.h - framing of the serial protocol (docs/protocol.md section 1): COBS between 0x00
 * delimiters, a 4-byte header, the payload and a CRC-32 (IEEE 802.3).
 *
 * Everything here is pure C over caller-provided fixed buffers: it compiles for the boards and
 * for the host (the fuzz harness in firmware/host/).
 */
#ifndef TM_FRAME_H
#define TM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define TM_FRAME_HEADER_BYTES 4u
#define TM_FRAME_CRC_BYTES 4u
#define TM_FRAME_MAX_PAYLOAD 1024u
/* Largest decoded frame: header + payload + CRC. */
#define TM_FRAME_MAX_DECODED (TM_FRAME_HEADER_BYTES + TM_FRAME_MAX_PAYLOAD + TM_FRAME_CRC_BYTES)
/* Largest COBS encoding the receiver accepts (a 1032-byte frame needs 1037). */
#define TM_FRAME_MAX_ENCODED 1040u
#define TM_FRAME_MIN_DECODED (TM_FRAME_HEADER_BYTES + TM_FRAME_CRC_BYTES)
/* Worst-case wire size of a frame: delimiter + COBS(frame) + delimiter. */
#define TM_FRAME_MAX_WIRE (TM_FRAME_MAX_DECODED + TM_FRAME_MAX_DECODED / 254u + 3u)

/* CRC-32 of IEEE 802.3 (as in Ethernet, zlib, PNG): reflected polynomial 0xEDB88320, initial
 * value and final XOR 0xFFFFFFFF; the check value of "123456789" is 0xCBF43926.  Stored
 * little-endian as the last TM_FRAME_CRC_BYTES of a frame. */
#define TM_CRC32_POLY 0xEDB88320u
#define TM_CRC32_INIT 0xFFFFFFFFu
#define TM_CRC32_XOROUT 0xFFFFFFFFu
#define TM_CRC32_CHECK 0xCBF43926u
uint32_t tm_crc32(const uint8_t *data, size_t len);

/* COBS-encode src[0..len) into dst (capacity cap, no delimiters written).
 * Returns the encoded length, or 0 when dst is too small. */
size_t tm_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* COBS-decode src[0..len) (no delimiters) into dst (capacity cap).
 * Returns the decoded length; *ok is 0 on invalid input or when dst is too small. */
size_t tm_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, int *ok);

/* What tm_frame_rx_push() saw. */
typedef enum {
    TM_RX_NONE = 0,      /* byte stored (or an empty frame ignored); nothing to do */
    TM_RX_FRAME = 1,     /* a valid frame is in rx->frame[0..rx->frame_len) */
    TM_RX_ERR_CRC = 2,   /* frame decoded but its CRC does not match */
    TM_RX_ERR_FRAME = 3, /* invalid COBS or shorter than header + CRC */
    TM_RX_ERR_LONG = 4   /* more than TM_FRAME_MAX_ENCODED bytes before the delimiter */
} tm_rx_event;

/* Byte-wise receiver state.  All buffers are fixed; nothing read from the wire sizes anything. */
typedef struct {
    uint8_t enc[TM_FRAME_MAX_ENCODED];
    uint8_t frame[TM_FRAME_MAX_DECODED];
    size_t enc_len;
    size_t frame_len;
    int overflow;
} tm_frame_rx;

void tm_frame_rx_init(tm_frame_rx *rx);

/* Feed one received byte. */
tm_rx_event tm_frame_rx_push(tm_frame_rx *rx, uint8_t byte);

/* Build a frame (header + payload + CRC) in `frame` (capacity cap) from the header fields and the
 * payload already placed at frame + TM_FRAME_HEADER_BYTES; returns the frame length or 0. */
size_t tm_frame_finish(uint8_t *frame, size_t cap, uint8_t cmd, uint8_t seq, uint8_t status,
                       size_t payload_len);

/* (Re)compute the CRC of frame[0..len) (len >= TM_FRAME_MIN_DECODED) over the bytes before it. */
void tm_frame_seal(uint8_t *frame, size_t len);

/* Wire bytes of a finished frame: 0x00, COBS(frame), 0x00.  Returns the length or 0. */
size_t tm_frame_wire(const uint8_t *frame, size_t len, uint8_t *wire, size_t cap);

#endif /* TM_FRAME_H */
