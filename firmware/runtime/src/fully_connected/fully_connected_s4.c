/* Fully connected layer with int4 weights kept packed (portable): each output feature's weight row is unpacked into
 * scratch, then tm_fully_connected_s8 computes that feature for every batch row. */
#include "tinyml/int4.h"
#include "tinyml/kernels.h"

void tm_fully_connected_s4(const tm_fc_params *p, const tm_channel_quant *q, const int8_t *input,
                           const uint8_t *filter, const int32_t *bias, int8_t *output, int8_t *scratch) {
  tm_fc_params one = *p;
  one.batches = 1;
  one.out_features = 1;
  one.per_channel = 0;
  for (int32_t o = 0; o < p->out_features; ++o) {
    tm_unpack_s4(filter, o * p->in_features, p->in_features, scratch);
    const int32_t ch = p->per_channel ? o : 0;
    const tm_channel_quant q_o = {q->multiplier + ch, q->shift + ch};
    for (int32_t b = 0; b < p->batches; ++b) {
      tm_fully_connected_s8(&one, &q_o, input + b * p->in_features, scratch, bias ? bias + o : 0,
                            output + b * p->out_features + o);
    }
  }
}
