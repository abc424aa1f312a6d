/* Int16 average pooling over the valid (unpadded) part of each window, rounding half away from zero, as TFLite's
 * reference int16 AveragePool (an int32 sum: windows up to 65536 elements). */
#include "pool_loop.h"
#include "tinyml/requant.h"

static inline __attribute__((always_inline)) void average(const tm_pool_params *p, const int16_t *in_batch,
                                                          int32_t in_w, int32_t c, const tm_pool_window *win,
                                                          int16_t *out) {
  const int32_t count = (win->ky1 - win->ky0) * (win->kx1 - win->kx0);
  for (int32_t ch = 0; ch < c; ++ch) {
    int32_t sum = tm_pool_window_sum_s16(in_batch, in_w, c, win, ch);
    if (count > 0) sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    *out++ = (int16_t)tm_clamp(sum, p->act_min, p->act_max);
  }
}

void tm_avg_pool2d_s16(const tm_pool_params *p, const tm_dims *in_dims, const int16_t *input,
                       const tm_dims *out_dims, int16_t *output) {
  tm_pool_each_window_s16(p, in_dims, input, out_dims, output, average);
}
