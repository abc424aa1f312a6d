/* Int8 SQUARED_DIFFERENCE with broadcasting (TFLite's arithmetic): both inputs rescaled to a common
 * 2^left_shift-scaled domain, their difference squared in int32, requantized, offset and clamped. */
#include "broadcast.h"
#include "tinyml/requant.h"

static inline int8_t squared_difference(const void *params, int32_t a, int32_t b) {
  const tm_add_params *p = (const tm_add_params *)params;
  const int32_t sa = tm_requantize((a + p->a_offset) * (1 << p->left_shift), p->a_multiplier, p->a_shift);
  const int32_t sb = tm_requantize((b + p->b_offset) * (1 << p->left_shift), p->b_multiplier, p->b_shift);
  const int32_t diff = sa - sb;
  const int32_t v = tm_requantize(diff * diff, p->output_multiplier, p->output_shift) + p->output_offset;
  return (int8_t)tm_clamp(v, p->act_min, p->act_max);
}

void tm_squared_difference_s8(const tm_add_params *p, const tm_broadcast *bc, const int8_t *a, const int8_t *b,
                              int8_t *output) {
  tm_broadcast_s8(bc, a, b, output, p, squared_difference);
}
