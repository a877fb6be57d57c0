/*
 * tm_cpu_caches.c - the STM32F7's Cortex-M7 L1 instruction and data caches.
 */
#include "tm_board.h"
#include "tm_board_config.h"
#include "tm_regs.h"

/*
 * Cortex-M7 L1 caches (ARMv7-M ARM B2.2.7 cache maintenance; Cortex-M7 TRM §4.1 and the
 * "Enabling the caches" sequence): invalidate the I-cache (ICIALLU), enable CCR.IC; select the
 * L1 data cache (CSSELR = 0), read its geometry from CCSIDR (sets-1 [27:13], ways-1 [12:3],
 * log2(words per line)-2 [2:0]), invalidate every set/way through DCISW (way in the top bits,
 * set above the line offset), enable CCR.DC.  DSB/ISB around each step.
 */
void tm_cpu_caches_enable(void)
{
#if TM_CPU_CACHES
    tm_dsb();
    tm_isb();
    TM_REG32(TM_SCB_ICIALLU) = 0u;
    tm_dsb();
    tm_isb();
    TM_REG32(TM_SCB_CCR) |= TM_SCB_CCR_IC;
    tm_dsb();
    tm_isb();

    TM_REG32(TM_SCB_CSSELR) = 0u;
    tm_dsb();
    const uint32_t ccsidr = TM_REG32(TM_SCB_CCSIDR);
    const uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    const uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    const uint32_t line_shift = (ccsidr & 7u) + 4u; /* log2(line bytes) */
    uint32_t way_shift = 32u;
    for (uint32_t w = ways - 1u; w != 0u; w >>= 1) {
        way_shift--;
    }
    for (uint32_t set = 0; set < sets; set++) {
        for (uint32_t way = 0; way < ways; way++) {
            const uint32_t way_bits = way_shift < 32u ? (way << way_shift) : 0u;
            TM_REG32(TM_SCB_DCISW) = way_bits | (set << line_shift);
        }
    }
    tm_dsb();
    TM_REG32(TM_SCB_CCR) |= TM_SCB_CCR_DC;
    tm_dsb();
    tm_isb();
#endif
}
