/*
 * tm_dsp.h - the Cortex-M DSP SIMD operations used by the s8_opt kernels.
 *
 * On Arm targets with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33 with DSP, ...) each
 * tm_ function is the ACLE intrinsic of the same name (one instruction).  Elsewhere (the x86 host
 * build, Cortex-M0) each is a portable C function computing the same result; the Q flag and GE
 * flags are not modelled (no kernel reads them: tm_max_s8x4 hides the SSUB8/SEL pair).
 *
 * Word notation: a 32-bit word holds int8 lanes b0..b3 (b0 in the low byte) or int16 lanes lo, hi.
 */
#ifndef TM_DSP_H
#define TM_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1)
#include <arm_acle.h>
#define TM_HAVE_DSP 1
#else
#define TM_HAVE_DSP 0
#endif

/* -- memory access: one 32-bit LDR/STR, alignment not required (unaligned costs extra on M4) -- */

/* Four int8 values as one word (b0 = p[0]). */
static inline int32_t tm_read_s8x4(const int8_t *p)
{
    int32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* Four int8 values as one word, advancing the pointer by 4. */
static inline int32_t tm_read_s8x4_inc(const int8_t **p)
{
    const int32_t w = tm_read_s8x4(*p);
    *p += 4;
    return w;
}

/* Two int16 values as one word (lo = p[0]). */
static inline int32_t tm_read_s16x2(const int16_t *p)
{
    int32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* Two int16 values as one word, advancing the pointer by 2. */
static inline int32_t tm_read_s16x2_inc(const int16_t **p)
{
    const int32_t w = tm_read_s16x2(*p);
    *p += 2;
    return w;
}

/* Store a word of two int16 values (lo to p[0]). */
static inline void tm_write_s16x2(int16_t *p, int32_t w)
{
    memcpy(p, &w, 4);
}

/* Store a word of four int8 values (b0 to p[0]). */
static inline void tm_write_s8x4(int8_t *p, int32_t w)
{
    memcpy(p, &w, 4);
}

/* Rotate right by n bits, 1 <= n <= 31 (GCC emits one ROR; GCC 12's arm_acle.h has no __ror). */
static inline uint32_t tm_ror(uint32_t x, uint32_t n)
{
    return (x >> n) | (x << (32u - n));
}

#if TM_HAVE_DSP

/* Sign-extend bytes b0 and b2 to int16 lanes (lo = b0, hi = b2). */
static inline int32_t tm_sxtb16(int32_t x) { return __sxtb16(x); }

/* Per int16 lane: a + sign-extended byte (lo: a.lo + b0, hi: a.hi + b2), wrapping. */
static inline int32_t tm_sxtab16(int32_t a, int32_t x) { return __sxtab16(a, x); }

/* acc + a.lo * b.lo + a.hi * b.hi. */
static inline int32_t tm_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }

/* acc + a.lo * b.lo. */
static inline int32_t tm_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }

/* acc + a.hi * b.hi. */
static inline int32_t tm_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }

/* Per int8 lane: max(a, b) (SSUB8 sets the GE flags, SEL picks). */
static inline int32_t tm_max_s8x4(int32_t a, int32_t b)
{
    (void)__ssub8(a, b);
    return (int32_t)__sel((uint32_t)a, (uint32_t)b);
}

/* Per int8 lane: min(a, b) (SSUB8, then SEL with the operands swapped). */
static inline int32_t tm_min_s8x4(int32_t a, int32_t b)
{
    (void)__ssub8(a, b);
    return (int32_t)__sel((uint32_t)b, (uint32_t)a);
}

#else /* portable equivalents */

