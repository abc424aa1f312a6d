/* Int8 RESIZE_NEAREST_NEIGHBOR (NHWC): output pixel (y, x) is input pixel (rows[y], cols[x]), both maps computed
 * at generation time with TFLite's arithmetic (align_corners, half_pixel_centers); channels copied as a run. */
#include "tinyml/kernels.h"

void tm_resize_nearest_s8(const tm_resize_nearest_params *p, const int8_t *input, int8_t *output) {
  const int32_t c = p->in.c;
  for (int32_t n = 0; n < p->in.n; ++n, input += p->in.h * p->in.w * c)
    for (int32_t y = 0; y < p->out_h; ++y) {
      const int8_t *row = input + p->rows[y] * p->in.w * c;
      for (int32_t x = 0; x < p->out_w; ++x) {
        const int8_t *pixel = row + p->cols[x] * c;
        for (int32_t k = 0; k < c; ++k) *output++ = pixel[k];
      }
    }
}
