/*
 * startup.c - vector table, reset handler and fault handlers for every board.
 *
 * Reset: set VTOR, enable the FPU when the image uses it (CPACR CP10/CP11 full access, then
 * DSB/ISB before any floating-point instruction: ARMv7-M ARM B3.2.20), copy .data from flash,
 * zero .bss, then main().  Exceptions other than the faults land in tm_default_handler, which
 * reports like a fault (an unexpected interrupt is a firmware bug).  The UART interrupt is never
 * taken: PRIMASK stays set and the receive loop only uses its pending state to wake from WFI.
 */
#include <stdint.h>
#include <string.h>

#include "tm_fault.h"
#include "tm_regs.h"

extern uint32_t __tm_stack_top;
extern uint32_t __tm_vectors;
extern uint32_t __tm_data_start, __tm_data_end, __tm_data_load;
extern uint32_t __tm_bss_start, __tm_bss_end;

int main(void);
void tm_reset_handler(void);
void tm_nmi_handler(void);
void tm_fault_handler(void);
void tm_default_handler(void);

/* 16 system exceptions + 112 interrupts covers the STM32L496 (91), STM32F469 (93) and
 * STM32F767 (110) vector tables; 128 words also keeps VTOR's alignment rule simple (512 B). */
#define TM_VECTOR_WORDS 128

typedef void (*tm_vector)(void);

__attribute__((section(".isr_vector"), used))
const tm_vector tm_vector_table[TM_VECTOR_WORDS] = {
    [0] = (tm_vector)(uintptr_t)&__tm_stack_top,
    [1] = tm_reset_handler,
    [2] = tm_nmi_handler,
    [3] = tm_fault_handler,  /* HardFault */
    [4] = tm_fault_handler,  /* MemManage */
    [5] = tm_fault_handler,  /* BusFault */
    [6] = tm_fault_handler,  /* UsageFault */
    [11] = tm_default_handler, /* SVCall */
    [12] = tm_default_handler, /* DebugMonitor */
    [14] = tm_default_handler, /* PendSV */
    [15] = tm_default_handler, /* SysTick */
    [16 ... TM_VECTOR_WORDS - 1] = tm_default_handler,
};

__attribute__((noreturn)) void tm_reset_handler(void)
{
    TM_REG32(TM_SCB_VTOR) = (uint32_t)(uintptr_t)&__tm_vectors;
#if defined(__ARM_FP)
    TM_REG32(TM_SCB_CPACR) |= TM_CPACR_CP10_CP11_FULL;
    tm_dsb();
    tm_isb();
#endif
    const size_t data_bytes = (size_t)((uintptr_t)&__tm_data_end - (uintptr_t)&__tm_data_start);
    memcpy(&__tm_data_start, &__tm_data_load, data_bytes);
    const size_t bss_bytes = (size_t)((uintptr_t)&__tm_bss_end - (uintptr_t)&__tm_bss_start);
    memset(&__tm_bss_start, 0, bss_bytes);
    (void)main();
    for (;;) {
        tm_wfi();
    }
}

void tm_nmi_handler(void)
{
    for (;;) {
    }
}

/* Picks the stack the exception frame was pushed on (EXC_RETURN bit 2) and hands it to C. */
__attribute__((naked)) void tm_fault_handler(void)
{
    __asm volatile(
        "tst lr, #4      \n"
        "ite eq          \n"
        "mrseq r0, msp   \n"
        "mrsne r0, psp   \n"
        "mov r1, lr      \n"
        "b tm_fault_report \n");
}

__attribute__((naked)) void tm_default_handler(void)
{
    __asm volatile(
        "tst lr, #4      \n"
        "ite eq          \n"
        "mrseq r0, msp   \n"
        "mrsne r0, psp   \n"
        "mov r1, lr      \n"
        "b tm_fault_report \n");
}
