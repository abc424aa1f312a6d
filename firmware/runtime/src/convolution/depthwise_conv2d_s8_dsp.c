/* Int8 depthwise convolution (depth multiplier 1, channels % 4 == 0), DSP variant: four channels at a time, the
 * input widened with SXTB16 and multiplied by pre-widened weights with SMLABB/SMLATT. Padded taps read a row of the
 * input zero point from scratch (the input offset is folded into the bias). Any output row range can be computed
 * (tm_depthwise_conv2d_s8_dsp_rows, the row kernel of the in-place wrapper). Layouts: see tinyml/kernels_dsp.h. */
#include "tinyml/kernels_dsp.h"


#if TM_DSP_NATIVE
/* One tap in assembly: the tap's offset (post-incremented table), its word of 4 channels at that offset from [c]
 * (the window origin plus the group's channel), the tap's weights right after it (int16: LDRD of 2 words; int8: LDR
 * of 1 word, pipelined behind the input's, widened by 2 SXTB16), the input's 2 SXTB16, 4 SMLAxy: 9 (11)
 * instructions for 4 MACs, nothing spilled. */
#define DW_TAP_ASM(WEIGHTS)                          \
  "ldr %[xo], [%[tb]], #4\n\t"                      \
  "ldr %[xo], [%[xo], %[c]]\n\t"                    \
  WEIGHTS                                           \
  "sxtb16 %[xe], %[xo]\n\t"                         \
  "sxtb16 %[xo], %[xo], ror #8\n\t"                 \
  "smlabb %[a0], %[xe], %[we], %[a0]\n\t"           \
  "smlatt %[a2], %[xe], %[we], %[a2]\n\t"           \
  "smlabb %[a1], %[xo], %[wo], %[a1]\n\t"           \
  "smlatt %[a3], %[xo], %[wo], %[a3]\n\t"
#define DW_WIDE_WEIGHTS "ldrd %[we], %[wo], [%[w]], #8\n\t"
#define DW_NARROW_WEIGHTS                            \
  "ldr %[wo], [%[w]], #4\n\t"                       \
  "sxtb16 %[we], %[wo]\n\t"                         \
  "sxtb16 %[wo], %[wo], ror #8\n\t"
#define DW_NINE_TAPS(T) T T T T T T T T T
#define DW_ASM_OPERANDS                                                                                       \
  : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [tb] "+r"(tb), [w] "+r"(wt), [xe] "=&r"(xe), \
    [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)                                                            \
  : [c] "r"(c)                                                                                                \
  : "memory"
#endif

/* One group of 4 channels at one output pixel: `taps` (a constant when specialized) byte offsets of the taps from
 * `at` (the pixel's window origin plus the group's channel), weights of the group contiguous per tap: int16 pairs
 * (c0,c2),(c1,c3) in 2 words (`wide`) or the 4 int8 in 1 word. */
