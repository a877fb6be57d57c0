/*
 * tm_board.h - what a board port provides (firmware/boards/<ID>/tm_clock.c plus tm_board.c).
 *
 * The board's hardware facts (addresses, clock tree, pins) are generated from
 * tinymodel/boards/data/<ID>.toml into build/<cfg>/tm_board_config.h; the family-specific
 * sequences (how an STM32L4 or STM32F4/F7 clock tree is brought up) are C in boards/<ID>/.
 */
#ifndef TM_BOARD_H
#define TM_BOARD_H

#include <stdint.h>

/* clock_status values (reported in HELLO). */
typedef enum {
    TM_CLOCK_OK = 0,
    TM_CLOCK_HSE_FAILED = 1,     /* external oscillator did not become ready */
    TM_CLOCK_PLL_FAILED = 2,     /* PLL did not lock */
    TM_CLOCK_VOLTAGE_FAILED = 3, /* voltage scaling or over-drive did not become ready */
    TM_CLOCK_SWITCH_FAILED = 4   /* SYSCLK did not switch to the PLL */
} tm_clock_status;

/* Clocks as actually configured (reset values after a fallback). */
typedef struct {
    uint32_t hclk_hz;        /* core clock: DWT cycles tick at this rate */
    uint32_t uart_kernel_hz; /* clock feeding the UART baud-rate generator */
    tm_clock_status status;
} tm_clock_state;

/* Family code: voltage scaling, flash wait states and accelerator, PLL, bus prescalers, SYSCLK
 * switch (and the M7 L1 caches).  Never hangs: bounded waits, falls back to the reset clock. */
tm_clock_state tm_clock_init(void);

/* Everything before main's protocol loop: clocks, caches, FPU already on (startup), DWT, marker,
 * UART.  Returns the clock state for HELLO. */
tm_clock_state tm_board_init(void);

/* Cortex-M7 L1 instruction and data caches on (boards whose file has [cpu_cache] enabled). */
void tm_cpu_caches_enable(void);

/* The clock state tm_board_init() established. */
const tm_clock_state *tm_board_clock(void);

/* Turn on an RCC clock-enable bit and read it back (the read delays the first access, as the
 * reference manuals require two AHB cycles after enabling a peripheral clock). */
void tm_board_enable_clock(uint32_t enable_address, uint32_t bit);

#endif /* TM_BOARD_H */
