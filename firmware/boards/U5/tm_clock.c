/*
 * tm_clock.c - STM32U5 (STM32U575) clock tree: MSIS 4 MHz -> PLL1 (M, N, R from the board file)
 * -> SYSCLK, voltage range 1 with the EPOD booster, flash wait states and prefetch, then the
 * ICACHE.  The values (160 MHz: M=1, N=80, R=2; 4 wait states; prefetch on; AHB/APB1/APB2 /1;
 * ICACHE 2-way) are the board file's.  TrustZone is off (the board's default): every register
 * is reached through its non-secure alias (REF 2.1).
 *
 * Tags: REF = shared/reference/cortex-m33-u575.md (section given), which cites S6 (CMSIS device
 * header stm32u575xx.h: addresses, bit positions), S7 (ST HAL/LL sources: sequence rules, VOS
 * encodings, PLL limits) and S8 (ST's NUCLEO-U575ZI-Q SystemClock_Config: the 160 MHz values).
 * RM0456 is the primary document; where the notes are not sure, the comment says so.
 *
 * Order (REF 2.5):
 *   PWR clock -> MSIS ready -> PLL1 off, configured (source, input range, M, MBOOST, R output)
 *   -> VOS = range 1 + BOOSTEN, wait VOSRDY and ACTVOSRDY -> PLL1 on, wait PLL1RDY
 *   -> FLASH_ACR LATENCY (+ PRFTEN), read back -> wait BOOSTRDY -> prescalers, SW = PLL1, wait SWS
 *   -> ICACHE: 2-way (WAYSEL), wait for the reset invalidation to end, EN.
 * PLL1CFGR is written before BOOSTEN is set: the booster's clock is PLL1's input divided by
 * PLL1MBOOST, and ST's code never changes PLL1MBOOST while the booster is on (REF 2.3, S7).
 * The regulator stays the reset one (LDO); the SMPS switch (PWR_CR3.REGSEL, REF 2.3) changes
 * the power drawn, not the cycle counts.
 */
#include "tm_board.h"
#include "tm_board_config.h"
#include "tm_family.h"
#include "tm_regs.h"

#if !defined(TM_CLK_OSC_MSI) || TM_CLK_OSC_HZ != 4000000u
#error "this STM32U5 clock code starts PLL1 from the 4 MHz reset MSIS only"
#endif
#if !defined(TM_CLK_PLL_OUTPUT_R)
#error "STM32U5 SYSCLK comes from PLL1's R output"
#endif
/* PLL1M 1..16 (4-bit field), PLL1N 4..512, PLL1R 1 or even up to 128 (REF 2.5, S7). */
#if TM_CLK_PLL_M < 1u || TM_CLK_PLL_M > 16u || TM_CLK_PLL_N < 4u || TM_CLK_PLL_N > 512u
#error "PLL1 M or N out of the STM32U5 range"
#endif
#if TM_CLK_PLL_DIV > 128u || (TM_CLK_PLL_DIV != 1u && (TM_CLK_PLL_DIV % 2u) != 0u)
#error "PLL1R must be 1 or even, up to 128"
#endif

/* PLL1 input (after M) and VCO: the input range field PLL1RGE covers 4-8 MHz (00) or 8-16 MHz
 * (11); the VCO runs at 128-544 MHz in range 1 (REF 2.5, S7 comments). */
#define TM_PLL1_IN_HZ (TM_CLK_OSC_HZ / TM_CLK_PLL_M)
#define TM_PLL1_VCO_HZ (TM_PLL1_IN_HZ * TM_CLK_PLL_N)
#if TM_PLL1_IN_HZ >= 4000000u && TM_PLL1_IN_HZ <= 8000000u
#define TM_PLL1RGE 0u
#elif TM_PLL1_IN_HZ > 8000000u && TM_PLL1_IN_HZ <= 16000000u
#define TM_PLL1RGE 3u
#else
#error "PLL1 input (oscillator / M) must be 4-16 MHz"
#endif
#if TM_PLL1_VCO_HZ < 128000000u || TM_PLL1_VCO_HZ > 544000000u
#error "PLL1 VCO out of 128-544 MHz"
#endif

/* The bus prescaler fields are 0 (/1) at reset, when HCLK = PCLKx = the 4 MHz MSIS (REF 2.5);
 * the notes give the fields' positions but not the codes of the other dividers, so only /1 is
 * supported until they are read in RM0456.  APB3 (RCC_CFGR3.PPRE3) stays at its reset /1. */
