/* Int8 average pooling, DSP variant (channels % 4 == 0, at most TM_AVG_POOL_DSP_MAX_WINDOW elements per window):
 * four channels at a time, the window summed in 16-bit lanes with SADD16 (|sum| <= 255 * 128 < 2^15, exact), then
 * tm_pool_average over the valid part of the window. */
#include "tinyml/kernels_dsp.h"

void tm_avg_pool2d_s8_dsp(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                          const tm_dims *out_dims, int8_t *output) {
  const int32_t in_w = in_dims->w, c = in_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_batch = input + b * in_dims->h * in_w * c;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const tm_pool_window win = tm_pool_window_at(p, in_dims, oy, ox);
        const int32_t count = (win.ky1 - win.ky0) * (win.kx1 - win.kx0);
        for (int32_t ch = 0; ch < c; ch += 4) {
          int32_t even = 0, odd = 0;  /* channels (ch, ch + 2) and (ch + 1, ch + 3) */
          for (int32_t ky = win.ky0; ky < win.ky1; ++ky) {
            const int8_t *px = in_batch + ((win.y0 + ky) * in_w + win.x0 + win.kx0) * c + ch;
            for (int32_t kx = win.kx0; kx < win.kx1; ++kx, px += c) {
              const uint32_t w = tm_load32(px);
              even = tm_sadd16(even, tm_sxtb16(w));
              odd = tm_sadd16(odd, tm_sxtb16_ror8(w));
            }
          }
          output[0] = tm_pool_average((int16_t)(uint16_t)((uint32_t)even & 0xFFFFu), count, p);
          output[1] = tm_pool_average((int16_t)(uint16_t)((uint32_t)odd & 0xFFFFu), count, p);
          output[2] = tm_pool_average(even >> 16, count, p);
          output[3] = tm_pool_average(odd >> 16, count, p);
          output += 4;
        }
      }
    }
  }
}
