/* Private to the portable depthwise convolution kernels (depthwise_conv2d_s8.c, depthwise_conv2d_s16.c): the kernel
 * function itself, written once for int8 and 16x8 tensors. Every output of the depthwise convolution (filter
 * [1, kh, kw, out_c], depth multiplier) in NHWC order. Its own loop rather than conv_loops.h's with one input channel
 * per tap: one weight per tap, the filter's taps out_c apart; folded into that one it costs instructions per tap on
 * the M3. It defines the function rather than an inline loop because inlined the int8 kernel's machine code changes.
 * A type-generic header: the including kernel file defines, and this header undefines,
 *   TM_CONV_IN_T, TM_CONV_OUT_T  the input and output element types (int8_t, int16_t)
 *   TM_CONV_ACC_T       the accumulator type (int32_t, int64_t)
 *   TM_CONV_BIAS_T      the bias type (int32_t, int64_t)
 *   TM_CONV_TAP(p, x)   one input value x with the input offset applied (x itself when the zero point is 0)
 *   TM_CONV_OUTPUT(p, q, bias, oc, acc, round_up)  the output of channel oc's accumulator as an int32_t; the int8
 *                       one rounds ties up on the first p->vector_channels channels, as TFLite's optimized path
 *   TM_DEPTHWISE_CONV   the kernel's public name (declared in tinyml/kernels.h)
 * Not part of the runtime's API. */

void TM_DEPTHWISE_CONV(const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims,
                       const TM_CONV_IN_T *input, const tm_dims *filter_dims, const int8_t *filter,
                       const TM_CONV_BIAS_T *bias, const tm_dims *out_dims, TM_CONV_OUT_T *output) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w, out_c = out_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const TM_CONV_IN_T *in_batch = input + b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t ic = oc / p->depth_multiplier;
          TM_CONV_ACC_T acc = 0;
          for (int32_t ky = 0; ky < k_h; ++ky) {
            const int32_t y = y0 + ky * p->dilation_h;
            if (y < 0 || y >= in_h) continue;
            for (int32_t kx = 0; kx < k_w; ++kx) {
              const int32_t x = x0 + kx * p->dilation_w;
              if (x < 0 || x >= in_w) continue;
              acc += TM_CONV_TAP(p, in_batch[(y * in_w + x) * in_c + ic]) * filter[(ky * k_w + kx) * out_c + oc];
            }
          }
          *output++ = (TM_CONV_OUT_T)TM_CONV_OUTPUT(p, q, bias, oc, acc, oc < p->vector_channels);
        }
      }
    }
  }
}

#undef TM_CONV_IN_T
#undef TM_CONV_OUT_T
#undef TM_CONV_ACC_T
#undef TM_CONV_BIAS_T
#undef TM_CONV_TAP
#undef TM_CONV_OUTPUT
#undef TM_DEPTHWISE_CONV
