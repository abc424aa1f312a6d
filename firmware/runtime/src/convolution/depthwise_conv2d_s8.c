/* Depthwise int8 convolution (portable reference path) with depth multiplier, per-channel requantization. Its own
 * loop (one weight per tap, the filter's taps out_c apart); the output stage is the standard convolution's. */
#include "conv_accumulate.h"

void tm_depthwise_conv2d_s8(const tm_conv_params *p, const tm_channel_quant *q,
                            const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w, out_c = out_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t ic = oc / p->depth_multiplier;
          int32_t acc = 0;
          for (int32_t ky = 0; ky < k_h; ++ky) {
            const int32_t y = y0 + ky * p->dilation_h;
            if (y < 0 || y >= in_h) continue;
            for (int32_t kx = 0; kx < k_w; ++kx) {
              const int32_t x = x0 + kx * p->dilation_w;
              if (x < 0 || x >= in_w) continue;
              acc += (in_batch[(y * in_w + x) * in_c + ic] + p->input_offset) * filter[(ky * k_w + kx) * out_c + oc];
            }
          }
          *output++ = (int8_t)tm_conv_output(p, q, bias, oc, acc, oc < p->vector_channels);
        }
      }
    }
  }
}
