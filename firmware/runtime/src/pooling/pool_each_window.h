/* Private to the pooling kernels: their loop over the output pixels, written once for int8 and int16 tensors
 * (pool_loop.h includes it for each). A type-generic header: the includer defines, and this header undefines,
 *   TM_POOL_T            the element type (int8_t, int16_t)
 *   TM_POOL_PIXEL        the name of the pixel function's type
 *   TM_POOL_EACH_WINDOW  the name of the loop
 *   TM_POOL_WINDOW_SUM, TM_POOL_WINDOW_MAX  the names of the sum and the maximum of one channel over a window
 * No include guard: it is meant to be included once per element type. Not part of the runtime's API. */

/* One output pixel: its c channels written at out, from the valid part `win` of its window in the image in_batch. */
typedef void (*TM_POOL_PIXEL)(const tm_pool_params *p, const TM_POOL_T *in_batch, int32_t in_w, int32_t c,
                              const tm_pool_window *win, TM_POOL_T *out);

/* `pixel` for every output pixel of every image, in NHWC order. Inlined with a constant `pixel`, the call
 * disappears. */
static inline __attribute__((always_inline)) void TM_POOL_EACH_WINDOW(const tm_pool_params *p, const tm_dims *in_dims,
                                                                      const TM_POOL_T *input, const tm_dims *out_dims,
                                                                      TM_POOL_T *output, TM_POOL_PIXEL pixel) {
  const int32_t in_w = in_dims->w, c = in_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const TM_POOL_T *in_batch = input + b * in_dims->h * in_w * c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      for (int32_t ox = 0; ox < out_dims->w; ++ox, output += c) {
        const tm_pool_window win = tm_pool_window_at(p, in_dims, oy, ox);
        pixel(p, in_batch, in_w, c, &win, output);
      }
    }
  }
}

/* The sum of channel ch over the valid part `win` of its window in the image in_batch. */
static inline __attribute__((always_inline)) int32_t TM_POOL_WINDOW_SUM(const TM_POOL_T *in_batch, int32_t in_w,
                                                                        int32_t c, const tm_pool_window *win,
                                                                        int32_t ch) {
  int32_t sum = 0;
  for (int32_t ky = win->ky0; ky < win->ky1; ++ky)
    for (int32_t kx = win->kx0; kx < win->kx1; ++kx)
      sum += in_batch[((win->y0 + ky) * in_w + win->x0 + kx) * c + ch];
  return sum;
}

/* The maximum of channel ch over the valid part `win` of its window in the image in_batch (`lowest` if empty). */
static inline __attribute__((always_inline)) int32_t TM_POOL_WINDOW_MAX(const TM_POOL_T *in_batch, int32_t in_w,
                                                                        int32_t c, const tm_pool_window *win,
                                                                        int32_t ch, int32_t lowest) {
  int32_t m = lowest;
  for (int32_t ky = win->ky0; ky < win->ky1; ++ky)
    for (int32_t kx = win->kx0; kx < win->kx1; ++kx) {
      const int32_t v = in_batch[((win->y0 + ky) * in_w + win->x0 + kx) * c + ch];
      if (v > m) m = v;
    }
  return m;
}

#undef TM_POOL_T
#undef TM_POOL_PIXEL
#undef TM_POOL_EACH_WINDOW
#undef TM_POOL_WINDOW_SUM
#undef TM_POOL_WINDOW_MAX
