/* Int8 fully connected layer (portable reference path), per-tensor or per-channel requantization:
 * tm_fully_connected_s8 is fully_connected.h's loop with the output stage below. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* Feature o's accumulator with its bias, requantized (ties up, TFLite's GEMM output stage) and offset. */
static inline __attribute__((always_inline)) int32_t output_of(const tm_fc_params *p, const tm_channel_quant *q,
                                                               const int32_t *bias, int32_t o, int32_t acc) {
  if (bias) acc += bias[o];
  const int32_t ch = p->per_channel ? o : 0;
  return tm_requantize_round_up(acc, q->multiplier[ch], q->shift[ch]) + p->output_offset;
}

#define TM_FC_IN_T int8_t
#define TM_FC_OUT_T int8_t
#define TM_FC_ACC_T int32_t
#define TM_FC_BIAS_T int32_t
#define TM_FC_TAP(p, x) ((x) + (p)->input_offset)
#define TM_FC_OUTPUT output_of
#define TM_FULLY_CONNECTED tm_fully_connected_s8
#include "fully_connected.h"
