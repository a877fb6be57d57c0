/*
 * tm_regs.h - the few Cortex-M system registers the firmware touches, and MMIO helpers.
 *
 * Addresses are architectural (ARMv7-M Architecture Reference Manual, DDI0403E: B3.2 System
 * Control Space, C1.8 DWT, B3.4 NVIC, B2.2 cache maintenance operations of the M7); the project
 * notes in shared/reference/cortex-m-timing-and-boards.md section 4.3 list them with sources.
 * Peripheral (STM32) addresses come from the board data files through the generated
 * tm_board_config.h, never from here.
 */
#ifndef TM_REGS_H
#define TM_REGS_H

#include <stdint.h>

#define TM_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System control block (SCB). */
#define TM_SCB_CPUID   0xE000ED00u
#define TM_SCB_VTOR    0xE000ED08u
#define TM_SCB_SCR     0xE000ED10u
#define TM_SCB_CCR     0xE000ED14u
#define TM_SCB_SHCSR   0xE000ED24u
#define TM_SCB_CFSR    0xE000ED28u
#define TM_SCB_HFSR    0xE000ED2Cu
#define TM_SCB_MMFAR   0xE000ED34u
#define TM_SCB_BFAR    0xE000ED38u
#define TM_SCB_CCSIDR  0xE000ED80u /* M7: cache size id of the cache CSSELR selects */
#define TM_SCB_CSSELR  0xE000ED84u
#define TM_SCB_CPACR   0xE000ED88u
#define TM_SCB_ICIALLU 0xE000EF50u /* M7: invalidate all instruction caches */
#define TM_SCB_DCISW   0xE000EF60u /* M7: invalidate data cache line by set/way */

#define TM_SCB_SCR_SEVONPEND (1u << 4)
#define TM_SCB_CCR_DC  (1u << 16)
#define TM_SCB_CCR_IC  (1u << 17)
#define TM_CPACR_CP10_CP11_FULL (0xFu << 20)

/* Debug: DEMCR.TRCENA gates the DWT; DWT_LAR unlocks it on cores that implement the lock (M7). */
#define TM_DEMCR       0xE000EDFCu
#define TM_DEMCR_TRCENA (1u << 24)
#define TM_DWT_CTRL    0xE0001000u
#define TM_DWT_CYCCNT  0xE0001004u
#define TM_DWT_LAR     0xE0001FB0u
#define TM_DWT_LAR_KEY 0xC5ACCE55u

/* NVIC: interrupt set-enable and clear-pending registers, 32 interrupts per word. */
#define TM_NVIC_ISER0  0xE000E100u
#define TM_NVIC_ICER0  0xE000E180u
#define TM_NVIC_ISPR0  0xE000E200u
#define TM_NVIC_ICPR0  0xE000E280u

#if defined(__arm__)
static inline void tm_dsb(void) { __asm volatile("dsb 0xF" ::: "memory"); }
static inline void tm_isb(void) { __asm volatile("isb 0xF" ::: "memory"); }
static inline void tm_wfi(void) { __asm volatile("wfi" ::: "memory"); }
static inline void tm_wfe(void) { __asm volatile("wfe" ::: "memory"); }
static inline void tm_irq_mask(void) { __asm volatile("cpsid i" ::: "memory"); }
#else
static inline void tm_dsb(void) {}
static inline void tm_isb(void) {}
static inline void tm_wfi(void) {}
static inline void tm_wfe(void) {}
static inline void tm_irq_mask(void) {}
#endif

/* Spin limit of every "wait until ready" loop: the firmware never hangs on a dead oscillator. */
#define TM_READY_SPIN_LIMIT 2000000u

/* Wait until (reg & mask) == value; returns 1 on success, 0 after TM_READY_SPIN_LIMIT polls. */
static inline int tm_wait_bits(uint32_t addr, uint32_t mask, uint32_t value)
{
    for (uint32_t i = 0; i < TM_READY_SPIN_LIMIT; i++) {
        if ((TM_REG32(addr) & mask) == value) {
            return 1;
        }
    }
    return 0;
}

static inline void tm_reg_set(uint32_t addr, uint32_t bits) { TM_REG32(addr) |= bits; }
static inline void tm_reg_clear(uint32_t addr, uint32_t bits) { TM_REG32(addr) &= ~bits; }
/* Replace the bits of `mask` with `value` (value already shifted into place). */
static inline void tm_reg_field(uint32_t addr, uint32_t mask, uint32_t value)
{
    TM_REG32(addr) = (TM_REG32(addr) & ~mask) | (value & mask);
}

#endif /* TM_REGS_H */
