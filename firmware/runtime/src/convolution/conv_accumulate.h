/* Private to the portable int8 convolution kernels (conv2d_s8.c, conv2d_add_s8.c, depthwise_conv2d_s8.c): the output
 * stage they share, and the loop of the standard convolution (conv_loops.h, shared with the 16x8 kernels) that
 * conv2d_s8.c and conv2d_add_s8.c share; depthwise_conv2d_s8.c has its loop from depthwise_conv.h. Not part of the
 * runtime's API. */
#ifndef TINYML_CONV_ACCUMULATE_H
#define TINYML_CONV_ACCUMULATE_H
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* The int8 output of channel oc's accumulator: bias, requantization (ties up, TFLite's GEMM output stage, unless
 * `round_up` is 0), output offset, activation clamp. */
static inline __attribute__((always_inline)) int32_t tm_conv_output(const tm_conv_params *p,
                                                                    const tm_channel_quant *q, const int32_t *bias,
                                                                    int32_t oc, int32_t acc, int32_t round_up) {
  if (bias) acc += bias[oc];
  acc = (round_up ? tm_requantize_round_up(acc, q->multiplier[oc], q->shift[oc])
                  : tm_requantize(acc, q->multiplier[oc], q->shift[oc])) + p->output_offset;
  return tm_clamp(acc, p->act_min, p->act_max);
}

/* tm_conv_outputs, emit(ctx, y) for every int8 output of the standard convolution: conv_loops.h over int8 tensors
 * with int32 accumulators. */
#define TM_CONV_IN_T int8_t
#define TM_CONV_ACC_T int32_t
#define TM_CONV_BIAS_T int32_t
#define TM_CONV_TAP(p, x) ((x) + (p)->input_offset)
#define TM_CONV_OUTPUT(p, q, bias, oc, acc, round_up) tm_conv_output(p, q, bias, oc, acc, round_up)
#define TM_CONV_OUTPUTS tm_conv_outputs
#include "conv_loops.h"

#endif