static inline __attribute__((always_inline)) void dw_group(const intptr_t *offs, uintptr_t at, const int32_t *wt,
                                                           int32_t taps, int32_t wide, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if TM_DSP_NATIVE
  if (taps == 9) {
    const intptr_t *tb = offs;
    const uintptr_t c = at;
    int32_t xe, xo, we, wo;
    if (wide)
      __asm__ volatile(DW_NINE_TAPS(DW_TAP_ASM(DW_WIDE_WEIGHTS)) DW_ASM_OPERANDS);
    else
      __asm__ volatile(DW_NINE_TAPS(DW_TAP_ASM(DW_NARROW_WEIGHTS)) DW_ASM_OPERANDS);
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
    return;
  }
#endif
  for (int32_t t = 0; t < taps; ++t) {
    const uint32_t xw = tm_load32((const void *)(at + (uintptr_t)offs[t]));
    const int32_t xe = tm_sxtb16(xw), xo = tm_sxtb16_ror8(xw);
    int32_t we, wo;
    if (wide) {
      we = wt[0], wo = wt[1];
      wt += 2;
    } else {
      const uint32_t r = (uint32_t)*wt++;
      we = tm_sxtb16(r), wo = tm_sxtb16_ror8(r);
    }
    a0 = tm_smlabb(xe, we, a0);
    a2 = tm_smlatt(xe, we, a2);
    a1 = tm_smlabb(xo, wo, a1);
    a3 = tm_smlatt(xo, wo, a3);
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

static inline __attribute__((always_inline)) void dw_run(
    const tm_dw_dsp_params *p, const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
    const tm_dims *filter_dims, const int32_t *weights, const int32_t *bias, const tm_dims *out_dims,
    int8_t *output, int8_t *scratch, int32_t row0, int32_t row1, int32_t batches, const int32_t mode,
    const int32_t fixed_taps) {
  const int32_t in_h = in_dims->h, in_w = in_dims->w, ch = in_dims->c, groups = ch >> 2;
  const int32_t wide = TM_VARIANT_FLAG(p->wide, TM_V_DW_WIDE, TM_V_DW_NARROW);
  const int32_t kh = filter_dims->h, kw = filter_dims->w, taps = fixed_taps ? fixed_taps : kh * kw;
  const int32_t zp = rq->output_offset, lo = rq->act_min, hi = rq->act_max, vec = p->vector_channels;
  /* tap offsets from a pixel's window origin: `inner` for windows inside the input (the same for every such pixel),
   * `edge` per pixel otherwise, padded taps pointing at the row of zero points in scratch */
  intptr_t inner[TM_DW_MAX_TAPS], edge[TM_DW_MAX_TAPS];
  for (int32_t ky = 0, t = 0; ky < kh; ++ky)
    for (int32_t kx = 0; kx < kw; ++kx, ++t) inner[t] = (ky * p->dilation_h * in_w + kx * p->dilation_w) * ch;
  const int32_t reach_h = (kh - 1) * p->dilation_h, reach_w = (kw - 1) * p->dilation_w;
  for (int32_t c = 0; c < ch; ++c) scratch[c] = (int8_t)p->pad_value;
  for (int32_t b = 0; b < batches; ++b) {
    const uintptr_t in_b = (uintptr_t)(input + b * in_h * in_w * ch);
    for (int32_t oy = row0; oy < row1; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      const int32_t rows_inside = y0 >= 0 && y0 + reach_h < in_h;
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        const uintptr_t origin = in_b + (uintptr_t)(intptr_t)((y0 * in_w + x0) * ch);
        const intptr_t *offs = inner;
        if (!rows_inside || x0 < 0 || x0 + reach_w >= in_w) {
          for (int32_t ky = 0, t = 0; ky < kh; ++ky) {
            const int32_t y = y0 + ky * p->dilation_h;
            for (int32_t kx = 0; kx < kw; ++kx, ++t) {
              const int32_t x = x0 + kx * p->dilation_w;
              edge[t] = (y >= 0 && y < in_h && x >= 0 && x < in_w) ? inner[t] : (intptr_t)((uintptr_t)scratch - origin);
            }
          }
          offs = edge;
        }
        const int32_t *w = weights;
        int32_t c = 0;
        for (; c < vec; c += 4) {  /* vector_channels is a multiple of 8 */
          int32_t acc[4] = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
          dw_group(offs, origin + (uintptr_t)c, w, taps, wide, acc);
          w += (wide ? 2 : 1) * taps;
#if TM_DSP_NATIVE
          if (mode == TM_DSP_FAST_SAT || mode == TM_DSP_FAST_SAT_ANY) {  /* TM_RQ_SAT_ASM per output */
            TM_RQ_REGISTERS;
            const tm_requant_ch *rc = &rq->ch[c];
#define DW_RQ_ASM(x0, x1, lsl, add, ...)                                                                     \
  __asm__ volatile(TM_RQ_SAT_ASM("a0", "!", "[%[out]], #1", lsl("a0"), add("a0"))                          \
                   TM_RQ_SAT_ASM("a1", "!", "[%[out]], #1", lsl("a1"), add("a1"))                          \
                   : [a0] "+r"(x0), [a1] "+r"(x1), [rc] "+r"(rc), [out] "+r"(output), TM_RQ_OUTPUTS            \
                   : __VA_ARGS__                                                                             \
                   : "memory")
            if (mode == TM_DSP_FAST_SAT_ANY) {  /* two outputs per statement: 11 registers */
              DW_RQ_ASM(acc[0], acc[1], TM_RQ_LSL, TM_RQ_ADD, [zp] "r"(rq->fast_zp));
              DW_RQ_ASM(acc[2], acc[3], TM_RQ_LSL, TM_RQ_ADD, [zp] "r"(rq->fast_zp));
            } else {
              DW_RQ_ASM(acc[0], acc[1], TM_RQ_NONE, TM_RQ_NONE);
              DW_RQ_ASM(acc[2], acc[3], TM_RQ_NONE, TM_RQ_NONE);
            }
            continue;
          }
#endif
          const int8_t y0_ = tm_dsp_apply(acc[0], tm_dsp_load_ch(rq, c, mode), mode, zp, lo, hi);
          const int8_t y1_ = tm_dsp_apply(acc[1], tm_dsp_load_ch(rq, c + 1, mode), mode, zp, lo, hi);
          const int8_t y2_ = tm_dsp_apply(acc[2], tm_dsp_load_ch(rq, c + 2, mode), mode, zp, lo, hi);
          const int8_t y3_ = tm_dsp_apply(acc[3], tm_dsp_load_ch(rq, c + 3, mode), mode, zp, lo, hi);
          output[0] = y0_;
          output[1] = y1_;
          output[2] = y2_;
          output[3] = y3_;
          output += 4;
        }
        for (; c < ch; c += 4) {  /* TFLite's scalar tail rounds ties away from zero */
          int32_t acc[4] = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
          dw_group(offs, origin + (uintptr_t)c, w, taps, wide, acc);
          w += (wide ? 2 : 1) * taps;
          for (int32_t i = 0; i < 4; ++i) {
            int32_t v = tm_requantize(acc[i], rq->multiplier[c + i], rq->shift[c + i]) + zp;
            v = v < lo ? lo : v;
            output[i] = (int8_t)(v > hi ? hi : v);
          }
          output += 4;
        }
        (void)groups;
      }
    }
  }
}

/* Specialized on the output stage mode and on 3x3 (9 taps, fully unrolled) versus any other kernel, compiling the
 * combinations the model uses only. */
#define DW_BY_TAPS(nine, call_)                                                        \
  do {                                                                                 \
    if (TM_VARIANT(TM_V_DW_3X3) && (!TM_VARIANT(TM_V_DW_ANY) || (nine))) {             \
      const int32_t taps_ = 9;                                                         \
      call_;                                                                           \
    } else {                                                                           \
      const int32_t taps_ = 0;                                                         \
      call_;                                                                           \
    }                                                                                  \
  } while (0)

void tm_depthwise_conv2d_s8_dsp(const tm_dw_dsp_params *p, const tm_dsp_requant *rq,
                                const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                                const int32_t *weights, const int32_t *bias, const tm_dims *out_dims,
                                int8_t *output, int8_t *scratch) {
  TM_DSP_BY_MODE(rq, DW_BY_TAPS(filter_dims->h * filter_dims->w == 9,
                                 dw_run(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch,
                                        0, out_dims->h, out_dims->n, mode_, taps_)))
}

void tm_depthwise_conv2d_s8_dsp_rows(const void *params, const tm_dsp_requant *rq, const tm_dims *in_dims,
                                     const int8_t *input, const tm_dims *filter_dims, const void *weights,
                                     const int32_t *bias, const tm_dims *out_dims, int8_t *output, void *scratch,
                                     int32_t row0, int32_t row1) {
  TM_DSP_BY_MODE(rq, DW_BY_TAPS(filter_dims->h * filter_dims->w == 9,
                                 dw_run((const tm_dw_dsp_params *)params, rq, in_dims, input, filter_dims,
                                        (const int32_t *)weights, bias, out_dims, output, (int8_t *)scratch, row0,
                                        row1, 1, mode_, taps_)))
}
