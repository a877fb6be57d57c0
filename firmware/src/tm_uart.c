/*
 * tm_uart.c - polled UART driver for both STM32 register layouts.
 *
 * "v2" (STM32L4 USART/LPUART, RM0351 §38-39; STM32F7 USART, RM0410 §34): CR1 0x00 (UE b0, RE b2,
 * TE b3, RXNEIE b5), BRR 0x0C, ISR 0x1C (FE b1, NE b2, ORE b3, RXNE b5, TXE b7), ICR 0x20
 * (FECF b1, NCF b2, ORECF b3), RDR 0x24, TDR 0x28.  LPUART BRR = 256 * f_ck / baud (RM0351
 * §39.4.4), USART BRR = f_ck / baud with 16x oversampling.
 * "v1" (STM32F4 USART, RM0386 §30): SR 0x00 (same flag bits), DR 0x04, BRR 0x08 (USARTDIV x 16 =
 * f_ck / baud with 16x oversampling), CR1 0x0C (UE b13, RXNEIE b5, TE b3, RE b2); error flags
 * clear by reading SR then DR.
 *
 * Receive and WFI: RXNEIE is set in the UART and the interrupt is enabled in the NVIC, but
 * PRIMASK (set in main) keeps the core from taking it.  A pending interrupt still ends WFI
 * (ARMv7-M ARM B1.5.19), so the loop sleeps until a byte arrives; after reading it clears the NVIC
 * pending bit.  An emulator that treats WFI as "wait for input" never spins.  Between the calls of a
 * run the ABORT check reads that pending bit instead of the UART (tm_uart_poll_pending): a cheap
 * read with no effect on the receiver.
 */
#include "tm_uart.h"

#include "tm_board_config.h"
#include "tm_family.h"
#include "tm_gpio.h"
#include "tm_regs.h"
#include "tm_board.h"

#if defined(TM_UART_LAYOUT_V2)
#define TM_UART_CR1 0x00u
#define TM_UART_BRR 0x0Cu
#define TM_UART_ISR 0x1Cu
#define TM_UART_ICR 0x20u
#define TM_UART_RDR 0x24u
#define TM_UART_TDR 0x28u
#define TM_UART_CR1_UE (1u << 0)
#elif defined(TM_UART_LAYOUT_V1)
#define TM_UART_ISR 0x00u /* SR */
#define TM_UART_RDR 0x04u /* DR */
#define TM_UART_TDR 0x04u /* DR */
#define TM_UART_BRR 0x08u
#define TM_UART_CR1 0x0Cu
#define TM_UART_CR1_UE (1u << 13)
#else
#error "tm_board_config.h names no UART register layout"
#endif

#define TM_UART_CR1_RE (1u << 2)
#define TM_UART_CR1_TE (1u << 3)
#define TM_UART_CR1_RXNEIE (1u << 5)
#define TM_UART_FE (1u << 1)
#define TM_UART_NE (1u << 2)
#define TM_UART_ORE (1u << 3)
#define TM_UART_RXNE (1u << 5)
#define TM_UART_TXE (1u << 7)
#define TM_UART_ERRORS (TM_UART_FE | TM_UART_NE | TM_UART_ORE)

#define TM_NVIC_WORD(irq) (4u * ((uint32_t)(irq) / 32u))
#define TM_NVIC_BIT(irq) (1u << ((uint32_t)(irq) % 32u))

