/* Int8 PRELU with broadcasting (TFLite's arithmetic): x - zp requantized by input_scale / output_scale where it is
 * not negative, (x - zp) * (alpha - alpha_zp) by input_scale * alpha_scale / output_scale where it is. */
#include "broadcast.h"
#include "tinyml/requant.h"

static inline int8_t prelu(const void *params, int32_t x, int32_t alpha) {
  const tm_prelu_params *p = (const tm_prelu_params *)params;
  const int32_t value = x + p->input_offset;
  const int32_t v = value >= 0 ? tm_requantize(value, p->positive_multiplier, p->positive_shift)
                               : tm_requantize(value * (alpha + p->alpha_offset), p->negative_multiplier,
                                               p->negative_shift);
  return (int8_t)tm_clamp(v + p->output_offset, -128, 127);
}

void tm_prelu_s8(const tm_prelu_params *p, const tm_broadcast *bc, const int8_t *input, const int8_t *alpha,
                 int8_t *output) {
  tm_broadcast_s8(bc, input, alpha, output, p, prelu);
}
