/* Int16 max pooling over the valid (unpadded) part of each window, then the fused activation's clamp. */
#include "pool_loop.h"
#include "tinyml/requant.h"

static inline __attribute__((always_inline)) void maximum(const tm_pool_params *p, const int16_t *in_batch,
                                                          int32_t in_w, int32_t c, const tm_pool_window *win,
                                                          int16_t *out) {
  for (int32_t ch = 0; ch < c; ++ch) {
    const int32_t m = tm_pool_window_max_s16(in_batch, in_w, c, win, ch, INT16_MIN);
    *out++ = (int16_t)tm_clamp(m, p->act_min, p->act_max);
  }
}

void tm_max_pool2d_s16(const tm_pool_params *p, const tm_dims *in_dims, const int16_t *input,
                       const tm_dims *out_dims, int16_t *output) {
  tm_pool_each_window_s16(p, in_dims, input, out_dims, output, maximum);
}
