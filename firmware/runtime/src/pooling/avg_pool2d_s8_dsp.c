/* Int8 average pooling, DSP variant (channels % 4 == 0, at most TM_AVG_POOL_DSP_MAX_WINDOW elements per window):
 * four channels at a time, the window summed in 16-bit lanes with SADD16 (|sum| <= 255 * 128 < 2^15, exact), then
 * tm_pool_average over the valid part of the window. */
#include "tinyml/kernels_dsp.h"
#include "pool_loop.h"

static inline __attribute__((always_inline)) void average4(const tm_pool_params *p, const int8_t *in_batch,
                                                           int32_t in_w, int32_t c, const tm_pool_window *win,
                                                           int8_t *out) {
  const int32_t count = (win->ky1 - win->ky0) * (win->kx1 - win->kx0);
  for (int32_t ch = 0; ch < c; ch += 4) {
    int32_t even = 0, odd = 0;  /* channels (ch, ch + 2) and (ch + 1, ch + 3) */
    for (int32_t ky = win->ky0; ky < win->ky1; ++ky) {
      const int8_t *px = in_batch + ((win->y0 + ky) * in_w + win->x0 + win->kx0) * c + ch;
      for (int32_t kx = win->kx0; kx < win->kx1; ++kx, px += c) {
        const uint32_t w = tm_load32(px);
        even = tm_sadd16(even, tm_sxtb16(w));
        odd = tm_sadd16(odd, tm_sxtb16_ror8(w));
      }
    }
    out[0] = tm_pool_average((int16_t)(uint16_t)((uint32_t)even & 0xFFFFu), count, p);
    out[1] = tm_pool_average((int16_t)(uint16_t)((uint32_t)odd & 0xFFFFu), count, p);
    out[2] = tm_pool_average(even >> 16, count, p);
    out[3] = tm_pool_average(odd >> 16, count, p);
    out += 4;
  }
}

void tm_avg_pool2d_s8_dsp(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                          const tm_dims *out_dims, int8_t *output) {
  tm_pool_each_window(p, in_dims, input, out_dims, output, average4);
}
