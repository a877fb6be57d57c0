/*
 * tm_clock_hse_pll.c - STM32F4 (F469) and STM32F7 (F767) clock tree, shared: the two families
 * have the same RCC PLL, PWR over-drive and FLASH_ACR latency sequence (RM0386 for the F469,
 * RM0410 for the F767; the F7 calls PWR_CR/PWR_CSR "PWR_CR1/PWR_CSR1" at the same offsets).
 * HSE -> PLL (M, N, P from the board file) -> SYSCLK with voltage scale 1 and over-drive, flash
 * wait states and the ART accelerator.  The board files' values give 180 MHz on the F4 (HSE 8 MHz,
 * M=8, N=360, P=2; AHB /1, APB1 /4, APB2 /2; 5 wait states; prefetch, I- and D-cache on) and
 * 216 MHz on the F7 (HSE 8 MHz in bypass from the ST-LINK MCO, M=8, N=432, P=2; 7 wait states;
 * ART and prefetch on; the Cortex-M7 L1 caches are enabled afterwards, F7/tm_cpu_caches.c).
 *
 * Order (RM0386 §5.1.4 / RM0410 §4.1.4 "Entering Over-drive mode", and RM0386 §3.4.2 /
 * RM0410 §3.3.2 flash read access latency):
 *   PWR clock, VOS = scale 1 (only while the PLL is off) -> HSE on -> PLL configured and locked ->
 *   ODEN, wait ODRDY -> ODSWEN, wait ODSWRDY -> wait states -> bus prescalers -> SW = PLL.
 * Registers (RM0386 §6.3, RM0410 §5.3): RCC_CR HSEON b16, HSERDY b17, HSEBYP b18, PLLON b24, PLLRDY b25;
 * RCC_PLLCFGR PLLM[5:0], PLLN[14:6], PLLP[17:16] (P/2-1), PLLSRC b22 (1 = HSE), PLLQ/PLLR kept at
 * their reset values; RCC_CFGR SW[1:0] (10 = PLL), SWS[3:2], HPRE[7:4], PPRE1[12:10],
 * PPRE2[15:13]; PWR_CR VOS[15:14] (11 = scale 1), ODEN b16, ODSWEN b17; PWR_CSR ODRDY b16,
 * ODSWRDY b17 (RM0386 §5.4, RM0410 §4.4).
 */
#include "tm_board.h"
#include "tm_board_config.h"
#include "tm_family.h"
#include "tm_regs.h"

#if !defined(TM_CLK_OSC_HSE) && !defined(TM_CLK_OSC_HSE_BYPASS)
#error "this STM32F4/F7 clock code starts the PLL from the HSE"
#endif
#if !defined(TM_CLK_PLL_OUTPUT_P)
#error "STM32F4/F7 SYSCLK comes from the PLL's P output"
#endif
#if TM_CLK_PLL_M < 2u || TM_CLK_PLL_M > 63u || TM_CLK_PLL_N < 50u || TM_CLK_PLL_N > 432u
#error "PLL M or N out of the STM32F4/F7 range"
#endif
#if TM_CLK_PLL_DIV != 2u && TM_CLK_PLL_DIV != 4u && TM_CLK_PLL_DIV != 6u && TM_CLK_PLL_DIV != 8u
#error "PLLP must be 2, 4, 6 or 8"
#endif

#define TM_RCC_CR_HSEON (1u << 16)
#define TM_RCC_CR_HSERDY (1u << 17)
#define TM_RCC_CR_HSEBYP (1u << 18)
#define TM_RCC_CR_PLLON (1u << 24)
#define TM_RCC_CR_PLLRDY (1u << 25)
#define TM_PLLCFGR_MASK ((0x3Fu << 0) | (0x1FFu << 6) | (3u << 16) | (1u << 22))
#define TM_PLLCFGR_VALUE ((TM_CLK_PLL_M << 0) | (TM_CLK_PLL_N << 6) | \
                          ((TM_CLK_PLL_DIV / 2u - 1u) << 16) | (1u << 22))
#define TM_CFGR_SW_MASK 3u
#define TM_CFGR_SW_PLL 2u
#define TM_CFGR_SWS_MASK (3u << 2)
#define TM_CFGR_SWS_PLL (2u << 2)
#define TM_CFGR_PRE_MASK ((0xFu << 4) | (7u << 10) | (7u << 13))
#define TM_PWR_VOS_MASK (3u << 14)
#define TM_PWR_VOS_SCALE1 (3u << 14)
#define TM_PWR_ODEN (1u << 16)
#define TM_PWR_ODSWEN (1u << 17)
#define TM_PWR_ODRDY (1u << 16)
#define TM_PWR_ODSWRDY (1u << 17)
#define TM_ACR_LATENCY_MASK 0xFu

