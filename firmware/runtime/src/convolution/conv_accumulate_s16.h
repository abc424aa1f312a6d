/* Private to the portable 16x8 convolution kernels (conv2d_s16.c, depthwise_conv2d_s16.c): int16 activations (zero
 * point 0), int8 weights, int64 bias, per-channel requantization of an int64 accumulator, as TFLite's reference int16
 * ConvPerChannel and DepthwiseConvPerChannel. Their output stage, and the loop of the standard convolution
 * (conv_loops.h, shared with the int8 kernels). Not part of the runtime's API. */
#ifndef TINYML_CONV_ACCUMULATE_S16_H
#define TINYML_CONV_ACCUMULATE_S16_H
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* The int16 output of channel oc's accumulator: bias, requantization, activation clamp. */
static inline int32_t tm_conv_output_s16(const tm_conv_params *p, const tm_channel_quant *q, const int64_t *bias,
                                         int32_t oc, int64_t acc) {
  if (bias) acc += bias[oc];
  return tm_clamp(tm_requantize_s64(acc, q->multiplier[oc], q->shift[oc]), p->act_min, p->act_max);
}

/* tm_conv_outputs_s16, emit(ctx, y) for every int16 output of the standard convolution: conv_loops.h over int16
 * tensors with int64 accumulators (the int16 requantization has no ties-up variant: round_up is unused). */
#define TM_CONV_IN_T int16_t
#define TM_CONV_ACC_T int64_t
#define TM_CONV_BIAS_T int64_t
#define TM_CONV_TAP(p, x) (x)
#define TM_CONV_OUTPUT(p, q, bias, oc, acc, round_up) tm_conv_output_s16(p, q, bias, oc, acc)
#define TM_CONV_OUTPUTS tm_conv_outputs_s16
#include "conv_loops.h"

#endif
