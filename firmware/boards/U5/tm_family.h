/*
 * tm_family.h - STM32U5 (STM32U575) facts the board file does not carry.
 *
 * Register offsets from the RCC / PWR bases and the ICACHE control register, as listed in the
 * project notes shared/reference/cortex-m33-u575.md (REF) sections 2.3-2.5 and 3, which take
 * them from the CMSIS device header stm32u575xx.h (S6) and the ST HAL sources (S7); RM0456 is the
 * primary document.  TrustZone is off (the board's default), so every address is the
 * non-secure alias (REF 2.1).
 */
#ifndef TM_FAMILY_H
#define TM_FAMILY_H

#include "tm_board_config.h"

/* NVIC position of the console UART: USART1 is IRQ 61 (REF 3.1, S6/S9). */
#if defined(TM_UART_PERIPH_USART1)
#define TM_UART_IRQN 61u
#else
#error "no NVIC position known for this board's UART"
#endif

/* Reset clock: MSIS at 4 MHz (MSIRANGE index 4), SYSCLK = MSIS, flash 0 WS (REF 2.5, S6). */
#define TM_RESET_CLOCK_HZ 4000000u

/* RCC (REF 2.5 and 3.1, S6). */
#define TM_RCC_CR (TM_RCC_BASE + 0x00u)       /* MSISRDY b2, PLL1ON b24, PLL1RDY b25 */
#define TM_RCC_CFGR1 (TM_RCC_BASE + 0x1Cu)    /* SW[1:0], SWS[3:2] */
#define TM_RCC_CFGR2 (TM_RCC_BASE + 0x20u)    /* HPRE[3:0], PPRE1[6:4], PPRE2[10:8] */
#define TM_RCC_PLL1CFGR (TM_RCC_BASE + 0x28u) /* source, input range, M, MBOOST, output enables */
#define TM_RCC_PLL1DIVR (TM_RCC_BASE + 0x34u) /* N-1, P-1, Q-1, R-1 */
#define TM_RCC_AHB3ENR (TM_RCC_BASE + 0x94u)  /* PWREN b2 */

/* PWR (REF 2.3, S6/S7). */
#define TM_PWR_VOSR (TM_PWR_BASE + 0x0Cu)     /* VOS[17:16], BOOSTEN b18, VOSRDY b15, BOOSTRDY b14 */
#define TM_PWR_SVMSR (TM_PWR_BASE + 0x3Cu)    /* ACTVOS[17:16], ACTVOSRDY b15 */

/* ICACHE: CR is the board file's accelerator.control_address (TM_ACCEL_CTRL); SR follows it
 * at +0x04 (REF 2.4, S6). */
#if defined(TM_ACCEL_CTRL)
#define TM_ICACHE_CR TM_ACCEL_CTRL            /* EN b0, CACHEINV b1, WAYSEL b2 */
#define TM_ICACHE_SR (TM_ACCEL_CTRL + 0x04u)  /* BUSYF b0, BSYENDF b1, ERRF b2 */
#else
#error "the STM32U5 board file must give the ICACHE control register (accelerator.control_address)"
#endif

#endif /* TM_FAMILY_H */
