/* Depthwise 16x8 convolution (portable) with depth multiplier: int16 activations (zero point 0), int8 weights, int64
 * bias, per-channel requantization of an int64 accumulator, as TFLite's reference int16 DepthwiseConvPerChannel:
 * tm_depthwise_conv2d_s16 is depthwise_conv.h's loop with the 16x8 output stage (no ties-up variant). */
#include "conv_accumulate_s16.h"

#define TM_CONV_IN_T int16_t
#define TM_CONV_OUT_T int16_t
#define TM_CONV_ACC_T int64_t
#define TM_CONV_BIAS_T int64_t
#define TM_CONV_TAP(p, x) (x)
#define TM_CONV_OUTPUT(p, q, bias, oc, acc, round_up) tm_conv_output_s16(p, q, bias, oc, acc)
#define TM_DEPTHWISE_CONV tm_depthwise_conv2d_s16
#include "depthwise_conv.h"
