/* Int8 fully connected, DSP variant: four rows at a time with SMLAD over the input widened once into scratch.
 * Layouts: see tinyml/kernels_dsp.h. */
#include "tinyml/kernels_dsp.h"

static void widen(const int8_t *x, int32_t n, int32_t k4, int32_t *out) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t w = tm_load32(x + i);
    *out++ = tm_sxtb16(w);
    *out++ = tm_sxtb16_ror8(w);
  }
  if (i < k4) {
    uint8_t tail[4] = {0, 0, 0, 0};
    for (int32_t j = 0; i + j < n; ++j) tail[j] = (uint8_t)x[i + j];
    const uint32_t w = tm_load32(tail);
    *out++ = tm_sxtb16(w);
    *out++ = tm_sxtb16_ror8(w);
  }
}

#define OUT(acc, o) tm_dsp_apply((acc), tm_dsp_load_ch(rq, (o), mode), mode, zp, lo, hi)

static inline __attribute__((always_inline)) void fc_run(const tm_fc_dsp_params *p, const tm_dsp_requant *rq,
                                                         const int8_t *input, const void *weights,
                                                         const int32_t *bias, int8_t *output, int32_t *scratch,
                                                         const int32_t mode) {
  const int32_t zp = rq->output_offset, lo = rq->act_min, hi = rq->act_max;
  const int32_t groups = p->k4 >> 2, rows4 = p->out_features & ~3;
  for (int32_t b = 0; b < p->batches; ++b) {
    widen(input + b * p->in_features, p->in_features, p->k4, scratch);
    int8_t *out = output + b * p->out_features;
    if (p->wide) {
      const int32_t *w = (const int32_t *)weights;
      for (int32_t o = 0; o < rows4; o += 4) {
        int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
        const int32_t *x = scratch;
        for (int32_t g = 0; g < groups; ++g) {
          const int32_t xa = x[0], xb = x[1];
          x += 2;
          a0 = tm_smlad(w[0], xa, a0);
          a1 = tm_smlad(w[1], xa, a1);
          a2 = tm_smlad(w[2], xa, a2);
          a3 = tm_smlad(w[3], xa, a3);
          a0 = tm_smlad(w[4], xb, a0);
          a1 = tm_smlad(w[5], xb, a1);
          a2 = tm_smlad(w[6], xb, a2);
          a3 = tm_smlad(w[7], xb, a3);
          w += 8;
        }
        out[o] = OUT(a0, o);
        out[o + 1] = OUT(a1, o + 1);
        out[o + 2] = OUT(a2, o + 2);
        out[o + 3] = OUT(a3, o + 3);
      }
      for (int32_t o = rows4; o < p->out_features; ++o) {
        int32_t a = bias[o];
        const int32_t *x = scratch;
        for (int32_t g = 0; g < groups; ++g) {
          a = tm_smlad(w[0], x[0], a);
          a = tm_smlad(w[1], x[1], a);
          w += 2;
          x += 2;
        }
        out[o] = OUT(a, o);
      }
    } else {
      const int8_t *w = (const int8_t *)weights;
      for (int32_t o = 0; o < rows4; o += 4) {
        int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
        const int32_t *x = scratch;
        for (int32_t g = 0; g < groups; ++g) {
          const int32_t xa = x[0], xb = x[1];
          x += 2;
          uint32_t r = tm_load32(w);
          a0 = tm_smlad(tm_sxtb16(r), xa, a0);
          a0 = tm_smlad(tm_sxtb16_ror8(r), xb, a0);
          r = tm_load32(w + 4);
          a1 = tm_smlad(tm_sxtb16(r), xa, a1);
          a1 = tm_smlad(tm_sxtb16_ror8(r), xb, a1);
          r = tm_load32(w + 8);
          a2 = tm_smlad(tm_sxtb16(r), xa, a2);
          a2 = tm_smlad(tm_sxtb16_ror8(r), xb, a2);
          r = tm_load32(w + 12);
          a3 = tm_smlad(tm_sxtb16(r), xa, a3);
          a3 = tm_smlad(tm_sxtb16_ror8(r), xb, a3);
          w += 16;
        }
        out[o] = OUT(a0, o);
        out[o + 1] = OUT(a1, o + 1);
        out[o + 2] = OUT(a2, o + 2);
        out[o + 3] = OUT(a3, o + 3);
      }
      for (int32_t o = rows4; o < p->out_features; ++o) {
        int32_t a = bias[o];
        const int32_t *x = scratch;
        for (int32_t g = 0; g < groups; ++g) {
          const uint32_t r = tm_load32(w);
          a = tm_smlad(tm_sxtb16(r), x[0], a);
          a = tm_smlad(tm_sxtb16_ror8(r), x[1], a);
          w += 4;
          x += 2;
        }
        out[o] = OUT(a, o);
      }
    }
  }
}

void tm_fully_connected_s8_dsp(const tm_fc_dsp_params *p, const tm_dsp_requant *rq, const int8_t *input,
                               const void *weights, const int32_t *bias, int8_t *output, int32_t *scratch) {
  switch (tm_dsp_mode(rq)) {
    case TM_DSP_FAST_SAT:
      fc_run(p, rq, input, weights, bias, output, scratch, TM_DSP_FAST_SAT);
      break;
    case TM_DSP_FAST_CLAMP:
      fc_run(p, rq, input, weights, bias, output, scratch, TM_DSP_FAST_CLAMP);
      break;
    default:
      fc_run(p, rq, input, weights, bias, output, scratch, TM_DSP_GENERAL);
  }
}
