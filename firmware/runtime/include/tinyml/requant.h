/* Fixed-point requantization, bit-exact with TFLite's reference integer arithmetic.
 * A real multiplier M is stored as (multiplier, shift): M = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31). */
#ifndef TINYML_REQUANT_H
#define TINYML_REQUANT_H
#include <stdint.h>

/* round(a * b / 2^31), saturating the single overflow case a == b == INT32_MIN. */
static inline int32_t tm_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
  return (int32_t)((ab + nudge) / (1LL << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t tm_rounding_divide_by_pot(int32_t x, int exponent) {
  int32_t mask = (int32_t)((1LL << exponent) - 1);
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tm_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  int left = shift > 0 ? shift : 0;
  int right = shift > 0 ? 0 : -shift;
  return tm_rounding_divide_by_pot(tm_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}

/* The same with the final shift rounding ties toward +infinity, as TFLite's SIMD output stages do (vqrdmulh then
 * vrshl): its convolution and fully connected GEMM paths everywhere, and its depthwise convolution, mean and
 * elementwise kernels on the channels or elements that fill whole SIMD blocks (the scalar tail rounds ties away). */
static inline int32_t tm_requantize_round_up(int32_t x, int32_t multiplier, int32_t shift) {
  int left = shift > 0 ? shift : 0;
  int right = shift > 0 ? 0 : -shift;
  int32_t high = tm_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), multiplier);
  return right > 0 ? (int32_t)(((int64_t)high + (1LL << (right - 1))) >> right) : high;
}

static inline int32_t tm_clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

#endif