void tm_uart_init(uint32_t kernel_hz)
{
#if TM_UART_VDDIO2
    /* Port pins on the VDDIO2 rail: validate the supply first (PWR_CR2.IOSV). */
    tm_board_enable_clock(TM_VDDIO2_PWR_EN_ADDR, TM_VDDIO2_PWR_EN_BIT);
    tm_reg_set(TM_VDDIO2_IOSV_ADDR, 1u << TM_VDDIO2_IOSV_BIT);
#endif
    tm_board_enable_clock(TM_UART_TX_GPIO_EN_ADDR, TM_UART_TX_GPIO_EN_BIT);
    tm_board_enable_clock(TM_UART_RX_GPIO_EN_ADDR, TM_UART_RX_GPIO_EN_BIT);
    tm_gpio_config(TM_UART_TX_GPIO, TM_UART_TX_PIN, TM_GPIO_MODE_AF, TM_UART_AF, 0);
    tm_gpio_config(TM_UART_RX_GPIO, TM_UART_RX_PIN, TM_GPIO_MODE_AF, TM_UART_AF, 1);
    tm_board_enable_clock(TM_UART_EN_ADDR, TM_UART_EN_BIT);

    const uint32_t base = TM_UART_BASE;
    TM_REG32(base + TM_UART_CR1) = 0; /* UE off while configuring; 8N1 is the reset state */
#if TM_UART_IS_LPUART
    const uint32_t brr = (uint32_t)((256ull * kernel_hz + TM_UART_BAUD / 2u) / TM_UART_BAUD);
#else
    const uint32_t brr = (kernel_hz + TM_UART_BAUD / 2u) / TM_UART_BAUD;
#endif
    TM_REG32(base + TM_UART_BRR) = brr;
    TM_REG32(base + TM_UART_CR1) = TM_UART_CR1_TE | TM_UART_CR1_RE | TM_UART_CR1_RXNEIE;
    TM_REG32(base + TM_UART_CR1) |= TM_UART_CR1_UE;

    TM_REG32(TM_NVIC_ICPR0 + TM_NVIC_WORD(TM_UART_IRQN)) = TM_NVIC_BIT(TM_UART_IRQN);
    TM_REG32(TM_NVIC_ISER0 + TM_NVIC_WORD(TM_UART_IRQN)) = TM_NVIC_BIT(TM_UART_IRQN);
}

void tm_uart_write(const uint8_t *data, size_t len)
{
    const uint32_t base = TM_UART_BASE;
    for (size_t i = 0; i < len; i++) {
        while ((TM_REG32(base + TM_UART_ISR) & TM_UART_TXE) == 0u) {
        }
        TM_REG32(base + TM_UART_TDR) = data[i];
    }
}

static void tm_uart_clear_errors(uint32_t isr)
{
#if defined(TM_UART_LAYOUT_V2)
    TM_REG32(TM_UART_BASE + TM_UART_ICR) = isr & TM_UART_ERRORS;
#else
    (void)isr;
    (void)TM_REG32(TM_UART_BASE + TM_UART_RDR); /* SR was read by the caller: SR, DR clears */
#endif
}

int tm_uart_poll(uint8_t *byte)
{
    const uint32_t base = TM_UART_BASE;
    /* Clear the NVIC pending bit first: a byte that arrives after this re-pends the
     * level-sensitive interrupt (ARMv7-M ARM B3.4.1), so the next WFI cannot miss it. */
    TM_REG32(TM_NVIC_ICPR0 + TM_NVIC_WORD(TM_UART_IRQN)) = TM_NVIC_BIT(TM_UART_IRQN);
    const uint32_t isr = TM_REG32(base + TM_UART_ISR);
    if (isr & TM_UART_RXNE) {
        *byte = (uint8_t)(TM_REG32(base + TM_UART_RDR) & 0xFFu);
#if defined(TM_UART_LAYOUT_V2)
        if (isr & TM_UART_ERRORS) {
            tm_uart_clear_errors(isr);
        }
#endif
        return 1;
    }
    if (isr & TM_UART_ERRORS) {
        tm_uart_clear_errors(isr);
    }
    return 0;
}

uint8_t tm_uart_read(void)
{
    uint8_t b;
    while (!tm_uart_poll(&b)) {
        tm_wfi();
    }
    return b;
}

int tm_uart_poll_pending(uint8_t *byte)
{
    if ((TM_REG32(TM_NVIC_ISPR0 + TM_NVIC_WORD(TM_UART_IRQN)) & TM_NVIC_BIT(TM_UART_IRQN)) == 0u) {
        return 0;
    }
    return tm_uart_poll(byte);
}
