/* Standard int8 convolution (portable reference path), per-channel requantization. */
#include "conv_accumulate.h"

/* The next output element (ctx: the output pointer, advanced). */
static inline void store(void *ctx, int32_t y) { *(*(int8_t **)ctx)++ = (int8_t)y; }

void tm_conv2d_s8(const tm_conv_params *p, const tm_channel_quant *q,
                  const tm_dims *in_dims, const int8_t *input,
                  const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                  const tm_dims *out_dims, int8_t *output) {
  tm_conv_outputs(p, q, in_dims, input, filter_dims, filter, bias, out_dims, store, &output);
}
