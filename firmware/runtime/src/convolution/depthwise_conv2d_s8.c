/* Depthwise int8 convolution (portable reference path) with depth multiplier, per-channel requantization:
 * tm_depthwise_conv2d_s8 is depthwise_conv.h's loop with the standard convolution's output stage. */
#include "conv_accumulate.h"

#define TM_CONV_IN_T int8_t
#define TM_CONV_OUT_T int8_t
#define TM_CONV_ACC_T int32_t
#define TM_CONV_BIAS_T int32_t
#define TM_CONV_TAP(p, x) ((x) + (p)->input_offset)
#define TM_CONV_OUTPUT(p, q, bias, oc, acc, round_up) tm_conv_output(p, q, bias, oc, acc, round_up)
#define TM_DEPTHWISE_CONV tm_depthwise_conv2d_s8
#include "depthwise_conv.h"
