/* Int8 transposed convolution (TFLite's TRANSPOSE_CONV), per-channel requantization.
 *
 * TFLite scatters: input pixel (iy, ix) adds filter tap (ky, kx) into output (iy * stride - pad + ky, ...), summed in
 * an int32 scratch the size of the output. The same sums are gathered here instead, one output pixel at a time: the
 * taps reaching output row oy are ky = (oy + pad) % stride, then every stride-th, reading input rows
 * (oy + pad) / stride, then one row up each. Integer sums do not depend on their order, so the bytes are the
 * interpreter's, and no scratch is needed (one division per output row and column, none per tap: the M0 divides in
 * software). The output stage is the convolutions' (conv_accumulate.h): bias, requantization, offset, activation
 * clamp; channels below p->vector_channels round ties up, as the interpreter's blocks of 8 channels do. */
#include "conv_accumulate.h"

void tm_transpose_conv2d_s8(const tm_conv_params *p, const tm_channel_quant *q,
                            const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w, s_h = p->stride_h, s_w = p->stride_w;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t ky0 = (oy + p->pad_h) % s_h, iy0 = (oy + p->pad_h) / s_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t kx0 = (ox + p->pad_w) % s_w, ix0 = (ox + p->pad_w) / s_w;
        for (int32_t oc = 0; oc < out_dims->c; ++oc) {
          const int8_t *f = filter + oc * k_h * k_w * in_c;
          int32_t acc = 0;
          for (int32_t ky = ky0, iy = iy0; ky < k_h && iy >= 0; ky += s_h, --iy) {
            if (iy >= in_h) continue;
            for (int32_t kx = kx0, ix = ix0; kx < k_w && ix >= 0; kx += s_w, --ix) {
              if (ix >= in_w) continue;
              const int8_t *in_px = in_batch + (iy * in_w + ix) * in_c;
              const int8_t *f_px = f + (ky * k_w + kx) * in_c;
              for (int32_t ic = 0; ic < in_c; ++ic) acc += (in_px[ic] + p->input_offset) * f_px[ic];
            }
          }
          *output++ = (int8_t)tm_conv_output(p, q, bias, oc, acc, oc < p->vector_channels);
        }
      }
    }
  }
}
