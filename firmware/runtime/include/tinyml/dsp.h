/* SIMD building blocks of the *_dsp kernel variants (Cortex-M DSP extension: M4, M7, M33, M55).
 *
 * On an Arm core with the DSP extension these are the ACLE intrinsics of arm_acle.h (one instruction each); anywhere
 * else (the host) they are emulated in plain C with exactly the same results, so the DSP variants are tested bit for
 * bit on the host too, and in QEMU with the real instructions.
 *
 * Data layout convention of the variants: int8 data are widened four at a time with SXTB16, which yields the lanes
 * (b0, b2) and (b1, b3); both operands of a dot product are widened the same way, so the pairing never needs a
 * PKHBT. The generator stores weights accordingly (see tinyml/codegen/ops/dsp.py).
 */
#ifndef TINYML_DSP_H
#define TINYML_DSP_H
#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TM_DSP_NATIVE 1
/* (b0, b2) of a word of four int8, sign-extended to int16 lanes */
static inline int32_t tm_sxtb16(uint32_t x) { return (int32_t)__sxtb16((int32_t)x); }
/* (b1, b3) */
static inline int32_t tm_sxtb16_ror8(uint32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
/* acc + lo(a)*lo(b) + hi(a)*hi(b) */
static inline int32_t tm_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* acc + lo(a)*lo(b), acc + hi(a)*hi(b) */
static inline int32_t tm_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t tm_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
/* (a * b + 2^31) >> 32 */
static inline int32_t tm_smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
/* saturate to int8 */
static inline int32_t tm_ssat8(int32_t x) { return __ssat(x, 8); }
#else
#define TM_DSP_NATIVE 0
static inline int32_t tm_pack16(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)(uint16_t)(int16_t)lo) | ((uint32_t)(uint16_t)(int16_t)hi << 16));
}
static inline int32_t tm_lo16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t tm_hi16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t tm_sxtb16(uint32_t x) { return tm_pack16((int8_t)(x & 0xFF), (int8_t)((x >> 16) & 0xFF)); }
static inline int32_t tm_sxtb16_ror8(uint32_t x) { return tm_pack16((int8_t)((x >> 8) & 0xFF), (int8_t)(x >> 24)); }
static inline int32_t tm_smlad(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tm_lo16(a) * tm_lo16(b)) + (uint32_t)(tm_hi16(a) * tm_hi16(b)));
}
static inline int32_t tm_smlabb(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tm_lo16(a) * tm_lo16(b)));
}
static inline int32_t tm_smlatt(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tm_hi16(a) * tm_hi16(b)));
}
static inline int32_t tm_smmulr(int32_t a, int32_t b) {
  return (int32_t)(((int64_t)a * (int64_t)b + (1LL << 31)) >> 32);
}
static inline int32_t tm_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif

/* Unaligned-safe 32-bit load (a single LDR on Cortex-M4/M7/M33/M55). */
static inline uint32_t tm_load32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Per-output-channel requantization, precomputed by the generator for the fast path (see tm_requant_fast). */
typedef struct {
  int32_t multiplier;  /* M in [2^30, 2^31) */
  int32_t pre_shift;   /* left shift + 1 (the doubling of the rounding doubling high multiply) */
  int32_t post_shift;  /* right shift r >= 0 */
  int32_t add;         /* (r > 0 ? 2^(r-1) : 0) + output_zero_point * 2^r */
} tm_requant_ch;

/* TFLite's MultiplyByQuantizedMultiplier with the final shift rounding ties up, plus the output zero point:
 *   high = (x * 2^l * M + 2^30) >> 31  ==  SMMULR(x << (l+1), M)   when |x| * 2^(l+1) < 2^31,
 *   out  = (high + 2^(r-1)) >> r + zp  ==  (high + add) >> r        (zp * 2^r is a multiple of 2^r).
 * The generator proves |x| * 2^(l+1) < 2^31 and |high| + |add| < 2^31 for every channel from the weights and the
 * bias before it selects this path; otherwise the variant calls the general 64-bit tm_requantize_round_up. */
static inline int32_t tm_requant_fast(int32_t x, const tm_requant_ch *c) {
  return (tm_smmulr((int32_t)((uint32_t)x << c->pre_shift), c->multiplier) + c->add) >> c->post_shift;
}

#endif
