/*
 * tm_board.c - board bring-up common to every family: clocks (family code), caches, DWT cycle
 * counter, marker pin, UART.  GPIO and RCC enable bits come from tm_board_config.h.
 */
#include "tm_board.h"

#include "tm_board_config.h"
#include "tm_cycles.h"
#include "tm_gpio.h"
#include "tm_marker.h"
#include "tm_regs.h"
#include "tm_uart.h"

static tm_clock_state tm_clock;

void tm_board_enable_clock(uint32_t enable_address, uint32_t bit)
{
    tm_reg_set(enable_address, 1u << bit);
    (void)TM_REG32(enable_address);
    tm_dsb();
}

void tm_gpio_config(uint32_t port, uint32_t pin, uint32_t mode, uint32_t af, int pull_up)
{
    const uint32_t two = pin * 2u;
    tm_reg_field(port + TM_GPIO_OSPEEDR, 3u << two, 2u << two); /* high speed */
    tm_reg_field(port + TM_GPIO_PUPDR, 3u << two, (pull_up ? 1u : 0u) << two);
    tm_reg_clear(port + TM_GPIO_OTYPER, 1u << pin);               /* push-pull */
    if (mode == TM_GPIO_MODE_AF) {
        const uint32_t reg = pin < 8u ? TM_GPIO_AFRL : TM_GPIO_AFRH;
        const uint32_t four = (pin % 8u) * 4u;
        tm_reg_field(port + reg, 0xFu << four, af << four);
    }
    tm_reg_field(port + TM_GPIO_MODER, 3u << two, mode << two);
}

void tm_cycles_init(void)
{
    TM_REG32(TM_DEMCR) |= TM_DEMCR_TRCENA;
#if defined(TM_CORE_CORTEX_M7)
    TM_REG32(TM_DWT_LAR) = TM_DWT_LAR_KEY;
#endif
    TM_REG32(TM_DWT_CYCCNT) = 0u;
    TM_REG32(TM_DWT_CTRL) |= 1u; /* CYCCNTENA */
}

void tm_marker_init(void)
{
#if TM_MARKER_VDDIO2 && defined(TM_VDDIO2_PWR_EN_ADDR)
    tm_board_enable_clock(TM_VDDIO2_PWR_EN_ADDR, TM_VDDIO2_PWR_EN_BIT);
    tm_reg_set(TM_VDDIO2_IOSV_ADDR, 1u << TM_VDDIO2_IOSV_BIT);
#endif
    tm_board_enable_clock(TM_MARKER_GPIO_EN_ADDR, TM_MARKER_GPIO_EN_BIT);
    tm_marker_off();
    tm_gpio_config(TM_MARKER_GPIO, TM_MARKER_PIN, TM_GPIO_MODE_OUTPUT, 0u, 0);
}

#if !TM_CPU_CACHES
void tm_cpu_caches_enable(void) {}
#endif

tm_clock_state tm_board_init(void)
{
    tm_clock = tm_clock_init();
    tm_cpu_caches_enable();
    tm_cycles_init();
    tm_marker_init();
    tm_uart_init(tm_clock.uart_kernel_hz);
    return tm_clock;
}

const tm_clock_state *tm_board_clock(void)
{
    return &tm_clock;
}
