/* Int8 depthwise convolution (depth multiplier 1, channels % 4 == 0), DSP variant: four channels at a time, the
 * input widened with SXTB16 and multiplied by pre-widened weights with SMLABB/SMLATT. Padded taps read a row of the
 * input zero point from scratch (the input offset is folded into the bias). Layouts: see tinyml/kernels_dsp.h. */
#include "tinyml/kernels_dsp.h"

#define TM_DW_MAX_TAPS 64

static inline __attribute__((always_inline)) void dw_run(
    const tm_dw_dsp_params *p, const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
    const tm_dims *filter_dims, const int32_t *weights, const int32_t *bias, const tm_dims *out_dims,
    int8_t *output, int8_t *scratch, const int32_t mode) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, ch = in_dims->c, groups = ch >> 2;
  const int32_t kh = filter_dims->h, kw = filter_dims->w, taps = kh * kw;
  const int32_t zp = rq->output_offset, lo = rq->act_min, hi = rq->act_max, vec = p->vector_channels;
  const int32_t vec_groups = vec >> 2;  /* vector_channels is a multiple of 8 */
  const int8_t *tap[TM_DW_MAX_TAPS];
  for (int32_t c = 0; c < ch; ++c) scratch[c] = (int8_t)p->pad_value;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_b = input + b * in_h * in_w * ch;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int32_t t = 0;
        for (int32_t ky = 0; ky < kh; ++ky) {
          const int32_t y = y0 + ky * p->dilation_h;
          for (int32_t kx = 0; kx < kw; ++kx, ++t) {
            const int32_t x = x0 + kx * p->dilation_w;
            tap[t] = (y >= 0 && y < in_h && x >= 0 && x < in_w) ? in_b + (y * in_w + x) * ch : scratch;
          }
        }
        const int32_t *w = weights;
        for (int32_t g = 0; g < groups; ++g) {
          const int32_t c = 4 * g;
          int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
          const int32_t *wt = w;
          for (t = 0; t < taps; ++t) {
            const uint32_t xw = tm_load32(tap[t] + c);
            const int32_t xe = tm_sxtb16(xw), xo = tm_sxtb16_ror8(xw);
            const int32_t we = wt[0], wo = wt[1];
            a0 = tm_smlabb(xe, we, a0);
            a2 = tm_smlatt(xe, we, a2);
            a1 = tm_smlabb(xo, wo, a1);
            a3 = tm_smlatt(xo, wo, a3);
            wt += 2 * groups;
          }
          w += 2;
          int8_t y0_, y1_, y2_, y3_;
          if (g < vec_groups) {
            y0_ = tm_dsp_apply(a0, tm_dsp_load_ch(rq, c, mode), mode, zp, lo, hi);
            y1_ = tm_dsp_apply(a1, tm_dsp_load_ch(rq, c + 1, mode), mode, zp, lo, hi);
            y2_ = tm_dsp_apply(a2, tm_dsp_load_ch(rq, c + 2, mode), mode, zp, lo, hi);
            y3_ = tm_dsp_apply(a3, tm_dsp_load_ch(rq, c + 3, mode), mode, zp, lo, hi);
          } else {  /* TFLite's scalar tail rounds ties away from zero */
            const int32_t a[4] = {a0, a1, a2, a3};
            int8_t yy[4];
            for (int32_t i = 0; i < 4; ++i) {
              int32_t v = tm_requantize(a[i], rq->multiplier[c + i], rq->shift[c + i]) + zp;
              v = v < lo ? lo : v;
              yy[i] = (int8_t)(v > hi ? hi : v);
            }
            y0_ = yy[0], y1_ = yy[1], y2_ = yy[2], y3_ = yy[3];
          }
          output[0] = y0_;
          output[1] = y1_;
          output[2] = y2_;
          output[3] = y3_;
          output += 4;
        }
      }
    }
  }
}

void tm_depthwise_conv2d_s8_dsp(const tm_dw_dsp_params *p, const tm_dsp_requant *rq,
                                const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                                const int32_t *weights, const int32_t *bias, const tm_dims *out_dims,
                                int8_t *output, int8_t *scratch) {
  switch (tm_dsp_mode(rq)) {
    case TM_DSP_FAST_SAT:
      dw_run(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch, TM_DSP_FAST_SAT);
      break;
    case TM_DSP_FAST_CLAMP:
      dw_run(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch, TM_DSP_FAST_CLAMP);
      break;
    default:
      dw_run(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch, TM_DSP_GENERAL);
  }
}
