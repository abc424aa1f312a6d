/* 16x8 ADD (TFLite's general int16 path) with broadcasting: zero points 0, both inputs shifted left by 15 and
 * rescaled to twice the larger input scale, summed, requantized to the output and clamped to the fused activation. */
#include "broadcast_s16.h"
#include "tinyml/requant.h"

static inline int16_t add(const void *params, int32_t a, int32_t b) {
  const tm_add_params *p = (const tm_add_params *)params;
  const int32_t sa = tm_requantize(a * (1 << p->left_shift), p->a_multiplier, p->a_shift);
  const int32_t sb = tm_requantize(b * (1 << p->left_shift), p->b_multiplier, p->b_shift);
  return (int16_t)tm_clamp(tm_requantize(sa + sb, p->output_multiplier, p->output_shift), p->act_min, p->act_max);
}

void tm_add_s16(const tm_add_params *p, const tm_broadcast *bc, const int16_t *a, const int16_t *b, int16_t *output) {
  tm_broadcast_s16(bc, a, b, output, p, add);
}
