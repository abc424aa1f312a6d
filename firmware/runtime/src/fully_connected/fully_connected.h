/* Private to the portable fully connected kernels (fully_connected_s8.c, fully_connected_s16.c): the kernel function
 * itself, written once for int8 and 16x8 tensors. For every batch row and output feature: the dot product of the row
 * with the feature's int8 weights, its output stage, the activation clamp. It defines the function rather than an
 * inline loop, so that the int8 kernel's machine code stays that of its own loop. A type-generic header: the
 * including kernel file defines, and this header undefines,
 *   TM_FC_IN_T, TM_FC_OUT_T  the input and output element types (int8_t, int16_t)
 *   TM_FC_ACC_T          the accumulator type (int32_t, int64_t)
 *   TM_FC_BIAS_T         the bias type (int32_t, int64_t)
 *   TM_FC_TAP(p, x)      one input value x with the input offset applied (x itself when the zero point is 0)
 *   TM_FC_OUTPUT(p, q, bias, o, acc)  feature o's accumulator with its bias, requantized and offset (an int32_t)
 *   TM_FULLY_CONNECTED   the kernel's public name (declared in tinyml/kernels.h)
 * Not part of the runtime's API. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void TM_FULLY_CONNECTED(const tm_fc_params *p, const tm_channel_quant *q, const TM_FC_IN_T *input,
                        const int8_t *filter, const TM_FC_BIAS_T *bias, TM_FC_OUT_T *output) {
  for (int32_t b = 0; b < p->batches; ++b) {
    const TM_FC_IN_T *x = input + b * p->in_features;
    for (int32_t o = 0; o < p->out_features; ++o) {
      const int8_t *w = filter + o * p->in_features;
      TM_FC_ACC_T acc = 0;
      for (int32_t i = 0; i < p->in_features; ++i) acc += TM_FC_TAP(p, x[i]) * w[i];
      *output++ = (TM_FC_OUT_T)tm_clamp(TM_FC_OUTPUT(p, q, bias, o, acc), p->act_min, p->act_max);
    }
  }
}

#undef TM_FC_IN_T
#undef TM_FC_OUT_T
#undef TM_FC_ACC_T
#undef TM_FC_BIAS_T
#undef TM_FC_TAP
#undef TM_FC_OUTPUT
#undef TM_FULLY_CONNECTED