/* HPRE: 0xxx = /1, 1000 = /2 ... 1111 = /512; PPREx: 0xx = /1, 100 = /2 ... 111 = /16. */
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
    tm_board_enable_clock(TM_RCC_APB1ENR, 28u); /* PWREN */
    tm_reg_field(TM_PWR_CR, TM_PWR_VOS_MASK, TM_PWR_VOS_SCALE1);

#if defined(TM_CLK_OSC_HSE_BYPASS)
    tm_reg_set(TM_RCC_CR, TM_RCC_CR_HSEBYP);
#endif
    tm_reg_set(TM_RCC_CR, TM_RCC_CR_HSEON);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_HSERDY, TM_RCC_CR_HSERDY)) {
        return tm_reset_state(TM_CLOCK_HSE_FAILED);
    }

    tm_reg_clear(TM_RCC_CR, TM_RCC_CR_PLLON);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_PLLRDY, 0u)) {
        return tm_reset_state(TM_CLOCK_PLL_FAILED);
    }
    tm_reg_field(TM_RCC_PLLCFGR, TM_PLLCFGR_MASK, TM_PLLCFGR_VALUE);
    tm_reg_set(TM_RCC_CR, TM_RCC_CR_PLLON);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_PLLRDY, TM_RCC_CR_PLLRDY)) {
        return tm_reset_state(TM_CLOCK_PLL_FAILED);
    }

#if TM_CLK_OVERDRIVE
    tm_reg_set(TM_PWR_CR, TM_PWR_ODEN);
    if (!tm_wait_bits(TM_PWR_CSR, TM_PWR_ODRDY, TM_PWR_ODRDY)) {
        return tm_reset_state(TM_CLOCK_VOLTAGE_FAILED);
    }
    tm_reg_set(TM_PWR_CR, TM_PWR_ODSWEN);
    if (!tm_wait_bits(TM_PWR_CSR, TM_PWR_ODSWRDY, TM_PWR_ODSWRDY)) {
        return tm_reset_state(TM_CLOCK_VOLTAGE_FAILED);
    }
#endif

    tm_reg_field(TM_FLASH_ACR, TM_ACR_LATENCY_MASK, TM_FLASH_WAIT_STATES);
    (void)tm_wait_bits(TM_FLASH_ACR, TM_ACR_LATENCY_MASK, TM_FLASH_WAIT_STATES);

    const uint32_t pre = (tm_hpre(TM_CLK_AHB_DIV) << 4) | (tm_ppre(TM_CLK_APB1_DIV) << 10) |
                         (tm_ppre(TM_CLK_APB2_DIV) << 13);
    tm_reg_field(TM_RCC_CFGR, TM_CFGR_PRE_MASK, pre);
    tm_reg_field(TM_RCC_CFGR, TM_CFGR_SW_MASK, TM_CFGR_SW_PLL);
    if (!tm_wait_bits(TM_RCC_CFGR, TM_CFGR_SWS_MASK, TM_CFGR_SWS_PLL)) {
        tm_reg_field(TM_RCC_CFGR, TM_CFGR_PRE_MASK | TM_CFGR_SW_MASK, 0u);
        return tm_reset_state(TM_CLOCK_SWITCH_FAILED);
    }

    /* ART: reset the caches while they are off, then enable what the board file asks for
     * (RM0386 §3.5.2 / RM0410 §3.3.4: a cache may be reset only while it is disabled). */
    tm_reg_clear(TM_FLASH_ACR, TM_FLASH_ACR_ENABLE_BITS);
    tm_reg_set(TM_FLASH_ACR, TM_FLASH_ACR_RESET_BITS);
    tm_reg_clear(TM_FLASH_ACR, TM_FLASH_ACR_RESET_BITS);
    tm_reg_set(TM_FLASH_ACR, TM_FLASH_ACR_ENABLE_BITS);

    tm_clock_state s;
    s.hclk_hz = TM_CLK_HCLK_HZ;
#if defined(TM_UART_KERNEL_PCLK1)
    s.uart_kernel_hz = TM_CLK_APB1_HZ;
#else
    s.uart_kernel_hz = TM_CLK_APB2_HZ;
#endif
    s.status = TM_CLOCK_OK;
    return s;
}
