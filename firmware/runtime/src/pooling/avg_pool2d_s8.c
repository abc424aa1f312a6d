/* Int8 average pooling over the valid (unpadded) part of each window, rounding half away from zero. */
#include "pool_loop.h"

static inline __attribute__((always_inline)) void average(const tm_pool_params *p, const int8_t *in_batch,
                                                          int32_t in_w, int32_t c, const tm_pool_window *win,
                                                          int8_t *out) {
  const int32_t count = (win->ky1 - win->ky0) * (win->kx1 - win->kx0);
  for (int32_t ch = 0; ch < c; ++ch) *out++ = tm_pool_average(tm_pool_window_sum(in_batch, in_w, c, win, ch), count, p);
}

void tm_avg_pool2d_s8(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *out_dims, int8_t *output) {
  tm_pool_each_window(p, in_dims, input, out_dims, output, average);
}
