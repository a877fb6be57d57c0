/*
 * tm_family.h - STM32F7 facts the board file does not carry (RM0410, STM32F76x/77x).
 * Register offsets from RCC / PWR bases; bit positions as named in RM0410 §4 (PWR), §5 (RCC).
 */
#ifndef TM_FAMILY_H
#define TM_FAMILY_H

#include "tm_board_config.h"

/* NVIC position of the console UART (RM0410 vector table: USART1 37, USART2 38, USART3 39). */
#if defined(TM_UART_PERIPH_USART1)
#define TM_UART_IRQN 37u
#elif defined(TM_UART_PERIPH_USART2)
#define TM_UART_IRQN 38u
#elif defined(TM_UART_PERIPH_USART3)
#define TM_UART_IRQN 39u
#else
#error "no NVIC position known for this board's UART"
#endif

/* Reset clock: HSI at 16 MHz (RM0410 §5.2.2). */
#define TM_RESET_CLOCK_HZ 16000000u

#define TM_RCC_CR (TM_RCC_BASE + 0x00u)
#define TM_RCC_PLLCFGR (TM_RCC_BASE + 0x04u)
#define TM_RCC_CFGR (TM_RCC_BASE + 0x08u)
#define TM_RCC_APB1ENR (TM_RCC_BASE + 0x40u)
/* RM0410 names these PWR_CR1 / PWR_CSR1; same offsets and bits as the F4's PWR_CR / PWR_CSR. */
#define TM_PWR_CR (TM_PWR_BASE + 0x00u)
#define TM_PWR_CSR (TM_PWR_BASE + 0x04u)

#endif /* TM_FAMILY_H */
