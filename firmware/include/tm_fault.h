/*
 * tm_fault.h - fault reporting: a FAULT frame with the stacked registers and the fault status
 * registers (docs/protocol.md 3.5), repeated whenever a frame delimiter arrives, until reset.
 */
#ifndef TM_FAULT_H
#define TM_FAULT_H

#include <stdint.h>

/* Number of u32 words in a FAULT payload: r0-r3, r12, lr, pc, xpsr, CFSR, HFSR, MMFAR, BFAR,
 * EXC_RETURN. */
#define TM_FAULT_WORDS 13u

/* Called by the fault handlers with the exception frame and EXC_RETURN; never returns. */
__attribute__((noreturn)) void tm_fault_report(const uint32_t *frame, uint32_t exc_return);

#endif /* TM_FAULT_H */
