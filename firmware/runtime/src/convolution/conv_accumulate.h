/* Private to the portable convolution kernels (conv2d_s8.c, conv2d_add_s8.c, depthwise_conv2d_s8.c): the output
 * stage they share, and the loop of the standard convolution that conv2d_s8.c and conv2d_add_s8.c share. The
 * depthwise kernel keeps its own loop (one weight per tap, `filter` taps out_c apart): folded into this one it costs
 * instructions per tap on the M3. Not part of the runtime's API. */
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

/* Every int8 output of the standard convolution (filter [out_c, kh, kw, in_c]) in NHWC order: emit(ctx, y), y the
 * requantized, offset and clamped next output element (emit advances its own position in ctx). Inlined with a
 * constant `emit`, the call disappears. */
static inline __attribute__((always_inline)) void tm_conv_outputs(
    const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims, const int8_t *input,
    const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias, const tm_dims *out_dims,
    void (*emit)(void *ctx, int32_t y), void *ctx) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        for (int32_t oc = 0; oc < out_dims->c; ++oc) {
          const int8_t *f = filter + oc * k_h * k_w * in_c;
          int32_t acc = 0;
          for (int32_t ky = 0; ky < k_h; ++ky) {
            const int32_t y = y0 + ky * p->dilation_h;
            if (y < 0 || y >= in_h) continue;
            for (int32_t kx = 0; kx < k_w; ++kx) {
              const int32_t x = x0 + kx * p->dilation_w;
              if (x < 0 || x >= in_w) continue;
              const int8_t *in_px = in_batch + (y * in_w + x) * in_c;
              const int8_t *f_px = f + (ky * k_w + kx) * in_c;
              for (int32_t ic = 0; ic < in_c; ++ic) acc += (in_px[ic] + p->input_offset) * f_px[ic];
            }
          }
          emit(ctx, tm_conv_output(p, q, bias, oc, acc, 1));
        }
      }
    }
  }
}

#endif
