/* Int8 L2_NORMALIZATION over the last dimension, TFLite's integer arithmetic: per row the sum of squared
 * (x - zero_point), its inverse square root as a quantized multiplier (GetInvSqrtQuantizedMultiplierExp: five
 * Newton-Raphson steps in gemmlowp's 3-integer-bit fixed point, from 1), then each (x - zero_point) requantized by
 * it onto the output scale 1/128 and clamped. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent: a left shift saturating at the int32 range. */
static int32_t saturating_shift_left(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* 1 / sqrt(sum) as multiplier * 2^(shift - 31) (sum of at most 2^16 squares of 255, so it fits int32). */
static void inv_sqrt(int32_t sum, int32_t *multiplier, int32_t *shift) {
  if (sum <= 1) {
    *multiplier = INT32_MAX;
    *shift = 0;
    return;
  }
  int32_t exponent = 11;
  while (sum >= (1 << 29)) {
    sum /= 4;
    ++exponent;
  }
  int leading_zeros = 0;
  while (!((uint32_t)sum & (0x80000000u >> leading_zeros))) ++leading_zeros;
  const int pairs = (leading_zeros - 1) / 2 - 1;
  exponent -= pairs;
  sum <<= 2 * pairs;
  const int32_t half_input = tm_rounding_divide_by_pot(sum >> 1, 1);
  const int32_t half_three = (1 << 28) + (1 << 27);  /* 1.5 with 3 integer bits */
  int32_t x = 1 << 28;                                /* 1.0 */
  for (int i = 0; i < 5; ++i) {
    const int32_t x3 = saturating_shift_left(
        tm_rounding_doubling_high_mul(tm_rounding_doubling_high_mul(x, x), x), 6);
    const int32_t a = tm_rounding_doubling_high_mul(half_three, x);
    const int32_t b = tm_rounding_doubling_high_mul(half_input, x3);
    x = saturating_shift_left((int32_t)((uint32_t)a - (uint32_t)b), 3);
  }
  x = tm_rounding_doubling_high_mul(x, 1518500250);   /* sqrt(2) / 2 */
  if (exponent < 0) {
    x = (int32_t)((uint32_t)x << -exponent);
    exponent = 0;
  }
  *multiplier = x;
  *shift = -exponent;
}

void tm_l2_normalization_s8(int32_t rows, int32_t depth, int32_t zero_point, const int8_t *input, int8_t *output) {
  for (int32_t r = 0; r < rows; ++r, input += depth, output += depth) {
    int32_t sum = 0;
    for (int32_t i = 0; i < depth; ++i) sum += (input[i] - zero_point) * (input[i] - zero_point);
    int32_t multiplier, shift;
    inv_sqrt(sum, &multiplier, &shift);
    for (int32_t i = 0; i < depth; ++i)
      output[i] = (int8_t)tm_clamp(tm_requantize(input[i] - zero_point, multiplier, shift + 7), -128, 127);
  }
}
