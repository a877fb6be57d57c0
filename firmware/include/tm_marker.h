/*
 * tm_marker.h - the GPIO marker pin an external energy monitor (RocketLogger in the paper, §3.3)
 * traces: active during every timed region (one RUN_LAYER repetition, one network layer).
 * Pin and polarity come from the board file's [marker] table (tm_board_config.h).  Set/reset go
 * through GPIOx_BSRR (offset 0x18 on STM32L4/F4/F7): one store, no read-modify-write.
 */
#ifndef TM_MARKER_H
#define TM_MARKER_H

#include <stdint.h>

#if defined(TM_HOST)
static inline void tm_marker_init(void) {}
static inline void tm_marker_on(void) {}
static inline void tm_marker_off(void) {}
#else
#include "tm_board_config.h"
#include "tm_regs.h"

#define TM_GPIO_BSRR 0x18u
#define TM_MARKER_SET_WORD (1u << TM_MARKER_PIN)
#define TM_MARKER_RESET_WORD (1u << (TM_MARKER_PIN + 16u))

void tm_marker_init(void);

static inline void tm_marker_on(void)
{
    TM_REG32(TM_MARKER_GPIO + TM_GPIO_BSRR) =
        TM_MARKER_ACTIVE_HIGH ? TM_MARKER_SET_WORD : TM_MARKER_RESET_WORD;
}

static inline void tm_marker_off(void)
{
    TM_REG32(TM_MARKER_GPIO + TM_GPIO_BSRR) =
        TM_MARKER_ACTIVE_HIGH ? TM_MARKER_RESET_WORD : TM_MARKER_SET_WORD;
}
#endif

#endif /* TM_MARKER_H */
