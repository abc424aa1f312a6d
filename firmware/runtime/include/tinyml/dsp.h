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
/* lo(a)+lo(b), hi(a)+hi(b) in 16-bit lanes (wrapping) */
static inline int32_t tm_sadd16(int32_t a, int32_t b) { return (int32_t)__sadd16(a, b); }
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
static inline int32_t tm_sadd16(int32_t a, int32_t b) {
  return tm_pack16(tm_lo16(a) + tm_lo16(b), tm_hi16(a) + tm_hi16(b));
}
#endif

/* Unaligned-safe 32-bit load (a single LDR on Cortex-M4/M7/M33/M55). */
static inline uint32_t tm_load32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Per-output-channel requantization, precomputed by the generator for the fast path. The field order is the
 * register order of the kernels' LDM.
 *
 * TFLite's MultiplyByQuantizedMultiplier with the final shift rounding ties up, plus the output zero point zp, as
 * one SMLAL: out = hi32((x << pre) * M + K) >> post. With high = floor((x 2^l M + 2^30) / 2^31) (what the rounding
 * doubling high multiply computes, ties included) and floor((high + 2^(r-1)) / 2^r) + zp wanted:
 *   l = 0, 1 <= r <= 32: pre 0, K = 2^30 + 2^(30+r) + Z, post r - 1 (nested floors);
 *   r = 0: pre l + 1, K = 2^31 + Z, post 0, when |x| 2^(l+1) < 2^31;
 *   M = 0 or r > 32 (the output is always the zero point): M = 0, K = Z;
 * with Z = zp 2^(32+post) (zp added before the shift is zp after it) when the generator proves from the weights and
 * bias that hi32 stays in range for every accumulator the layer can produce (tm_dsp_requant.fast = 1), else Z = 0
 * and the kernel adds zp after the shift (fast = 2). Without any proof the variant calls the general 64-bit
 * tm_requantize_round_up (fast = 0). tm_dsp_apply (kernels_dsp.h) is the C form, TM_RQ_SAT_ASM the assembly. */
typedef struct {
  int32_t multiplier;  /* M in [2^30, 2^31), or 0 (the output is the zero point) */
  int32_t pre_shift;   /* 0, or left shift + 1 (the doubling of the rounding doubling high multiply) */
  int32_t post_shift;  /* right shift r - 1 >= 0, or 0 */
  int32_t k_lo, k_hi;  /* the 64-bit constant K */
} tm_requant_ch;

#endif
