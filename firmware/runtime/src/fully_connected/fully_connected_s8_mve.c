/* Int8 fully connected layer, Helium (MVE, Cortex-M55) variant: tm_fully_connected_s8's signature and outputs,
 * bit for bit. The generator folds the input offset into the bias (`bias[o] = b[o] + input_offset * sum(filter[o])`,
 * never NULL), so each output is a plain dot product, 16 products per VMLADAVA, four outputs per input vector. */
#include <arm_mve.h>

#include "tinyml/kernels.h"
#include "tinyml/requant.h"
#include "tinyml/requant_mve.h"

#define ROWS 4

static inline int8_t output_of(const tm_fc_params *p, const tm_channel_quant *q, int32_t o, int32_t acc) {
  const int32_t ch = p->per_channel ? o : 0;
  acc = tm_requantize_round_up(acc, q->multiplier[ch], q->shift[ch]) + p->output_offset;
  return (int8_t)tm_clamp(acc, p->act_min, p->act_max);
}

/* Outputs o .. o + 3, four lanes at once, as output_of. */
static inline void store4(const tm_fc_params *p, const tm_channel_quant *q, int32_t o, int32x4_t acc, int8_t *out) {
  const int32x4_t mult = p->per_channel ? vldrwq_s32(q->multiplier + o) : vdupq_n_s32(q->multiplier[0]);
  const int32x4_t shift = p->per_channel ? vldrwq_s32(q->shift + o) : vdupq_n_s32(q->shift[0]);
  vstrbq_s32(out, tm_requantize_mve(acc, mult, shift, p->output_offset, p->act_min, p->act_max));
}

void tm_fully_connected_s8_mve(const tm_fc_params *p, const tm_channel_quant *q, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output) {
  const int32_t n = p->in_features;
  for (int32_t b = 0; b < p->batches; ++b) {
    const int8_t *x = input + b * n;
    int32_t o = 0;
    for (; o + ROWS <= p->out_features; o += ROWS) {
      const int8_t *w = filter + o * n;
      int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
      const int8_t *w0 = w, *w1 = w + n, *w2 = w + 2 * n, *w3 = w + 3 * n;
      int32_t i = 0;
      /* whole vectors unpredicated (GCC wraps each predicated load in a VPST), one pointer per row: post-indexed
       * loads, 10 instructions per 64 products */
      for (; i + 16 <= n; i += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16) {
        const int8x16_t xv = vldrbq_s8(x + i);
        a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w0));
        a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1));
        a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2));
        a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3));
      }
      if (i < n) {  /* the last n - i < 16 inputs, the other lanes zero */
        const mve_pred16_t pred = vctp8q((uint32_t)(n - i));
        const int8x16_t xv = vldrbq_z_s8(x + i, pred);
        a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w + i, pred));
        a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w + n + i, pred));
        a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w + 2 * n + i, pred));
        a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w + 3 * n + i, pred));
      }
      store4(p, q, o, vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3),
             output);
      output += ROWS;
    }
    for (; o < p->out_features; ++o) {
      const int8_t *w = filter + o * n;
      int32_t acc = bias[o];
      for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t pred = vctp8q((uint32_t)(n - i));
        acc = vmladavaq_s8(acc, vldrbq_z_s8(x + i, pred), vldrbq_z_s8(w + i, pred));
      }
      *output++ = output_of(p, q, o, acc);
    }
  }
}
