/*
 * tm_clock.c - STM32L4 clock tree: MSI 4 MHz -> PLL (M, N, R from the board file) -> SYSCLK,
 * voltage Range 1, flash wait states and the ART caches.  The values (80 MHz: M=1, N=40, R=2,
 * 4 wait states, I- and D-cache on, prefetch off) are the board file's; the order of the steps
 * follows RM0351 §3.3.3 (raise the wait states before the clock) and §6.2.5 (PLL configuration
 * only while the PLL is off).
 *
 * Registers (RM0351 §6.4): RCC_CR MSIRDY b1, PLLON b24, PLLRDY b25; RCC_PLLCFGR PLLSRC[1:0]
 * (01 = MSI), PLLM[6:4] (M-1), PLLN[14:8], PLLREN b24, PLLR[26:25] (R/2-1); RCC_CFGR SW[1:0]
 * (11 = PLL), SWS[3:2], HPRE[7:4], PPRE1[10:8], PPRE2[13:11].  PWR_CR1 VOS[10:9] (01 = Range 1),
 * PWR_SR2 VOSF b10 (RM0351 §5.4).  FLASH_ACR LATENCY[2:0] and the ART bits (board file).
 */
#include "tm_board.h"
#include "tm_board_config.h"
#include "tm_family.h"
#include "tm_regs.h"

#if !defined(TM_CLK_OSC_MSI) || TM_CLK_OSC_HZ != 4000000u
#error "this STM32L4 clock code starts the PLL from the 4 MHz reset MSI only"
#endif
#if !defined(TM_CLK_PLL_OUTPUT_R)
#error "STM32L4 SYSCLK comes from the PLL's R output"
#endif
#if TM_CLK_PLL_M < 1u || TM_CLK_PLL_M > 8u || TM_CLK_PLL_N < 8u || TM_CLK_PLL_N > 86u
#error "PLL M or N out of the STM32L4 range"
#endif
#if TM_CLK_PLL_DIV != 2u && TM_CLK_PLL_DIV != 4u && TM_CLK_PLL_DIV != 6u && TM_CLK_PLL_DIV != 8u
#error "PLLR must be 2, 4, 6 or 8"
#endif

#define TM_RCC_CR_MSIRDY (1u << 1)
#define TM_RCC_CR_PLLON (1u << 24)
#define TM_RCC_CR_PLLRDY (1u << 25)
#define TM_PLLCFGR_MASK ((3u << 0) | (7u << 4) | (0x7Fu << 8) | (1u << 24) | (3u << 25))
#define TM_PLLCFGR_VALUE ((1u << 0) | ((TM_CLK_PLL_M - 1u) << 4) | (TM_CLK_PLL_N << 8) | \
                          (1u << 24) | ((TM_CLK_PLL_DIV / 2u - 1u) << 25))
#define TM_CFGR_SW_MASK 3u
#define TM_CFGR_SW_PLL 3u
#define TM_CFGR_SWS_MASK (3u << 2)
#define TM_CFGR_SWS_PLL (3u << 2)
#define TM_CFGR_PRE_MASK ((0xFu << 4) | (7u << 8) | (7u << 11))
#define TM_PWR_VOS_MASK (3u << 9)
#define TM_PWR_VOS_RANGE1 (1u << 9)
#define TM_PWR_SR2_VOSF (1u << 10)
#define TM_APB1ENR1_PWREN (1u << 28)
#define TM_ACR_LATENCY_MASK 0xFu

/* AHB prescaler field HPRE: 0xxx = /1, 1000 = /2 ... 1111 = /512 (RM0351 §6.4.3). */
static uint32_t tm_hpre(uint32_t div)
{
    static const uint32_t divs[8] = {2, 4, 8, 16, 64, 128, 256, 512};
    for (uint32_t i = 0; i < 8u; i++) {
        if (divs[i] == div) {
            return 8u + i;
        }
    }
    return 0;
}

