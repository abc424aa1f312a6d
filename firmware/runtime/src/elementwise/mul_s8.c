/* Int8 multiplication with broadcasting. */
#include "broadcast.h"
#include "tinyml/requant.h"

static inline int8_t mul(const void *params, int32_t a, int32_t b) {
  const tm_mul_params *p = (const tm_mul_params *)params;
  const int32_t prod = (a + p->a_offset) * (b + p->b_offset);
  const int32_t v = tm_requantize(prod, p->output_multiplier, p->output_shift) + p->output_offset;
  return (int8_t)tm_clamp(v, p->act_min, p->act_max);
}

void tm_mul_s8(const tm_mul_params *p, const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output) {
  tm_broadcast_s8(bc, a, b, output, p, mul);
}
