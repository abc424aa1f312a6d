/* Int8 max pooling over the valid (unpadded) part of each window. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void tm_max_pool2d_s8(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *out_dims, int8_t *output) {
  const int32_t in_w = in_dims->w, c = in_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_dims->h * in_w * c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const tm_pool_window win = tm_pool_window_at(p, in_dims, oy, ox);
        for (int32_t ch = 0; ch < c; ++ch) {
          int32_t m = -128;
          for (int32_t ky = win.ky0; ky < win.ky1; ++ky)
            for (int32_t kx = win.kx0; kx < win.kx1; ++kx) {
              const int32_t v = in_batch[((win.y0 + ky) * in_w + win.x0 + kx) * c + ch];
              if (v > m) m = v;
            }
          *output++ = (int8_t)tm_clamp(m, p->act_min, p->act_max);
        }
      }
    }
  }
}
