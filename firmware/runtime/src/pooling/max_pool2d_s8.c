/* Int8 max pooling over the valid (unpadded) part of each window. */
#include "pool_loop.h"
#include "tinyml/requant.h"

static inline __attribute__((always_inline)) void maximum(const tm_pool_params *p, const int8_t *in_batch,
                                                          int32_t in_w, int32_t c, const tm_pool_window *win,
                                                          int8_t *out) {
  for (int32_t ch = 0; ch < c; ++ch) {
    const int32_t m = tm_pool_window_max(in_batch, in_w, c, win, ch, -128);
    *out++ = (int8_t)tm_clamp(m, p->act_min, p->act_max);
  }
}

void tm_max_pool2d_s8(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *out_dims, int8_t *output) {
  tm_pool_each_window(p, in_dims, input, out_dims, output, maximum);
}
