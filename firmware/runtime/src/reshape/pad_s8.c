/* Int8 constant padding of an NHWC tensor (PAD fills with the zero point, PADV2 with its value). */
#include "tinyml/kernels.h"

void tm_pad_s8(const tm_dims *in_dims, const int32_t before[4], int32_t value, const int8_t *input,
               const tm_dims *out_dims, int8_t *output) {
  for (int32_t n = 0; n < out_dims->n; ++n)
    for (int32_t h = 0; h < out_dims->h; ++h)
      for (int32_t w = 0; w < out_dims->w; ++w)
        for (int32_t c = 0; c < out_dims->c; ++c) {
          const int32_t in_n = n - before[0], in_h = h - before[1], in_w = w - before[2], in_c = c - before[3];
          const int inside = in_n >= 0 && in_n < in_dims->n && in_h >= 0 && in_h < in_dims->h &&
                             in_w >= 0 && in_w < in_dims->w && in_c >= 0 && in_c < in_dims->c;
          *output++ = inside ? input[((in_n * in_dims->h + in_h) * in_dims->w + in_w) * in_dims->c + in_c]
                             : (int8_t)value;
        }
}