/* APB prescaler fields PPRE1/PPRE2: 0xx = /1, 100 = /2, 101 = /4, 110 = /8, 111 = /16. */
static uint32_t tm_ppre(uint32_t div)
{
    switch (div) {
    case 2: return 4u;
    case 4: return 5u;
    case 8: return 6u;
    case 16: return 7u;
    default: return 0u;
    }
}

static tm_clock_state tm_reset_state(tm_clock_status st)
{
    tm_clock_state s;
    s.hclk_hz = TM_RESET_CLOCK_HZ;
    s.uart_kernel_hz = TM_RESET_CLOCK_HZ;
    s.status = st;
    return s;
}

tm_clock_state tm_clock_init(void)
{
    /* Range 1 (1.2 V) is required above 26 MHz; it is the reset value, set it anyway. */
    tm_board_enable_clock(TM_RCC_APB1ENR1, 28u);
    tm_reg_field(TM_PWR_CR1, TM_PWR_VOS_MASK, TM_PWR_VOS_RANGE1);
    if (!tm_wait_bits(TM_PWR_SR2, TM_PWR_SR2_VOSF, 0u)) {
        return tm_reset_state(TM_CLOCK_VOLTAGE_FAILED);
    }
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_MSIRDY, TM_RCC_CR_MSIRDY)) {
        return tm_reset_state(TM_CLOCK_HSE_FAILED);
    }

    /* Wait states before the clock goes up; read back to be sure they took effect. */
    tm_reg_field(TM_FLASH_ACR, TM_ACR_LATENCY_MASK, TM_FLASH_WAIT_STATES);
    (void)tm_wait_bits(TM_FLASH_ACR, TM_ACR_LATENCY_MASK, TM_FLASH_WAIT_STATES);

    tm_reg_clear(TM_RCC_CR, TM_RCC_CR_PLLON);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_PLLRDY, 0u)) {
        return tm_reset_state(TM_CLOCK_PLL_FAILED);
    }
    tm_reg_field(TM_RCC_PLLCFGR, TM_PLLCFGR_MASK, TM_PLLCFGR_VALUE);
    tm_reg_set(TM_RCC_CR, TM_RCC_CR_PLLON);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_PLLRDY, TM_RCC_CR_PLLRDY)) {
        return tm_reset_state(TM_CLOCK_PLL_FAILED);
    }

    const uint32_t pre = (tm_hpre(TM_CLK_AHB_DIV) << 4) | (tm_ppre(TM_CLK_APB1_DIV) << 8) |
                         (tm_ppre(TM_CLK_APB2_DIV) << 11);
    tm_reg_field(TM_RCC_CFGR, TM_CFGR_PRE_MASK, pre);
    tm_reg_field(TM_RCC_CFGR, TM_CFGR_SW_MASK, TM_CFGR_SW_PLL);
    if (!tm_wait_bits(TM_RCC_CFGR, TM_CFGR_SWS_MASK, TM_CFGR_SWS_PLL)) {
        tm_reg_field(TM_RCC_CFGR, TM_CFGR_PRE_MASK | TM_CFGR_SW_MASK, 0u);
        return tm_reset_state(TM_CLOCK_SWITCH_FAILED);
    }

    /* ART: reset the caches while they are off, then enable what the board file asks for. */
    tm_reg_clear(TM_FLASH_ACR, TM_FLASH_ACR_ENABLE_BITS);
    tm_reg_set(TM_FLASH_ACR, TM_FLASH_ACR_RESET_BITS);
    tm_reg_clear(TM_FLASH_ACR, TM_FLASH_ACR_RESET_BITS);
    tm_reg_set(TM_FLASH_ACR, TM_FLASH_ACR_ENABLE_BITS);

    tm_clock_state s;
    s.hclk_hz = TM_CLK_HCLK_HZ;
#if defined(TM_UART_KERNEL_PCLK1)
    s.uart_kernel_hz = TM_CLK_APB1_HZ;
#elif defined(TM_UART_KERNEL_PCLK2)
    s.uart_kernel_hz = TM_CLK_APB2_HZ;
#else
    s.uart_kernel_hz = TM_CLK_SYSCLK_HZ;
#endif
    s.status = TM_CLOCK_OK;
    return s;
}
