/* Int8 fully connected layer (portable reference path), per-tensor or per-channel requantization. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void tm_fully_connected_s8(const tm_fc_params *p, const tm_channel_quant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int8_t *output) {
  for (int32_t b = 0; b < p->batches; ++b) {
    const int8_t *x = input + b * p->in_features;
    for (int32_t o = 0; o < p->out_features; ++o) {
      const int8_t *w = filter + o * p->in_features;
      int32_t acc = 0;
      for (int32_t i = 0; i < p->in_features; ++i) acc += (x[i] + p->input_offset) * w[i];
      if (bias) acc += bias[o];
      const int32_t ch = p->per_channel ? o : 0;
      acc = tm_requantize_round_up(acc, q->multiplier[ch], q->shift[ch]) + p->output_offset;
      *output++ = (int8_t)tm_clamp(acc, p->act_min, p->act_max);
    }
  }
}