#if TM_CLK_AHB_DIV != 1u || TM_CLK_APB1_DIV != 1u || TM_CLK_APB2_DIV != 1u
#error "the STM32U5 clock code supports AHB/APB1/APB2 /1 only"
#endif

/* RCC_CR (REF 3.4, S6). */
#define TM_RCC_CR_MSISRDY (1u << 2)
#define TM_RCC_CR_PLL1ON (1u << 24)
#define TM_RCC_CR_PLL1RDY (1u << 25)
/* RCC_PLL1CFGR (REF 2.5, S6): PLL1SRC[1:0] (01 = MSIS), PLL1RGE[3:2], PLL1FRACEN b4,
 * PLL1M[11:8] (M-1), PLL1MBOOST[15:12] (0 = /1), PLL1PEN b16, PLL1QEN b17, PLL1REN b18. */
#define TM_PLL1CFGR_MASK ((3u << 0) | (3u << 2) | (1u << 4) | (0xFu << 8) | (0xFu << 12) | \
                          (1u << 16) | (1u << 17) | (1u << 18))
#define TM_PLL1CFGR_VALUE ((1u << 0) | (TM_PLL1RGE << 2) | ((TM_CLK_PLL_M - 1u) << 8) | \
                           (1u << 18))
/* RCC_PLL1DIVR (REF 2.5, S6): N-1 [8:0], P-1 [15:9], Q-1 [22:16], R-1 [30:24].  P and Q are
 * not enabled (PLL1PEN/QEN = 0); they get /2 as in ST's example (S8).  160 MHz: 0x0101_024F. */
#define TM_PLL1DIVR_VALUE ((TM_CLK_PLL_N - 1u) | ((2u - 1u) << 9) | ((2u - 1u) << 16) | \
                           ((TM_CLK_PLL_DIV - 1u) << 24))
/* RCC_CFGR1 (REF 2.5, S6): SW[1:0] 11 = PLL1 (00 = MSIS), SWS[3:2]. */
#define TM_CFGR1_SW_MASK 3u
#define TM_CFGR1_SW_PLL1 3u
#define TM_CFGR1_SWS_MASK (3u << 2)
#define TM_CFGR1_SWS_PLL1 (3u << 2)
/* RCC_CFGR2 (REF 2.5, S6): HPRE[3:0], PPRE1[6:4], PPRE2[10:8]; all 0 = /1 here. */
#define TM_CFGR2_PRE_MASK ((0xFu << 0) | (7u << 4) | (7u << 8))
/* RCC_AHB3ENR PWREN (REF 2.5, S6). */
#define TM_AHB3ENR_PWREN_BIT 2u
/* PWR_VOSR (REF 2.3, S6/S7): VOS[17:16] 11 = range 1 (1.2 V), BOOSTEN b18, VOSRDY b15,
 * BOOSTRDY b14; PWR_SVMSR ACTVOSRDY b15. */
#define TM_VOSR_VOS_MASK (3u << 16)
#define TM_VOSR_VOS_RANGE1 (3u << 16)
#define TM_VOSR_BOOSTEN (1u << 18)
#define TM_VOSR_VOSRDY (1u << 15)
#define TM_VOSR_BOOSTRDY (1u << 14)
#define TM_SVMSR_ACTVOSRDY (1u << 15)
/* FLASH_ACR LATENCY[3:0] (REF 2.2, S7); PRFTEN b8 comes in TM_FLASH_ACR_ENABLE_BITS. */
#define TM_ACR_LATENCY_MASK 0xFu
/* ICACHE_CR WAYSEL b2 (1 = 2-way, the reset value; writable only while EN = 0) and ICACHE_SR
 * BUSYF b0 (REF 2.4, S6/S7). */
#define TM_ICACHE_CR_WAYSEL (1u << 2)
#define TM_ICACHE_SR_BUSYF (1u << 0)

static tm_clock_state tm_reset_state(tm_clock_status st)
{
    tm_clock_state s;
    s.hclk_hz = TM_RESET_CLOCK_HZ;
    s.uart_kernel_hz = TM_RESET_CLOCK_HZ;
    s.status = st;
    return s;
}

/* ICACHE on (REF 2.4): off after reset, and bypassed while the automatic invalidation that
 * follows reset runs (BUSYF = 1; ST tells software to wait for it, S7).  Associativity from the
 * board file (icache_ways: WAYSEL = 1 for 2-way, 0 for direct-mapped), set while disabled. */
