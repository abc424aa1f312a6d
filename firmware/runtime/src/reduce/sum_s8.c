/* Int8 SUM over any dimensions of a rank <= 4 tensor, bit-exact with TFLite, which finishes its integer sums in
 * float32: round(sum * scale + bias) + output_zero_point, saturated, with scale = input_scale / output_scale and
 * bias = -input_zero_point * scale * count computed at generation time. Two roundings (compile with
 * -ffp-contract=off), roundf's ties away from zero. */
#include <math.h>

#include "reduce_sum.h"
#include "tinyml/requant.h"

static inline int8_t sum_output(const void *params, int32_t channel, int32_t sum) {
  const tm_sum_params *p = (const tm_sum_params *)params;
  const float scaled = (float)sum * p->scale;
  const float shifted = scaled + p->bias;
  (void)channel;
  return (int8_t)tm_clamp((int32_t)roundf(shifted) + p->output_zero_point, -128, 127);
}

void tm_sum_s8(const tm_sum_params *p, const int8_t *input, int8_t *output) {
  tm_reduce_sums_s8(p->dims, p->reduce, input, output, p, sum_output);
}
