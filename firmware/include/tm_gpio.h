/*
 * tm_gpio.h - STM32 GPIO port registers (identical layout on the L4, F4 and F7: RM0351 §8.5,
 * RM0386 §8.4, RM0410 §6.4): MODER 0x00 (2 bits/pin: 00 input, 01 output, 10 alternate),
 * OTYPER 0x04, OSPEEDR 0x08, PUPDR 0x0C (01 pull-up), IDR 0x10, ODR 0x14, BSRR 0x18,
 * AFRL 0x20 / AFRH 0x24 (4 bits/pin).
 */
#ifndef TM_GPIO_H
#define TM_GPIO_H

#include <stdint.h>

#define TM_GPIO_MODER 0x00u
#define TM_GPIO_OTYPER 0x04u
#define TM_GPIO_OSPEEDR 0x08u
#define TM_GPIO_PUPDR 0x0Cu
#define TM_GPIO_AFRL 0x20u
#define TM_GPIO_AFRH 0x24u

#define TM_GPIO_MODE_OUTPUT 1u
#define TM_GPIO_MODE_AF 2u

/* Configure one pin: mode, alternate function (for TM_GPIO_MODE_AF), pull-up on/off, high speed. */
void tm_gpio_config(uint32_t port_base, uint32_t pin, uint32_t mode, uint32_t af, int pull_up);

#endif /* TM_GPIO_H */
