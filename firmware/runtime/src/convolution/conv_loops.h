/* Private to the portable convolution kernels: the loop of the standard convolution, written once for the int8
 * (conv_accumulate.h) and the 16x8 (conv_accumulate_s16.h) kernels. A type-generic header: the includer defines, and
 * this header undefines,
 *   TM_CONV_IN_T        the input element type (int8_t, int16_t)
 *   TM_CONV_ACC_T       the accumulator type (int32_t, int64_t)
 *   TM_CONV_BIAS_T      the bias type (int32_t, int64_t)
 *   TM_CONV_TAP(p, x)   one input value x with the input offset applied (x itself when the zero point is 0)
 *   TM_CONV_OUTPUT(p, q, bias, oc, acc, round_up)  the output of channel oc's accumulator as an int32_t
 *   TM_CONV_OUTPUTS     the name of the loop
 * No include guard: it is meant to be included once per set of types. Not part of the runtime's API. */

/* Every output of the standard convolution (filter [out_c, kh, kw, in_c]) in NHWC order: emit(ctx, y), y the
 * requantized, offset and clamped next output element (emit advances its own position in ctx). Inlined with a
 * constant `emit`, the call disappears. */
static inline __attribute__((always_inline)) void TM_CONV_OUTPUTS(
    const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims, const TM_CONV_IN_T *input,
    const tm_dims *filter_dims, const int8_t *filter, const TM_CONV_BIAS_T *bias, const tm_dims *out_dims,
    void (*emit)(void *ctx, int32_t y), void *ctx) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const TM_CONV_IN_T *in_batch = input + b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        for (int32_t oc = 0; oc < out_dims->c; ++oc) {
          const int8_t *f = filter + oc * k_h * k_w * in_c;
          TM_CONV_ACC_T acc = 0;
          for (int32_t ky = 0; ky < k_h; ++ky) {
            const int32_t y = y0 + ky * p->dilation_h;
            if (y < 0 || y >= in_h) continue;
            for (int32_t kx = 0; kx < k_w; ++kx) {
              const int32_t x = x0 + kx * p->dilation_w;
              if (x < 0 || x >= in_w) continue;
              const TM_CONV_IN_T *in_px = in_batch + (y * in_w + x) * in_c;
              const int8_t *f_px = f + (ky * k_w + kx) * in_c;
              for (int32_t ic = 0; ic < in_c; ++ic) acc += TM_CONV_TAP(p, in_px[ic]) * f_px[ic];
            }
          }
          emit(ctx, TM_CONV_OUTPUT(p, q, bias, oc, acc, 1));
        }
      }
    }
  }
}

#undef TM_CONV_IN_T
#undef TM_CONV_ACC_T
#undef TM_CONV_BIAS_T
#undef TM_CONV_TAP
#undef TM_CONV_OUTPUT
#undef TM_CONV_OUTPUTS
