/* Private to the pooling kernels (avg_pool2d_s8.c, avg_pool2d_s8_dsp.c, max_pool2d_s8.c): their loop over the
 * output pixels. Not part of the runtime's API. */
#ifndef TINYML_POOL_LOOP_H
#define TINYML_POOL_LOOP_H
#include "tinyml/kernels.h"

/* One output pixel: its c channels written at out, from the valid part `win` of its window in the image in_batch. */
typedef void (*tm_pool_pixel)(const tm_pool_params *p, const int8_t *in_batch, int32_t in_w, int32_t c,
                              const tm_pool_window *win, int8_t *out);

/* `pixel` for every output pixel of every image, in NHWC order. Inlined with a constant `pixel`, the call
 * disappears. */
static inline __attribute__((always_inline)) void tm_pool_each_window(const tm_pool_params *p, const tm_dims *in_dims,
                                                                      const int8_t *input, const tm_dims *out_dims,
                                                                      int8_t *output, tm_pool_pixel pixel) {
  const int32_t in_w = in_dims->w, c = in_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_dims->h * in_w * c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      for (int32_t ox = 0; ox < out_dims->w; ++ox, output += c) {
        const tm_pool_window win = tm_pool_window_at(p, in_dims, oy, ox);
        pixel(p, in_batch, in_w, c, &win, output);
      }
    }
  }
}

#endif
