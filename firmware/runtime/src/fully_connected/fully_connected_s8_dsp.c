/* Int8 fully connected, DSP variant: four rows at a time with SMLAD over the input widened once into scratch, or
 * (`direct`, no scratch) widened on the fly for each block of rows. Layouts: see tinyml/kernels_dsp.h. */
#include "tinyml/kernels_dsp.h"

/* The input bytes [i, n) (fewer than 4) as a word, zero-padded: the last, partial group of 4 inputs. */
static inline uint32_t tail_word(const int8_t *x, int32_t i, int32_t n) {
  uint8_t tail[4] = {0, 0, 0, 0};
  for (int32_t j = 0; i + j < n; ++j) tail[j] = (uint8_t)x[i + j];
  return tm_load32(tail);
}

static void widen(const int8_t *x, int32_t n, int32_t k4, int32_t *out) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t w = tm_load32(x + i);
    *out++ = tm_sxtb16(w);
    *out++ = tm_sxtb16_ror8(w);
  }
  if (i < k4) {
    const uint32_t w = tail_word(x, i, n);
    *out++ = tm_sxtb16(w);
    *out++ = tm_sxtb16_ror8(w);
  }
}

#if TM_DSP_NATIVE
/* The hot loops in assembly: gcc neither keeps the 4 accumulators, the input pair and 4 weights in registers nor
 * uses LDM. Per group of 4 inputs x 4 rows (16 MACs): the input pair (LDRD from the widened scratch, or LDR + 2
 * SXTB16 of the int8 input), then int16 weights ("wide": 2 LDM, 8 SMLAD) or int8 ("narrow": 1 LDM of the 4 rows'
 * words, each widened by 2 SXTB16 through lr, 8 SMLAD: 3 cycles more per 16 MACs than wide for half the bytes). The
 * LDM register list must ascend, hence the fixed registers of the weights. groups >= 1. */
#define FC_WIDE_WEIGHTS                                                                                        \
  "ldmia %[w]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"                                                           \
  "smlad %[a0], %[w0], %[xa], %[a0]\n\t"                                                                    \
  "smlad %[a1], %[w1], %[xa], %[a1]\n\t"                                                                    \
  "smlad %[a2], %[w2], %[xa], %[a2]\n\t"                                                                    \
  "smlad %[a3], %[w3], %[xa], %[a3]\n\t"                                                                    \
  "ldmia %[w]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"                                                           \
  "smlad %[a0], %[w0], %[xb], %[a0]\n\t"                                                                    \
  "smlad %[a1], %[w1], %[xb], %[a1]\n\t"                                                                    \
  "smlad %[a2], %[w2], %[xb], %[a2]\n\t"                                                                    \
  "smlad %[a3], %[w3], %[xb], %[a3]\n\t"
#define FC_NARROW_ROW(wr, a)                                                                                   \
  "sxtb16 lr, %[" wr "]\n\t"                                                                                \
  "smlad %[" a "], lr, %[xa], %[" a "]\n\t"                                                                 \
  "sxtb16 %[" wr "], %[" wr "], ror #8\n\t"                                                                 \
  "smlad %[" a "], %[" wr "], %[xb], %[" a "]\n\t"
#define FC_NARROW_WEIGHTS                                                                                      \
  "ldmia %[w]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"                                                           \
  FC_NARROW_ROW("w0", "a0") FC_NARROW_ROW("w1", "a1") FC_NARROW_ROW("w2", "a2") FC_NARROW_ROW("w3", "a3")
/* Two groups per iteration; an odd count enters at the second (the parity of xe - x in units of `group_bytes`, the
 * input bytes a group takes). */
#define FC_ASM_BODY(xload, weights, group_bytes)                                                               \
  register int32_t w0 __asm__("r8"), w1 __asm__("r9"), w2 __asm__("r10"), w3 __asm__("r12");                  \
  int32_t xa, xb;                                                                                              \
  __asm__ volatile("sub lr, %[xe], %[x]\n\t"                                                                  \
                   "tst lr, #" group_bytes "\n\t"                                                            \
                   "bne 2f\n\t"                                                                               \
                   "1:\n\t" xload weights                                                                     \
                   "2:\n\t" xload weights                                                                     \
                   "cmp %[x], %[xe]\n\t"                                                                      \
                   "bne 1b"                                                                                    \
                   : [a0] "+r"(*a0), [a1] "+r"(*a1), [a2] "+r"(*a2), [a3] "+r"(*a3), [w] "+r"(*w), [x] "+r"(x),    \
                     [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),             \
                     [w3] "=&r"(w3)                                                                            \
                   : [xe] "r"(xe)                                                                              \
                   : "lr", "cc", "memory")