static void tm_icache_enable(void)
{
    if (TM_ACCEL_ENABLE_BITS == 0u) {
        return;
    }
    (void)tm_wait_bits(TM_ICACHE_SR, TM_ICACHE_SR_BUSYF, 0u);
#if TM_ACCEL_ICACHE_WAYS == 1u
    tm_reg_clear(TM_ICACHE_CR, TM_ICACHE_CR_WAYSEL);
#elif TM_ACCEL_ICACHE_WAYS == 2u
    tm_reg_set(TM_ICACHE_CR, TM_ICACHE_CR_WAYSEL);
#else
#error "the STM32U5 ICACHE is 1- or 2-way"
#endif
    tm_reg_set(TM_ICACHE_CR, TM_ACCEL_ENABLE_BITS);
    tm_dsb();
    tm_isb();
}

tm_clock_state tm_clock_init(void)
{
    tm_board_enable_clock(TM_RCC_AHB3ENR, TM_AHB3ENR_PWREN_BIT);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_MSISRDY, TM_RCC_CR_MSISRDY)) {
        return tm_reset_state(TM_CLOCK_HSE_FAILED);
    }

    /* PLL1 configured only while off; MBOOST (/1) written before the booster is enabled. */
    tm_reg_clear(TM_RCC_CR, TM_RCC_CR_PLL1ON);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_PLL1RDY, 0u)) {
        return tm_reset_state(TM_CLOCK_PLL_FAILED);
    }
    tm_reg_field(TM_RCC_PLL1CFGR, TM_PLL1CFGR_MASK, TM_PLL1CFGR_VALUE);
    TM_REG32(TM_RCC_PLL1DIVR) = TM_PLL1DIVR_VALUE;

    /* Range 1 and the EPOD booster in one write; the PLL may not run in range 4 (REF 2.5). */
    tm_reg_field(TM_PWR_VOSR, TM_VOSR_VOS_MASK | TM_VOSR_BOOSTEN,
                 TM_VOSR_VOS_RANGE1 | TM_VOSR_BOOSTEN);
    if (!tm_wait_bits(TM_PWR_VOSR, TM_VOSR_VOSRDY, TM_VOSR_VOSRDY) ||
        !tm_wait_bits(TM_PWR_SVMSR, TM_SVMSR_ACTVOSRDY, TM_SVMSR_ACTVOSRDY)) {
        return tm_reset_state(TM_CLOCK_VOLTAGE_FAILED);
    }

    tm_reg_set(TM_RCC_CR, TM_RCC_CR_PLL1ON);
    if (!tm_wait_bits(TM_RCC_CR, TM_RCC_CR_PLL1RDY, TM_RCC_CR_PLL1RDY)) {
        return tm_reset_state(TM_CLOCK_PLL_FAILED);
    }

    /* Wait states (and prefetch) before the clock goes up; read back to be sure they took. */
    tm_reg_field(TM_FLASH_ACR, TM_ACR_LATENCY_MASK | TM_FLASH_ACR_ENABLE_BITS,
                 TM_FLASH_WAIT_STATES | TM_FLASH_ACR_ENABLE_BITS);
    (void)tm_wait_bits(TM_FLASH_ACR, TM_ACR_LATENCY_MASK, TM_FLASH_WAIT_STATES);

    /* The booster must be ready before SYSCLK switches to PLL1 (REF 2.3, S7). */
    if (!tm_wait_bits(TM_PWR_VOSR, TM_VOSR_BOOSTRDY, TM_VOSR_BOOSTRDY)) {
        return tm_reset_state(TM_CLOCK_VOLTAGE_FAILED);
    }

    tm_reg_field(TM_RCC_CFGR2, TM_CFGR2_PRE_MASK, 0u);
    tm_reg_field(TM_RCC_CFGR1, TM_CFGR1_SW_MASK, TM_CFGR1_SW_PLL1);
    if (!tm_wait_bits(TM_RCC_CFGR1, TM_CFGR1_SWS_MASK, TM_CFGR1_SWS_PLL1)) {
        tm_reg_field(TM_RCC_CFGR1, TM_CFGR1_SW_MASK, 0u);
        return tm_reset_state(TM_CLOCK_SWITCH_FAILED);
    }

    tm_icache_enable();

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
