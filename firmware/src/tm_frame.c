/*
 * tm_frame.c - COBS, CRC-32 and the byte-wise frame receiver (docs/protocol.md §1).
 *
 * COBS as defined by Cheshire and Baker (IEEE/ACM Trans. Networking 7(2), 1999): each block is
 * a code byte n (1..255) followed by n-1 non-zero data bytes; a code below 255 implies a zero
 * after its block unless the block ends the input.
 */
#include "tm_frame.h"

/* Reflected CRC-32, four bits at a time: entry n is the register after shifting the nibble n
 * out through the polynomial (16 words of table instead of 256, two lookups per byte). */
static const uint32_t tm_crc32_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t tm_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = TM_CRC32_INIT;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ tm_crc32_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ tm_crc32_nibble[crc & 0x0Fu];
    }
    return crc ^ TM_CRC32_XOROUT;
}

static uint32_t tm_rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

size_t tm_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    if (dst == NULL || cap == 0 || (src == NULL && len != 0)) {
        return 0;
    }
    size_t out = 1;      /* next write position */
    size_t code_at = 0;  /* position of the pending code byte */
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code = 1;
            if (out >= cap) {
                return 0;
            }
            code_at = out++;
        } else {
            if (out >= cap) {
                return 0;
            }
            dst[out++] = src[i];
            code++;
            if (code == 0xFF) {
                dst[code_at] = code;
                code = 1;
                if (i + 1 < len) {
                    if (out >= cap) {
                        return 0;
                    }
                    code_at = out++;
                } else {
                    return out;
                }
            }
        }
    }
    dst[code_at] = code;
    return out;
}

size_t tm_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, int *ok)
{
    size_t in = 0;
    size_t out = 0;
    *ok = 0;
    if (src == NULL || dst == NULL) {
        return 0;
    }
    while (in < len) {
        const uint8_t code = src[in++];
        if (code == 0) {
            return 0;                       /* a zero cannot appear inside an encoding */
        }
        const size_t run = (size_t)code - 1u;
        if (run > len - in) {
            return 0;                       /* block runs past the end */
        }
        if (run > cap - out) {
            return 0;                       /* output would not fit */
        }
        for (size_t k = 0; k < run; k++) {
            const uint8_t b = src[in++];
            if (b == 0) {
                return 0;
            }
            dst[out++] = b;
        }
        if (code != 0xFF && in < len) {
            if (out >= cap) {
                return 0;
            }
            dst[out++] = 0;
        }
    }
    *ok = 1;
    return out;
}

void tm_frame_rx_init(tm_frame_rx *rx)
{
    rx->enc_len = 0;
    rx->frame_len = 0;
    rx->overflow = 0;
}

tm_rx_event tm_frame_rx_push(tm_frame_rx *rx, uint8_t byte)
{
    if (byte != 0) {
        if (rx->enc_len < TM_FRAME_MAX_ENCODED) {
            rx->enc[rx->enc_len++] = byte;
        } else {
            rx->overflow = 1;
        }
        return TM_RX_NONE;
    }
    /* delimiter */
    const size_t n = rx->enc_len;
    const int overflow = rx->overflow;
    rx->enc_len = 0;
    rx->overflow = 0;
    rx->frame_len = 0;
    if (overflow) {
        return TM_RX_ERR_LONG;
    }
    if (n == 0) {
        return TM_RX_NONE;
    }
    int ok = 0;
    const size_t len = tm_cobs_decode(rx->enc, n, rx->frame, sizeof rx->frame, &ok);
    if (!ok) {
        return TM_RX_ERR_FRAME;
    }
    if (len < TM_FRAME_MIN_DECODED) {
        return TM_RX_ERR_FRAME;
    }
    const uint32_t want = tm_crc32(rx->frame, len - TM_FRAME_CRC_BYTES);
    const uint32_t got = tm_rd32le(rx->frame + len - TM_FRAME_CRC_BYTES);
    if (want != got) {
        return TM_RX_ERR_CRC;
    }
    rx->frame_len = len;
    return TM_RX_FRAME;
}

void tm_frame_seal(uint8_t *frame, size_t len)
{
    const uint32_t crc = tm_crc32(frame, len - TM_FRAME_CRC_BYTES);
    for (size_t k = 0; k < TM_FRAME_CRC_BYTES; k++) {
        frame[len - TM_FRAME_CRC_BYTES + k] = (uint8_t)(crc >> (8u * k));
    }
}

size_t tm_frame_finish(uint8_t *frame, size_t cap, uint8_t cmd, uint8_t seq, uint8_t status,
                       size_t payload_len)
{
    if (payload_len > TM_FRAME_MAX_PAYLOAD) {
        return 0;
    }
    const size_t len = TM_FRAME_HEADER_BYTES + payload_len + TM_FRAME_CRC_BYTES;
    if (frame == NULL || len > cap) {
        return 0;
    }
    frame[0] = cmd;
    frame[1] = seq;
    frame[2] = status;
    frame[3] = 0;
    tm_frame_seal(frame, len);
    return len;
}

size_t tm_frame_wire(const uint8_t *frame, size_t len, uint8_t *wire, size_t cap)
{
    if (wire == NULL || cap < 3) {
        return 0;
    }
    wire[0] = 0;
    const size_t enc = tm_cobs_encode(frame, len, wire + 1, cap - 2);
    if (enc == 0) {
        return 0;
    }
    wire[1 + enc] = 0;
    return enc + 2;
}
