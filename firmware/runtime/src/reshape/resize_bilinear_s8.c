/* Int8 RESIZE_BILINEAR (NHWC), TFLite's integer arithmetic: each output pixel blends the four input pixels around
 * its source position, weights in 1/1024 steps (rows and cols hold y0, y1 and the weight of y1 per output row, the
 * same per output column, computed at generation time), sum in 1/2^20 steps, rounded half away from zero. With
 * half-pixel centers a weight may be negative or exceed 1024, but the bound |sum| < 128 * 2048^2 fits int32. */
#include "tinyml/kernels.h"

void tm_resize_bilinear_s8(const tm_resize_bilinear_params *p, const int8_t *input, int8_t *output) {
  const int32_t c = p->in.c, row_bytes = p->in.w * c;
  for (int32_t n = 0; n < p->in.n; ++n, input += p->in.h * row_bytes)
    for (int32_t y = 0; y < p->out_h; ++y) {
      const int8_t *top = input + p->rows[3 * y] * row_bytes, *bottom = input + p->rows[3 * y + 1] * row_bytes;
      const int32_t wy = p->rows[3 * y + 2];
      for (int32_t x = 0; x < p->out_w; ++x) {
        const int32_t left = p->cols[3 * x] * c, right = p->cols[3 * x + 1] * c, wx = p->cols[3 * x + 2];
        for (int32_t k = 0; k < c; ++k) {
          const int32_t sum = top[left + k] * (1024 - wy) * (1024 - wx) + bottom[left + k] * wy * (1024 - wx) +
                              top[right + k] * (1024 - wy) * wx + bottom[right + k] * wy * wx;
          const int32_t rounded = sum + (sum > 0 ? (1 << 19) : -(1 << 19));
          *output++ = (int8_t)(rounded / (1 << 20));
        }
      }
    }
}
