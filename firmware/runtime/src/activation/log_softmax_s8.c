/* Int8 LOG_SOFTMAX over the last dimension: TFLite's integer kernel (reference_integer_ops::LogSoftmax, which the
 * interpreter runs for int8) in gemmlowp's fixed point. Per row: the sum of exp(x - max) in Q12.19 (the generator
 * tabulates the exponential of every difference 0..255, 0 below diff_min), its natural log in Q5.26
 * (log_x_for_x_greater_than_or_equal_to_1), then each output: (x - max) rescaled to Q5.26 minus the log, divided by
 * 2^22 (rounding) onto the fixed output scale 16/256, plus 127; differences at or below the log's reach (the
 * reversed scaling of log - 32) give -128. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* Wrapping int32 arithmetic (gemmlowp's FixedPoint + and -). */
static inline int32_t add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t mul(int32_t a, int32_t b) { return tm_rounding_doubling_high_mul(a, b); }

static inline int32_t saturate(int64_t v) { return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v); }

/* x * 2^exponent, exponent >= 0, saturated (gemmlowp's SaturatingRoundingMultiplyByPOT for a left shift). */
static int32_t times_pot(int32_t x, int exponent) {
  return exponent == 0 ? x : saturate((int64_t)x * ((int64_t)1 << exponent));
}

/* (a + b) / 2 rounded half away from zero (gemmlowp's RoundingHalfSum). */
static int32_t rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + b;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29 from 48/17 - 32/17 * d. */
static int32_t one_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
  int32_t x = add(1515870810, mul(half_denominator, -1010580540));
  for (int i = 0; i < 3; ++i) {
    const int32_t one_minus = sub(1 << 29, mul(half_denominator, x));
    x = add(x, times_pot(mul(x, one_minus), 2));
  }
  return times_pot(x, 1);
}

/* log(z) of z >= 1 in Q12.19, as Q5.26: z = 2^e * r with r near 1 (the better of two normalisations, one
 * premultiplied by sqrt(1/2)), log r by a rational approximation around 2^(-1/4); accumulated with 6 integer bits. */
static int32_t log_q5(int32_t z) {
  const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
  const int32_t alpha_n = 117049297, alpha_d = 127690142, alpha_i = 1057819769, alpha_f = 638450708;
  const int32_t shifted_quarter = 1 << 23;  /* 1/4 with 6 integer bits */
  const int a_headroom_plus_1 = __builtin_clz((uint32_t)z);
  const int32_t r_a = times_pot(mul(times_pot(z, a_headroom_plus_1 - 1), sqrt_half), 1);
  const int32_t pow_a = saturate((int64_t)times_pot(12 - a_headroom_plus_1, 25) + shifted_quarter);
  const int b_headroom = __builtin_clz((uint32_t)mul(z, sqrt_half)) - 1;
  const int32_t r_b = times_pot(z, b_headroom);
  const int32_t pow_b = saturate((int64_t)times_pot(12 - b_headroom, 25) - shifted_quarter);
  const int32_t r = r_a < r_b ? r_a : r_b;
  const int32_t pow = pow_a > pow_b ? pow_a : pow_b;
  const int32_t p = rounding_half_sum(r, sqrt_sqrt_half);
  const int32_t q = add(sub(r, sqrt_sqrt_half), sub(r, sqrt_sqrt_half));
  const int32_t q2 = mul(q, q);
  const int32_t num = add(mul(q, r), mul(mul(q, q2), alpha_n));
  const int32_t denom = add(mul(p, add(add(alpha_i, q), mul(alpha_d, q2))), mul(alpha_f, q));
  const int32_t recip = one_over_one_plus_x(denom);
  return times_pot(add(mul(pow, log_2), mul(tm_rounding_divide_by_pot(num, 6), recip)), 1);
}

void tm_log_softmax_s8(const tm_log_softmax_params *p, const int8_t *input, int8_t *output) {
  for (int32_t r = 0; r < p->rows; ++r, input += p->depth, output += p->depth) {
    int32_t max_val = -128;
    for (int32_t j = 0; j < p->depth; ++j) if (input[j] > max_val) max_val = input[j];
    int32_t sum = 0;
    for (int32_t j = 0; j < p->depth; ++j) sum = add(sum, p->exp_table[max_val - input[j]]);
    const int32_t log_sum = log_q5(sum);
    int32_t reach = tm_requantize(add(log_sum, INT32_MIN), p->reverse_multiplier, p->reverse_shift);
    if (reach < p->diff_min - 1) reach = p->diff_min - 1;
    for (int32_t j = 0; j < p->depth; ++j) {
      const int32_t diff = input[j] - max_val;
      int32_t y = -128;
      if (diff > reach) {
        const int32_t diff_q5 = tm_requantize(diff, p->input_multiplier, p->input_shift);
        y = tm_clamp(tm_rounding_divide_by_pot(sub(diff_q5, log_sum), 22) + 127, -128, 127);
      }
      output[j] = (int8_t)y;
    }
  }
}