#define FC_X_WIDENED "ldrd %[xa], %[xb], [%[x]], #8\n\t"
#define FC_X_BYTES                                                                                             \
  "ldr %[xb], [%[x]], #4\n\t"                                                                               \
  "sxtb16 %[xa], %[xb]\n\t"                                                                                 \
  "sxtb16 %[xb], %[xb], ror #8\n\t"

/* The 4 rows of a block over `groups` groups of the input: x the widened scratch (2 words per group) or (`direct`)
 * the int8 input; *w the block's weights, int16 (`wide`) or int8. */
static inline __attribute__((always_inline)) void fc4_asm(const void **w, const void *x, int32_t groups,
                                                          const int32_t wide, const int32_t direct, int32_t *a0,
                                                          int32_t *a1, int32_t *a2, int32_t *a3) {
  if (direct) {
    const int8_t *xe = (const int8_t *)x + 4 * groups;
    if (wide) {
      FC_ASM_BODY(FC_X_BYTES, FC_WIDE_WEIGHTS, "4");
    } else {
      FC_ASM_BODY(FC_X_BYTES, FC_NARROW_WEIGHTS, "4");
    }
  } else {
    const int32_t *xe = (const int32_t *)x + 2 * groups;
    if (wide) {
      FC_ASM_BODY(FC_X_WIDENED, FC_WIDE_WEIGHTS, "8");
    } else {
      FC_ASM_BODY(FC_X_WIDENED, FC_NARROW_WEIGHTS, "8");
    }
  }
}
#endif

/* The requantization entry of row o: its own, or the single per-tensor one. */
static inline int32_t fc_entry(const tm_fc_dsp_params *p, int32_t o) {
  return TM_VARIANT_FLAG(p->per_channel, TM_V_FC_PER_CHANNEL, TM_V_FC_PER_TENSOR) ? o : 0;
}

#define OUT(acc, o) tm_dsp_apply((acc), tm_dsp_load_ch(rq, fc_entry(p, (o)), mode), mode, zp, lo, hi)

/* The next group of 4 inputs, widened: xa = (k0, k2), xb = (k1, k3); from the widened scratch (2 words), or
 * (`direct`) an input word widened here. */
static inline __attribute__((always_inline)) void next_group(const int32_t direct, const void **xp, int32_t *xa,
                                                             int32_t *xb) {
  if (direct) {
    const int8_t *x = (const int8_t *)*xp;
    const uint32_t v = tm_load32(x);
    *xa = tm_sxtb16(v), *xb = tm_sxtb16_ror8(v);
    *xp = x + 4;
  } else {
    const int32_t *x = (const int32_t *)*xp;
    *xa = x[0], *xb = x[1];
    *xp = x + 2;
  }
}

/* One group of 4 inputs against a block of 4 rows: int16 weights (8 words at *ww, the rows' (k0, k2) pairs then
 * their (k1, k3) pairs) or int8 (a word per row at *wn). */
static inline __attribute__((always_inline)) void block_group(const int32_t wide, const int32_t **ww,
                                                              const int8_t **wn, int32_t xa, int32_t xb, int32_t *a0,
                                                              int32_t *a1, int32_t *a2, int32_t *a3) {
  if (wide) {
    const int32_t *w = *ww;
    *a0 = tm_smlad(w[0], xa, *a0);
    *a1 = tm_smlad(w[1], xa, *a1);
    *a2 = tm_smlad(w[2], xa, *a2);
    *a3 = tm_smlad(w[3], xa, *a3);
    *a0 = tm_smlad(w[4], xb, *a0);
    *a1 = tm_smlad(w[5], xb, *a1);
    *a2 = tm_smlad(w[6], xb, *a2);
    *a3 = tm_smlad(w[7], xb, *a3);
    *ww = w + 8;
  } else {
    const int8_t *w = *wn;
    uint32_t r = tm_load32(w);
    *a0 = tm_smlad(tm_sxtb16(r), xa, *a0);
    *a0 = tm_smlad(tm_sxtb16_ror8(r), xb, *a0);
    r = tm_load32(w + 4);
    *a1 = tm_smlad(tm_sxtb16(r), xa, *a1);
    *a1 = tm_smlad(tm_sxtb16_ror8(r), xb, *a1);
    r = tm_load32(w + 8);
    *a2 = tm_smlad(tm_sxtb16(r), xa, *a2);
    *a2 = tm_smlad(tm_sxtb16_ror8(r), xb, *a2);
    r = tm_load32(w + 12);
    *a3 = tm_smlad(tm_sxtb16(r), xa, *a3);
    *a3 = tm_smlad(tm_sxtb16_ror8(r), xb, *a3);
    *wn = w + 16;
  }
}

