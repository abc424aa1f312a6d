/* Int8 convolution, DSP variant: an im2col GEMM. Two output pixels at a time are gathered and widened to int16 into
 * scratch (padded taps read the input zero point, the input offset being folded into the bias); every pair of output
 * channels then runs a 2x2 register tile of SMLADs over it. Layouts: see tinyml/kernels_dsp.h. */
#include "tinyml/kernels_dsp.h"

/* The interleaved row block: per group of 4 k, words (px0 k0k2, px0 k1k3, px1 k0k2, px1 k1k3). */
static void widen_into(int32_t *dst, const int8_t *src, int32_t groups) {
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t w = tm_load32(src);
    dst[0] = tm_sxtb16(w);
    dst[1] = tm_sxtb16_ror8(w);
    dst += 4;
    src += 4;
  }
}

static void im2col(const tm_conv_dsp_params *p, const tm_dims *in, const int8_t *input, int32_t kh, int32_t kw,
                   int32_t oy, int32_t ox, int32_t *dst, int8_t *gather) {
  const int32_t in_c = in->c, y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
  if ((in_c & 3) == 0) {
    const int32_t groups = in_c >> 2;
    const int32_t pad = (int32_t)(((uint32_t)(uint16_t)(int16_t)p->pad_value) * 0x10001u);
    for (int32_t ky = 0; ky < kh; ++ky) {
      const int32_t y = y0 + ky * p->dilation_h;
      for (int32_t kx = 0; kx < kw; ++kx) {
        const int32_t x = x0 + kx * p->dilation_w;
        if (y >= 0 && y < in->h && x >= 0 && x < in->w) {
          widen_into(dst, input + (y * in->w + x) * in_c, groups);
        } else {
          for (int32_t g = 0; g < groups; ++g) dst[4 * g] = dst[4 * g + 1] = pad;
        }
        dst += 4 * groups;
      }
    }
    return;
  }
  int8_t *g = gather;
  for (int32_t ky = 0; ky < kh; ++ky) {
    const int32_t y = y0 + ky * p->dilation_h;
    for (int32_t kx = 0; kx < kw; ++kx) {
      const int32_t x = x0 + kx * p->dilation_w;
      if (y >= 0 && y < in->h && x >= 0 && x < in->w) {
        const int8_t *src = input + (y * in->w + x) * in_c;
        for (int32_t c = 0; c < in_c; ++c) g[c] = src[c];
      } else {
        for (int32_t c = 0; c < in_c; ++c) g[c] = (int8_t)p->pad_value;
      }
      g += in_c;
    }
  }
  while (g < gather + p->k4) *g++ = 0;
  widen_into(dst, gather, p->k4 >> 2);
}

static inline __attribute__((always_inline)) void conv_run(
    const tm_conv_dsp_params *p, const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
    const tm_dims *filter_dims, const int8_t *weights, const int32_t *bias, const tm_dims *out_dims,
    int8_t *output, void *scratch, const int32_t mode) {
  const int32_t out_c = out_dims->c, groups = p->k4 >> 2, pairs = out_c & ~1;
  const int32_t npix = out_dims->h * out_dims->w, ow = out_dims->w;
  const int32_t zp = rq->output_offset, lo = rq->act_min, hi = rq->act_max;
  int32_t *rows = (int32_t *)scratch;
  int8_t *gather = (int8_t *)scratch + 4 * p->k4;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_b = input + b * in_dims->h * in_dims->w * in_dims->c;
    int8_t *out_b = output + b * npix * out_c;
    for (int32_t pix = 0; pix < npix; pix += 2) {
      const int32_t second = pix + 1 < npix ? pix + 1 : pix;
      im2col(p, in_dims, in_b, filter_dims->h, filter_dims->w, pix / ow, pix % ow, rows, gather);
      im2col(p, in_dims, in_b, filter_dims->h, filter_dims->w, second / ow, second % ow, rows + 2, gather);
      int8_t *o0 = out_b + pix * out_c, *o1 = out_b + second * out_c;
      const uint32_t *w = (const uint32_t *)weights;  /* 4-byte aligned by the generator */
      for (int32_t o = 0; o < pairs; o += 2) {
        int32_t a00 = bias[o], a01 = bias[o + 1];
        int32_t a10 = a00, a11 = a01;
        const int32_t *x = rows;
#pragma GCC unroll 2
        for (int32_t g = 0; g < groups; ++g) {
          const int32_t x0a = x[0], x0b = x[1], x1a = x[2], x1b = x[3];
          const uint32_t r0 = w[0], r1 = w[1];
          x += 4;
          w += 2;
          int32_t wa = tm_sxtb16(r0), wb = tm_sxtb16_ror8(r0);
          a00 = tm_smlad(x0a, wa, a00);
          a00 = tm_smlad(x0b, wb, a00);
          a10 = tm_smlad(x1a, wa, a10);
          a10 = tm_smlad(x1b, wb, a10);
          wa = tm_sxtb16(r1);
          wb = tm_sxtb16_ror8(r1);
          a01 = tm_smlad(x0a, wa, a01);
          a01 = tm_smlad(x0b, wb, a01);
          a11 = tm_smlad(x1a, wa, a11);
          a11 = tm_smlad(x1b, wb, a11);
        }
        const tm_dsp_ch c0 = tm_dsp_load_ch(rq, o, mode), c1 = tm_dsp_load_ch(rq, o + 1, mode);
        const int8_t y00 = tm_dsp_apply(a00, c0, mode, zp, lo, hi), y01 = tm_dsp_apply(a01, c1, mode, zp, lo, hi);
        const int8_t y10 = tm_dsp_apply(a10, c0, mode, zp, lo, hi), y11 = tm_dsp_apply(a11, c1, mode, zp, lo, hi);
        o1[o] = y10;
        o1[o + 1] = y11;
        o0[o] = y00;
        o0[o + 1] = y01;
      }
      if (out_c & 1) {
        const int32_t o = pairs;
        int32_t a0 = bias[o], a1 = a0;
        const int32_t *x = rows;
        for (int32_t g = 0; g < groups; ++g) {
          const uint32_t r = *w++;
          const int32_t wa = tm_sxtb16(r), wb = tm_sxtb16_ror8(r);
          a0 = tm_smlad(x[0], wa, a0);
          a0 = tm_smlad(x[1], wb, a0);
          a1 = tm_smlad(x[2], wa, a1);
          a1 = tm_smlad(x[3], wb, a1);
          x += 4;
        }
        const tm_dsp_ch c = tm_dsp_load_ch(rq, o, mode);
        const int8_t y0 = tm_dsp_apply(a0, c, mode, zp, lo, hi), y1 = tm_dsp_apply(a1, c, mode, zp, lo, hi);
        o1[o] = y1;
        o0[o] = y0;
      }
    }
  }
}

void tm_conv2d_s8_dsp(const tm_conv_dsp_params *p, const tm_dsp_requant *rq,
                      const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                      const int8_t *weights, const int32_t *bias, const tm_dims *out_dims, int8_t *output,
                      void *scratch) {
  switch (tm_dsp_mode(rq)) {
    case TM_DSP_FAST_SAT:
      conv_run(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch, TM_DSP_FAST_SAT);
      break;
    case TM_DSP_FAST_CLAMP:
      conv_run(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch, TM_DSP_FAST_CLAMP);
      break;
    default:
      conv_run(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch, TM_DSP_GENERAL);
  }
}
