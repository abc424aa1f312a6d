/* Int8 mean over any dimensions of a rank <= 4 tensor (TFLite MEAN), integer only. */
#include "reduce_sum.h"
#include "tinyml/requant.h"

static inline int8_t mean(const void *params, int32_t channel, int32_t sum) {
  const tm_mean_params *p = (const tm_mean_params *)params;
  sum = (int32_t)((uint32_t)sum - (uint32_t)p->input_sum_offset);
  const int32_t scaled = channel < p->round_up_channels ? tm_requantize_round_up(sum, p->multiplier, p->shift)
                                                        : tm_requantize(sum, p->multiplier, p->shift);
  return (int8_t)tm_clamp(scaled + p->output_offset, -128, 127);
}

void tm_mean_s8(const tm_mean_params *p, const int8_t *input, int8_t *output) {
  tm_reduce_sums_s8(p->dims, p->reduce, input, output, p, mean);
}
