/* Int8 convolution, Helium (MVE, Cortex-M55) variant: tm_conv2d_s8's signature and outputs, bit for bit, for any
 * stride and padding at dilation 1 (the generator keeps dilated ones on the DSP variant). NHWC makes the taps of one
 * filter row (ky) a contiguous span of the input, kw * in_c bytes (fewer at the left and right borders), and the
 * filter [out_c, kh, kw, in_c] the matching span of each output channel's weights: each span is a dot product, 16
 * products per VMLADAVA, four output channels per input vector, as tm_fully_connected_s8_mve. The generator folds
 * the input offset into the bias (`bias[o] = b[o] + input_offset * sum(filter[o])`, never NULL), so the taps read
 * the raw input and a padded tap, whose input is the zero point (input + offset = 0), multiplies the zero point.
 * With this signature it is also the row kernel of tm_conv_inplace_s8. */
#include <arm_mve.h>

#include "tinyml/kernels.h"
#include "tinyml/requant.h"
#include "tinyml/requant_mve.h"

/* acc[r] += the dot products of `k_h` input spans of `span` bytes, `in_row` bytes apart, with the next k_h * span
 * weights of filter row r (w + r * row on, one run: filter [out_c, kh, kw, in_c]), for r < 4. Within a span x steps
 * 16 bytes per vector (`step` 16) or stays (`step` 0: the zero point vector, for padded taps). Unpredicated whole
 * vectors (GCC wraps each predicated load in a VPST), one pointer per filter row (post-indexed loads: 10
 * instructions per 64 products), then a predicated tail. */
static inline __attribute__((always_inline)) void dot4(const int8_t *x, int32_t step, int32_t in_row, const int8_t *w,
                                                        int32_t row, int32_t k_h, int32_t span, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  const int8_t *w0 = w, *w1 = w + row, *w2 = w + 2 * row, *w3 = w + 3 * row;
  for (int32_t ky = 0; ky < k_h; ++ky, x += in_row) {
    const int8_t *xi = x;
    int32_t i = 0;
    for (; i + 16 <= span; i += 16, xi += step, w0 += 16, w1 += 16, w2 += 16, w3 += 16) {
      const int8x16_t xv = vldrbq_s8(xi);
      a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w0));
      a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1));
      a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2));
      a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3));
    }
    if (i < span) {
      const int32_t n = span - i;
      const mve_pred16_t pred = vctp8q((uint32_t)n);
      const int8x16_t xv = vldrbq_z_s8(xi, pred);
      a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, pred));
      a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, pred));
      a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, pred));
      a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, pred));
      w0 += n, w1 += n, w2 += n, w3 += n;
    }
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* acc += sum_{i < n} x[i] * w[i], x stepping as in dot4: the output channels after the last group of four. */
static inline __attribute__((always_inline)) void dot1(const int8_t *x, int32_t step, const int8_t *w, int32_t n,
                                                        int32_t *acc) {
  for (int32_t i = 0; i < n; i += 16, x += step, w += 16) {
    const mve_pred16_t pred = vctp8q((uint32_t)(n - i));
    *acc = vmladavaq_s8(*acc, vldrbq_z_s8(x, pred), vldrbq_z_s8(w, pred));
  }
}

/* The accumulators of `rows` (4 or 1) output channels from filter row `w` on for the output pixel whose first tap
 * is (y0, x0): every filter row's span, its padded taps times the zero point `zp`. */
static inline __attribute__((always_inline)) void taps(const tm_dims *in_dims, const int8_t *input,
                                                       const tm_dims *filter_dims, const int8_t *w, int32_t y0,
                                                       int32_t x0, const int8_t *zp, int32_t rows, int32_t *acc) {
  const int32_t in_c = in_dims->c, k_w = filter_dims->w, span = k_w * in_c;
  const int32_t row = filter_dims->h * span;  /* one output channel's weights */
  const int32_t kx0 = x0 < 0 ? (-x0 < k_w ? -x0 : k_w) : 0;
  const int32_t kx1 = in_dims->w - x0 < k_w ? (in_dims->w - x0 > kx0 ? in_dims->w - x0 : kx0) : k_w;
  for (int32_t ky = 0; ky < filter_dims->h; ++ky, w += span) {
    const int32_t y = y0 + ky;
    /* [0, kx0) and [kx1, k_w) are padding, and the whole row above or below the image */
    const int32_t lo = (y < 0 || y >= in_dims->h) ? k_w : kx0, hi = lo == k_w ? k_w : kx1;
    const int8_t *x = input + ((y * in_dims->w) + x0 + lo) * in_c;
    if (rows == 4) {
      if (lo > 0) dot4(zp, 0, 0, w, row, 1, lo * in_c, acc);
      if (hi > lo) dot4(x, 16, 0, w + lo * in_c, row, 1, (hi - lo) * in_c, acc);
      if (hi < k_w) dot4(zp, 0, 0, w + hi * in_c, row, 1, (k_w - hi) * in_c, acc);
    } else {
      if (lo > 0) dot1(zp, 0, w, lo * in_c, acc);
      if (hi > lo) dot1(x, 16, w + lo * in_c, (hi - lo) * in_c, acc);
      if (hi < k_w) dot1(zp, 0, w + hi * in_c, (k_w - hi) * in_c, acc);
    }
  }
}

void tm_conv2d_s8_mve(const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims,
                      const int8_t *input, const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                      const tm_dims *out_dims, int8_t *output) {
  const int32_t out_c = out_dims->c, row = filter_dims->h * filter_dims->w * in_dims->c;
  int8_t zp[16];
  vstrbq_s8(zp, vdupq_n_s8((int8_t)-p->input_offset));
  for (int32_t b = 0; b < out_dims->n; ++b, input += in_dims->h * in_dims->w * in_dims->c) {
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox, output += out_c) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        const int inside = y0 >= 0 && y0 + filter_dims->h <= in_dims->h && x0 >= 0 && x0 + filter_dims->w <= in_dims->w;
        const int8_t *first = input + (y0 * in_dims->w + x0) * in_dims->c;
        int32_t o = 0;
        for (; o + 4 <= out_c; o += 4) {
          int32_t acc[4] = {bias[o], bias[o + 1], bias[o + 2], bias[o + 3]};
          if (inside) {
            dot4(first, 16, in_dims->w * in_dims->c, filter + o * row, row, filter_dims->h,
                 filter_dims->w * in_dims->c, acc);
          } else {
            taps(in_dims, input, filter_dims, filter + o * row, y0, x0, zp, 4, acc);
          }
          const int32x4_t sums = vldrwq_s32(acc);
          vstrbq_s32(output + o, tm_requantize_mve(sums, vldrwq_s32(q->multiplier + o), vldrwq_s32(q->shift + o),
                                                   p->output_offset, p->act_min, p->act_max));
        }
        for (; o < out_c; ++o) {
          int32_t acc = bias[o];
          taps(in_dims, input, filter_dims, filter + o * row, y0, x0, zp, 1, &acc);
          acc = tm_requantize_round_up(acc, q->multiplier[o], q->shift[o]) + p->output_offset;
          output[o] = (int8_t)tm_clamp(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}