/* One group of 4 inputs against a single row (the rows after the blocks of 4): 2 int16 words or 1 int8 word. */
static inline __attribute__((always_inline)) int32_t row_group(const int32_t wide, const int32_t **ww,
                                                               const int8_t **wn, int32_t xa, int32_t xb, int32_t a) {
  if (wide) {
    a = tm_smlad((*ww)[0], xa, a);
    a = tm_smlad((*ww)[1], xb, a);
    *ww += 2;
  } else {
    const uint32_t r = tm_load32(*wn);
    a = tm_smlad(tm_sxtb16(r), xa, a);
    a = tm_smlad(tm_sxtb16_ror8(r), xb, a);
    *wn += 4;
  }
  return a;
}

/* Every row of one batch item: blocks of 4 rows, then the rest one by one. x: the input widened into scratch, or
 * (`direct`, no scratch) the int8 input itself, each block of rows widening its words on the fly and the last,
 * partial group read from a zero-padded copy. */
static inline __attribute__((always_inline)) void fc_rows(const tm_fc_dsp_params *p, const tm_dsp_requant *rq,
                                                          const void *x, const void *weights, const int32_t *bias,
                                                          int8_t *out, const int32_t mode, const int32_t direct) {
  const int32_t zp = rq->output_offset, lo = rq->act_min, hi = rq->act_max;
  const int32_t wide = TM_VARIANT_FLAG(p->wide, TM_V_FC_WIDE, TM_V_FC_NARROW);
  const int32_t groups = p->k4 >> 2, rows4 = p->out_features & ~3, n = p->in_features;
  const int32_t full = direct ? n >> 2 : groups;  /* groups read from x in the loop */
  const int32_t has_tail = groups > full;
  int32_t tail_a = 0, tail_b = 0;
  if (direct) {
    const uint32_t tail = tail_word((const int8_t *)x, 4 * full, n);
    tail_a = tm_sxtb16(tail), tail_b = tm_sxtb16_ror8(tail);
  }
  const int32_t *ww = (const int32_t *)weights;
  const int8_t *wn = (const int8_t *)weights;
  for (int32_t o = 0; o < rows4; o += 4) {
    int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
#if TM_DSP_NATIVE
    if (full > 0) {
      const void *wp = wide ? (const void *)ww : (const void *)wn;
      fc4_asm(&wp, x, full, wide, direct, &a0, &a1, &a2, &a3);
      ww = (const int32_t *)wp, wn = (const int8_t *)wp;
    }
#else
    {
      const void *xp = x;
      for (int32_t g = 0; g < full; ++g) {
        int32_t xa, xb;
        next_group(direct, &xp, &xa, &xb);
        block_group(wide, &ww, &wn, xa, xb, &a0, &a1, &a2, &a3);
      }
    }
#endif
    if (has_tail) block_group(wide, &ww, &wn, tail_a, tail_b, &a0, &a1, &a2, &a3);
    out[o] = OUT(a0, o);
    out[o + 1] = OUT(a1, o + 1);
    out[o + 2] = OUT(a2, o + 2);
    out[o + 3] = OUT(a3, o + 3);
  }
  for (int32_t o = rows4; o < p->out_features; ++o) {
    int32_t a = bias[o];
    const void *xp = x;
    for (int32_t g = 0; g < full; ++g) {
      int32_t xa, xb;
      next_group(direct, &xp, &xa, &xb);
      a = row_group(wide, &ww, &wn, xa, xb, a);
    }
    if (has_tail) a = row_group(wide, &ww, &wn, tail_a, tail_b, a);
    out[o] = OUT(a, o);
  }
}

static inline __attribute__((always_inline)) void fc_run(const tm_fc_dsp_params *p, const tm_dsp_requant *rq,
                                                         const int8_t *input, const void *weights,
                                                         const int32_t *bias, int8_t *output, int32_t *scratch,
                                                         const int32_t mode) {
  for (int32_t b = 0; b < p->batches; ++b) {
    const int8_t *x = input + b * p->in_features;
    int8_t *out = output + b * p->out_features;
    if (TM_VARIANT_FLAG(p->direct, TM_V_FC_DIRECT, TM_V_FC_SCRATCH)) {
      fc_rows(p, rq, x, weights, bias, out, mode, 1);
    } else {
      widen(x, p->in_features, p->k4, scratch);
      fc_rows(p, rq, scratch, weights, bias, out, mode, 0);
    }
  }
}

void tm_fully_connected_s8_dsp(const tm_fc_dsp_params *p, const tm_dsp_requant *rq, const int8_t *input,
                               const void *weights, const int32_t *bias, int8_t *output, int32_t *scratch) {
  TM_DSP_BY_MODE(rq, fc_run(p, rq, input, weights, bias, output, scratch, mode_))
}
