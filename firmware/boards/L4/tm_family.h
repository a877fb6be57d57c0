/*
 * tm_family.h - STM32L4 facts the board file does not carry (RM0351 Rev 9).
 * Register offsets from RCC / PWR bases; bit positions as named in RM0351 §5 (PWR), §6 (RCC).
 */
#ifndef TM_FAMILY_H
#define TM_FAMILY_H

#include "tm_board_config.h"

/* NVIC position of the console UART (RM0351 Table 58, STM32L49x vector table). */
#if defined(TM_UART_PERIPH_LPUART1)
#define TM_UART_IRQN 70u
#elif defined(TM_UART_PERIPH_USART1)
#define TM_UART_IRQN 37u
#elif defined(TM_UART_PERIPH_USART2)
#define TM_UART_IRQN 38u
#elif defined(TM_UART_PERIPH_USART3)
#define TM_UART_IRQN 39u
#else
#error "no NVIC position known for this board's UART"
#endif

/* Reset clock: MSI at 4 MHz (RCC_CR MSIRANGE reset value 6; RM0351 §6.2.3). */
#define TM_RESET_CLOCK_HZ 4000000u

#define TM_RCC_CR (TM_RCC_BASE + 0x00u)
#define TM_RCC_CFGR (TM_RCC_BASE + 0x08u)
#define TM_RCC_PLLCFGR (TM_RCC_BASE + 0x0Cu)
#define TM_RCC_APB1ENR1 (TM_RCC_BASE + 0x58u)
#define TM_PWR_CR1 (TM_PWR_BASE + 0x00u)
#define TM_PWR_SR2 (TM_PWR_BASE + 0x14u)

#endif /* TM_FAMILY_H */
