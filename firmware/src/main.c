/*
 * main.c - board bring-up, then the protocol loop: read a byte (sleeping in WFI while none has
 * arrived), feed the frame receiver, send any reply.
 */
#include <stdint.h>

#include "tm_board.h"
#include "tm_board_config.h"
#include "tm_build_info.h"
#include "tm_protocol.h"
#include "tm_regs.h"
#include "tm_uart.h"

extern uint8_t __tm_arena_start[];
extern uint8_t __tm_arena_end[];
extern const uint8_t __tm_weights_start[];
extern const uint8_t __tm_weights_end[];

static tm_proto tm_main_proto;
static tm_platform tm_main_platform;

int main(void)
{
    tm_irq_mask(); /* PRIMASK: interrupts only wake WFI, no handler ever runs */
    const tm_clock_state clock = tm_board_init();

    tm_platform *pl = &tm_main_platform;
    pl->board_id = TM_BOARD_ID;
    pl->mcu = TM_BOARD_MCU;
    pl->build_id = TM_BUILD_ID;
    pl->compiler = TM_BUILD_COMPILER;
    pl->cflags = TM_BUILD_CFLAGS;
    pl->core_clock_hz = clock.hclk_hz;
    pl->clock_status = (uint8_t)clock.status;
#if defined(__ARM_FP)
    pl->fpu_enabled = 1;
#else
    pl->fpu_enabled = 0;
#endif
    pl->arena = __tm_arena_start;
    pl->arena_bytes = (uint32_t)(__tm_arena_end - __tm_arena_start);
    pl->weights = __tm_weights_start;
    pl->weight_bytes = (uint32_t)(__tm_weights_end - __tm_weights_start);
    pl->rx_poll = tm_uart_poll_pending;
    tm_protocol_init(&tm_main_proto, pl);

    for (;;) {
        const uint8_t b = tm_uart_read();
        const uint8_t *wire = 0;
        const size_t n = tm_protocol_push(&tm_main_proto, b, &wire);
        if (n > 0u) {
            tm_uart_write(wire, n);
        }
    }
}
