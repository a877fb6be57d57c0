/*
 * tm_fault.c - report a CPU fault over the UART (docs/protocol.md 3.5) and wait for reset.
 *
 * Uses only static buffers and the polled UART, so it works with a damaged stack as far as the
 * call itself does.  The FAULT frame is sent at once and again whenever a frame delimiter (0x00)
 * arrives, so a host that connects later still learns what happened.
 */
#include <stdint.h>

#include "tm_fault.h"
#include "tm_frame.h"
#include "tm_protocol.h"
#include "tm_regs.h"
#include "tm_uart.h"

static uint8_t tm_fault_frame[TM_FRAME_HEADER_BYTES + 4u * TM_FAULT_WORDS + TM_FRAME_CRC_BYTES];
static uint8_t tm_fault_wire[2u * sizeof tm_fault_frame + 4u];

void tm_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    uint32_t words[TM_FAULT_WORDS];
    for (uint32_t i = 0; i < 8u; i++) {
        words[i] = frame[i]; /* r0 r1 r2 r3 r12 lr pc xpsr */
    }
    words[8] = TM_REG32(TM_SCB_CFSR);
    words[9] = TM_REG32(TM_SCB_HFSR);
    words[10] = TM_REG32(TM_SCB_MMFAR);
    words[11] = TM_REG32(TM_SCB_BFAR);
    words[12] = exc_return;
    uint8_t *payload = tm_fault_frame + TM_FRAME_HEADER_BYTES;
    for (uint32_t i = 0; i < TM_FAULT_WORDS; i++) {
        payload[4u * i + 0u] = (uint8_t)words[i];
        payload[4u * i + 1u] = (uint8_t)(words[i] >> 8);
        payload[4u * i + 2u] = (uint8_t)(words[i] >> 16);
        payload[4u * i + 3u] = (uint8_t)(words[i] >> 24);
    }
    const size_t len = tm_frame_finish(tm_fault_frame, sizeof tm_fault_frame,
                                       TM_CMD_FAULT | TM_CMD_RESPONSE, 0, 0, 4u * TM_FAULT_WORDS);
    const size_t wl = tm_frame_wire(tm_fault_frame, len, tm_fault_wire, sizeof tm_fault_wire);
    tm_uart_write(tm_fault_wire, wl);
    /* At fault priority no interrupt can preempt, so WFI would not wake; with SEVONPEND a newly
     * pending interrupt is a WFE wake-up event whatever its priority (ARMv7-M ARM B1.5.18). */
    TM_REG32(TM_SCB_SCR) |= TM_SCB_SCR_SEVONPEND;
    for (;;) {
        uint8_t b;
        if (tm_uart_poll(&b)) {
            if (b == 0u) {
                tm_uart_write(tm_fault_wire, wl);
            }
        } else {
            tm_wfe();
        }
    }
}
