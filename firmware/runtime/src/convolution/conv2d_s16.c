/* Standard 16x8 convolution (portable): int16 activations (zero point 0), int8 weights, int64 bias, per-channel
 * requantization of an int64 accumulator, as TFLite's reference int16 ConvPerChannel. */
#include "conv_accumulate_s16.h"

/* The next output element (ctx: the output pointer, advanced). */
static inline void store(void *ctx, int32_t y) { *(*(int16_t **)ctx)++ = (int16_t)y; }

void tm_conv2d_s16(const tm_conv_params *p, const tm_channel_quant *q,
                   const tm_dims *in_dims, const int16_t *input,
                   const tm_dims *filter_dims, const int8_t *filter, const int64_t *bias,
                   const tm_dims *out_dims, int16_t *output) {
  tm_conv_outputs_s16(p, q, in_dims, input, filter_dims, filter, bias, out_dims, store, &output);
}
