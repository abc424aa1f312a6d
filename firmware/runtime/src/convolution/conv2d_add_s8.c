/* CONV_2D followed by the ADD of a same-shape skip tensor (ResNet residual), fused: each output element is the
 * convolution's int8 output (portable conv2d_s8 arithmetic: requantized, offset, clamped to its fused activation)
 * added to the skip element with TFLite's int8 ADD arithmetic. The output may be the skip buffer itself (each
 * element is written after its own skip element is read); it must not overlap the convolution's input. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void tm_conv2d_add_s8(const tm_conv_params *p, const tm_channel_quant *q,
                      const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                      const tm_dims *out_dims, const tm_add_params *add, int32_t conv_is_first,
                      const int8_t *skip, int8_t *output) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
  int32_t i = 0;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + (int32_t)b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        for (int32_t oc = 0; oc < out_dims->c; ++oc, ++i) {
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
          if (bias) acc += bias[oc];
          acc = tm_requantize_round_up(acc, q->multiplier[oc], q->shift[oc]) + p->output_offset;
          const int32_t conv = tm_clamp(acc, p->act_min, p->act_max);
          const int32_t a = conv_is_first ? conv : skip[i], bb = conv_is_first ? skip[i] : conv;
          const int32_t sa = tm_requantize((a + add->a_offset) * (1 << add->left_shift), add->a_multiplier,
                                           add->a_shift);
          const int32_t sb = tm_requantize((bb + add->b_offset) * (1 << add->left_shift), add->b_multiplier,
                                           add->b_shift);
          const int32_t sum = tm_requantize(sa + sb, add->output_multiplier, add->output_shift) + add->output_offset;
          output[i] = (int8_t)tm_clamp(sum, add->act_min, add->act_max);
        }
      }
    }
  }
}
