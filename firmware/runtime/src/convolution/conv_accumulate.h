/* Private to the portable convolution kernels (conv2d_s8.c, conv2d_add_s8.c, depthwise_conv2d_s8.c): the loop over
 * the outputs, the window accumulation and the output stage they share. Not part of the runtime's API. */
#ifndef TINYML_CONV_ACCUMULATE_H
#define TINYML_CONV_ACCUMULATE_H
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* sum over the window's valid taps (top-left input position (y0, x0)) of sum_{i < len} (in[i] + input_offset) *
 * f[i], in = in_batch + (y * in_w + x) * in_c the tap's input pixel, f = filter + (ky * k_w + kx) * f_tap the tap's
 * weights. A standard convolution passes one output channel's filter and len = f_tap = in_c; a depthwise one
 * passes in_batch + its input channel, filter + its output channel, len = 1 and f_tap = out_c. */
static inline __attribute__((always_inline)) int32_t tm_conv_window_acc(
    const tm_conv_params *p, const tm_dims *in_dims, const int8_t *in_batch, const int8_t *filter, int32_t k_h,
    int32_t k_w, int32_t f_tap, int32_t len, int32_t y0, int32_t x0) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  int32_t acc = 0;
  for (int32_t ky = 0; ky < k_h; ++ky) {
    const int32_t y = y0 + ky * p->dilation_h;
    if (y < 0 || y >= in_h) continue;
    for (int32_t kx = 0; kx < k_w; ++kx) {
      const int32_t x = x0 + kx * p->dilation_w;
      if (x < 0 || x >= in_w) continue;
      const int8_t *in_px = in_batch + (y * in_w + x) * in_c;
      const int8_t *f_px = filter + (ky * k_w + kx) * f_tap;
      for (int32_t i = 0; i < len; ++i) acc += (in_px[i] + p->input_offset) * f_px[i];
    }
  }
  return acc;
}

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

/* The plain convolutions' `emit`: output element i (ctx: the output) is y. */
static inline void tm_conv_store(void *output, int32_t i, int32_t y) { ((int8_t *)output)[i] = (int8_t)y; }

/* Every int8 output of the standard (depthwise = 0) or depthwise convolution in NHWC order: emit(ctx, i, y), y the
 * requantized, offset and clamped output element i. Inlined with a constant `emit`, the call disappears. */
static inline __attribute__((always_inline)) void tm_conv_outputs(
    const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims, const int8_t *input,
    const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias, const tm_dims *out_dims,
    const int32_t depthwise, void (*emit)(void *ctx, int32_t i, int32_t y), void *ctx) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w, out_c = out_dims->c;
  int32_t i = 0;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        for (int32_t oc = 0; oc < out_c; ++oc, ++i) {
          int32_t acc;
          if (depthwise)  /* one input channel, one weight per tap (the filter's taps are out_c apart) */
            acc = tm_conv_window_acc(p, in_dims, in_batch + oc / p->depth_multiplier, filter + oc, k_h, k_w, out_c,
                                     1, y0, x0);
          else  /* the output channel's filter [kh, kw, in_c] */
            acc = tm_conv_window_acc(p, in_dims, in_batch, filter + oc * k_h * k_w * in_c, k_h, k_w, in_c, in_c,
                                     y0, x0);
          emit(ctx, i, tm_conv_output(p, q, bias, oc, acc, !depthwise || oc < p->vector_channels));
        }
      }
    }
  }
}

#endif
