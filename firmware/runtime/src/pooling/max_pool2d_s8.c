/* Int8 max pooling over the valid (unpadded) part of each window. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void tm_max_pool2d_s8(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *out_dims, int8_t *output) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, c = in_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_h * in_w * c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      const int32_t ky0 = y0 < 0 ? -y0 : 0;
      const int32_t ky1 = in_h - y0 < p->filter_h ? in_h - y0 : p->filter_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        const int32_t kx0 = x0 < 0 ? -x0 : 0;
        const int32_t kx1 = in_w - x0 < p->filter_w ? in_w - x0 : p->filter_w;
        for (int32_t ch = 0; ch < c; ++ch) {
          int32_t m = -128;
          for (int32_t ky = ky0; ky < ky1; ++ky)
            for (int32_t kx = kx0; kx < kx1; ++kx) {
              const int32_t v = in_batch[((y0 + ky) * in_w + x0 + kx) * c + ch];
              if (v > m) m = v;
            }
          *output++ = (int8_t)tm_clamp(m, p->act_min, p->act_max);
        }
      }
    }
  }
}
