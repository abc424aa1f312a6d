/* 16x8 MUL with broadcasting: zero points 0, the int16 product (it fits in int32) requantized and clamped. */
#include "broadcast_s16.h"
#include "tinyml/requant.h"

static inline int16_t mul(const void *params, int32_t a, int32_t b) {
  const tm_mul_params *p = (const tm_mul_params *)params;
  return (int16_t)tm_clamp(tm_requantize(a * b, p->output_multiplier, p->output_shift), p->act_min, p->act_max);
}

void tm_mul_s16(const tm_mul_params *p, const tm_broadcast *bc, const int16_t *a, const int16_t *b, int16_t *output) {
  tm_broadcast_s16(bc, a, b, output, p, mul);
}
