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

/* An int64 accumulator times M (16x8 kernels: int16 activations, int8 weights, int64 bias), as TFLite's int64
 * MultiplyByQuantizedMultiplier: the multiplier rounded to 15 bits, one rounding shift (ties toward +infinity) of
 * 15 - shift bits. The generator keeps shift <= 14; the product fits in int64 for |x| < 2^47 (TFLite's bound). */
static inline int32_t tm_requantize_s64(int64_t x, int32_t multiplier, int32_t shift) {
  const int64_t reduced = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
  const int32_t total_shift = 15 - shift;
  return (int32_t)((x * reduced + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

/* An int64 accumulator times M with one rounding of the exact product (ties toward +infinity): what TFLite's 16x8
 * FULLY_CONNECTED with an int64 bias computes. x * multiplier is formed in two halves so that it cannot overflow for
 * |x| < 2^47; shift <= 14. */
static inline int32_t tm_requantize_s64_exact(int64_t x, int32_t multiplier, int32_t shift) {
  const int32_t total_shift = 31 - shift;  /* >= 17 */
  const int64_t high = (x >> 16) * multiplier;  /* floor(x / 2^16) * M */
  const int64_t low = (x & 0xFFFF) * (int64_t)multiplier + ((int64_t)1 << (total_shift - 1));
  return (int32_t)((high + (low >> 16)) >> (total_shift - 16));
}

static inline int32_t tm_clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

#endif
