/*
 * tm_cycles.h - the DWT cycle counter (ARMv7-M ARM C1.8.6: DEMCR.TRCENA, DWT_CTRL.CYCCNTENA,
 * DWT_CYCCNT; the M7 additionally has the DWT lock access register).
 *
 * The counter is 32 bits: one timed region must stay below 2^32 cycles (19.9 s at 216 MHz).
 * The host build (TM_HOST) counts calls instead, so the protocol code runs unchanged.
 */
#ifndef TM_CYCLES_H
#define TM_CYCLES_H

#include <stdint.h>

#include "tm_regs.h"

#if defined(TM_HOST)
extern uint32_t tm_host_cycles;
static inline void tm_cycles_init(void) {}
static inline uint32_t tm_cycles_now(void) { return tm_host_cycles += 7u; }
#else
void tm_cycles_init(void);
static inline uint32_t tm_cycles_now(void) { return TM_REG32(TM_DWT_CYCCNT); }
#endif

#endif /* TM_CYCLES_H */