static inline int32_t tm_lane_lo(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t tm_lane_hi(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t tm_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

static inline int32_t tm_sxtb16(int32_t x)
{
    const int32_t b0 = (int32_t)(int8_t)(uint8_t)((uint32_t)x & 0xFFu);
    const int32_t b2 = (int32_t)(int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu);
    return tm_pack16(b0, b2);
}

static inline int32_t tm_sxtab16(int32_t a, int32_t x)
{
    const int32_t e = tm_sxtb16(x);
    return tm_pack16(tm_lane_lo(a) + tm_lane_lo(e), tm_lane_hi(a) + tm_lane_hi(e));
}

static inline int32_t tm_smlad(int32_t a, int32_t b, int32_t acc)
{
    const uint32_t p0 = (uint32_t)(tm_lane_lo(a) * tm_lane_lo(b));
    const uint32_t p1 = (uint32_t)(tm_lane_hi(a) * tm_lane_hi(b));
    return (int32_t)((uint32_t)acc + p0 + p1);
}

static inline int32_t tm_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tm_lane_lo(a) * tm_lane_lo(b)));
}

static inline int32_t tm_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tm_lane_hi(a) * tm_lane_hi(b)));
}

static inline int32_t tm_max_s8x4(int32_t a, int32_t b)
{
    uint32_t r = 0u;
    for (uint32_t i = 0u; i < 32u; i += 8u) {
        const int8_t x = (int8_t)(uint8_t)((uint32_t)a >> i);
        const int8_t y = (int8_t)(uint8_t)((uint32_t)b >> i);
        r |= (uint32_t)(uint8_t)((x >= y) ? x : y) << i;
    }
    return (int32_t)r;
}

static inline int32_t tm_min_s8x4(int32_t a, int32_t b)
{
    uint32_t r = 0u;
    for (uint32_t i = 0u; i < 32u; i += 8u) {
        const int8_t x = (int8_t)(uint8_t)((uint32_t)a >> i);
        const int8_t y = (int8_t)(uint8_t)((uint32_t)b >> i);
        r |= (uint32_t)(uint8_t)((x >= y) ? y : x) << i;
    }
    return (int32_t)r;
}

#endif /* TM_HAVE_DSP */

/* Pack halfwords: lo from a, hi from (b << sh) (PKHBT; GCC emits the instruction on Arm). */
static inline int32_t tm_pkhbt(int32_t a, int32_t b, uint32_t sh)
{
    return (int32_t)(((uint32_t)a & 0x0000FFFFu) | (((uint32_t)b << sh) & 0xFFFF0000u));
}

/* Pack halfwords: hi from a, lo from (b >> sh) arithmetic (PKHTB). */
static inline int32_t tm_pkhtb(int32_t a, int32_t b, uint32_t sh)
{
    return (int32_t)(((uint32_t)a & 0xFFFF0000u) | ((uint32_t)(b >> sh) & 0x0000FFFFu));
}

/*
 * Widen four int8 to int16 in natural order: *lo_pair = (b0, b1), returns (b2, b3).
 * SXTB16 gives (b0, b2) and, after a rotate by 8, (b1, b3); two PKH re-pair them.
 */
static inline int32_t tm_widen_s8x4(int32_t w, int32_t *lo_pair)
{
    const int32_t even = tm_sxtb16(w);                        /* b0, b2 */
    const int32_t odd = tm_sxtb16((int32_t)tm_ror((uint32_t)w, 8u)); /* b1, b3 */
    *lo_pair = tm_pkhbt(even, odd, 16u);                      /* b0, b1 */
    return tm_pkhtb(odd, even, 16u);                          /* b2, b3 */
}

/* As tm_widen_s8x4 with a per-lane offset: offset2 holds the offset in both int16 lanes. */
static inline int32_t tm_widen_offset_s8x4(int32_t w, int32_t offset2, int32_t *lo_pair)
{
    const int32_t even = tm_sxtab16(offset2, w);                        /* b0+o, b2+o */
    const int32_t odd = tm_sxtab16(offset2, (int32_t)tm_ror((uint32_t)w, 8u)); /* b1+o, b3+o */
    *lo_pair = tm_pkhbt(even, odd, 16u);
    return tm_pkhtb(odd, even, 16u);
}

/* All four int8 lanes set to v. */
static inline int32_t tm_dup8(int32_t v)
{
    const uint32_t b = (uint32_t)v & 0xFFu;
    return (int32_t)(b | (b << 8) | (b << 16) | (b << 24));
}

/* Both int16 lanes set to v. */
static inline int32_t tm_dup16(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16));
}

#endif /* TM_DSP_H */
