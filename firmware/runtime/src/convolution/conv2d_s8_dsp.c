/* Int8 convolution, DSP variant: an im2col GEMM. Two output pixels at a time are gathered and widened to int16 into
 * scratch (padded taps read the input zero point, the input offset being folded into the bias); every pair of output
 * channels then runs a 2x2 register tile of SMLADs over it. `direct` (in_c % 4 == 0): no im2col, the tile reads the
 * input words itself, per run of taps contiguous in the input for both pixels (a kernel row inside the input is one
 * run), widening them once for its two channels (scratch: one row of zero points for padded taps). An odd last pixel
 * runs against two channel pairs at once. Any output row range can be computed (tm_conv2d_s8_dsp_rows, the row
 * kernel of the in-place wrapper), and the output stage may add a skip tensor with TFLite's ADD arithmetic
 * (tm_conv2d_add_s8_dsp). Layouts: see tinyml/kernels_dsp.h. */
#include "tinyml/kernels_dsp.h"
#include "../elementwise/add_one.h"

/* The interleaved row block: per group of 4 k, words (px0 k0k2, px0 k1k3, px1 k0k2, px1 k1k3); this writes one
 * pixel's two words of each group (dst: that pixel's first word). groups >= 1. */
static void widen_into(int32_t *dst, const int8_t *src, int32_t groups) {
#if TM_DSP_NATIVE
  int32_t w, a, b;
  if (groups & 1)
    __asm__ volatile("ldr %[w], [%[s]], #4\n\t"
                     "sxtb16 %[a], %[w]\n\t"
                     "sxtb16 %[b], %[w], ror #8\n\t"
                     "strd %[a], %[b], [%[d]], #16"
                     : [s] "+r"(src), [d] "+r"(dst), [w] "=&r"(w), [a] "=&r"(a), [b] "=&r"(b)
                     :
                     : "memory");
  if (groups >= 2) {  /* two groups per iteration: LDR, 2 SXTB16 and STRD each, 10 instructions */
    int32_t w2, c, d;
    const int8_t *end = src + 4 * (groups & ~1);
    __asm__ volatile("1:\n\t"
                     "ldr %[w], [%[s]], #4\n\t"
                     "ldr %[w2], [%[s]], #4\n\t"
                     "sxtb16 %[a], %[w]\n\t"
                     "sxtb16 %[b], %[w], ror #8\n\t"
                     "sxtb16 %[c], %[w2]\n\t"
                     "sxtb16 %[d2], %[w2], ror #8\n\t"
                     "strd %[a], %[b], [%[d]], #16\n\t"
                     "strd %[c], %[d2], [%[d]], #16\n\t"
                     "cmp %[s], %[end]\n\t"
                     "bne 1b"
                     : [s] "+r"(src), [d] "+r"(dst), [w] "=&r"(w), [w2] "=&r"(w2), [a] "=&r"(a), [b] "=&r"(b),
                       [c] "=&r"(c), [d2] "=&r"(d)
                     : [end] "r"(end)
                     : "cc", "memory");
  }
#else
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t w = tm_load32(src);
    dst[0] = tm_sxtb16(w);
    dst[1] = tm_sxtb16_ror8(w);
    dst += 4;
    src += 4;
  }
#endif
}

/* n bytes from src to dst, a word at a time (unaligned loads and stores are fine on the DSP cores). */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t w = tm_load32(src + i);
    memcpy(dst + i, &w, 4);
  }
  for (; i < n; ++i) dst[i] = src[i];
}

/* n bytes of `word`'s repeated byte (the pad value in all 4 bytes) at dst. */
static inline void fill_bytes(int8_t *dst, uint32_t word, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) memcpy(dst + i, &word, 4);
  for (; i < n; ++i) dst[i] = (int8_t)word;
}

/* What im2col and taps_of read of one convolution call, passed by one pointer: as 9 arguments, 5 went on the stack,
 * stored anew for every pixel (VWW on the M55: 2 instructions more per pixel pair after a register shuffle). */
typedef struct {
  const tm_conv_dsp_params *p;
  const tm_dims *in;
  const int8_t *input;
  int32_t kh, kw;
  int8_t *aux;  /* im2col: the gather row; tap_of: the row of in_c pad values for padded taps */
} conv_window;

/* Direct mode: a run of input bytes that the two pixels of a tile read at once, in k order: pixel 0 reads [s0, end),
 * pixel 1 the same number of bytes from s0 + delta. Taps whose bytes follow the previous tap's for both pixels (the
 * kw taps of a kernel row inside the input, at dilation 1) extend one run: one bound check and setup per run instead
 * of per tap. The fields' order is the one the direct tile's loads expect. */
typedef struct {
  const int8_t *s0;
  intptr_t delta;
  const int8_t *end;
} conv_run;

/* One kernel row of a window that leaves the input at its left or right edge, into the gather row g: pad where the
 * taps fall outside, the input's bytes elsewhere (at dilation 1 one span). Out of line, so that the inner rows'
 * path in im2col keeps its registers. row: the input row; x0: the window's first column. */
static __attribute__((noinline)) void gather_edge_row(int8_t *g, const int8_t *row, int32_t in_w, int32_t in_c,
                                                      int32_t x0, int32_t kw, int32_t dilation_w, uint32_t pad) {
  if (dilation_w == 1) {
    const int32_t lo = x0 < 0 ? -x0 : 0, hi = x0 + kw > in_w ? in_w - x0 : kw;
    fill_bytes(g, pad, kw * in_c);
    if (lo < hi) copy_bytes(g + lo * in_c, row + (x0 + lo) * in_c, (hi - lo) * in_c);
    return;
  }
  for (int32_t kx = 0; kx < kw; ++kx) {
    const int32_t x = x0 + kx * dilation_w;
    if (x >= 0 && x < in_w)
      copy_bytes(g + kx * in_c, row + x * in_c, in_c);
    else
      fill_bytes(g + kx * in_c, pad, in_c);
  }
}

static void im2col(const conv_window *cw, int32_t oy, int32_t ox, int32_t *dst) {
  const tm_conv_dsp_params *p = cw->p;
  const tm_dims *in = cw->in;
  const int8_t *input = cw->input;
  const int32_t kh = cw->kh, kw = cw->kw;
  int8_t *gather = cw->aux;
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
  const uint32_t pad = 0x01010101u * (uint8_t)p->pad_value;
  const int32_t row_bytes = kw * in_c;
  const int32_t x_inside = p->dilation_w == 1 && x0 >= 0 && x0 + kw <= in->w;
  for (int32_t ky = 0; ky < kh; ++ky, g += row_bytes) {
    const int32_t y = y0 + ky * p->dilation_h;
    if (y < 0 || y >= in->h) {  /* a whole row of padding */
      fill_bytes(g, pad, row_bytes);
    } else if (x_inside) {  /* the kw taps of this row are contiguous input bytes */
      copy_bytes(g, input + (y * in->w + x0) * in_c, row_bytes);
    } else {
      gather_edge_row(g, input + y * in->w * in_c, in->w, in_c, x0, kw, p->dilation_w, pad);
    }
  }
  widen_into(dst, gather, p->k4 >> 2);  /* the gather row's tail past k: zeros (conv_pixels) */
}

/* tm_requantize (shift in [-31, 31]) as one 64-bit multiply, add and shift. For every product P but the
 * saturating INT32_MIN^2, the rounding doubling high multiply is h = floor((P + 2^30) / 2^31) and the ties-away
 * divide by 2^r is floor((h + 2^(r-1) - [h < 0]) / 2^r); nested floors give hi32(P + K) >> (r - 1) with
 * K = 2^30 + 2^(30+r) - [P < 0] 2^31 (P in [-2^30, 0) gives the same either way). */
typedef struct {
  int32_t multiplier, left, post;  /* post < 0: no right shift (h itself, of x << left) */
  int64_t k_pos, k_neg;
} rq64;

static int32_t rq64_init(rq64 *q, int32_t multiplier, int32_t shift) {
  if (multiplier == INT32_MIN || shift > 31 || shift < -31) return 0;
  q->multiplier = multiplier;
  q->left = shift > 0 ? shift : 0;
  q->post = shift >= 0 ? -1 : -shift - 1;
  q->k_pos = shift >= 0 ? 0 : (1LL << 30) + (1LL << (30 - shift));
  q->k_neg = q->k_pos - (1LL << 31);
  return 1;
}

static inline int32_t rq64_apply(int32_t x, const rq64 *q) {
  if (q->post < 0) {
    const int64_t p = (int64_t)(int32_t)((uint32_t)x << q->left) * (int64_t)q->multiplier;
    return (int32_t)((p + (1LL << 30)) >> 31);
  }
  const int64_t p = (int64_t)x * (int64_t)q->multiplier;
  return (int32_t)((p + (p < 0 ? q->k_neg : q->k_pos)) >> 32) >> q->post;
}

typedef struct {
  rq64 a, b, out;
  int32_t left_shift, a_offset, b_offset, output_offset, act_min, act_max;
} add_fast;

static int32_t add_fast_init(add_fast *f, const tm_add_params *add) {
  f->left_shift = add->left_shift;
  f->a_offset = add->a_offset;
  f->b_offset = add->b_offset;
  f->output_offset = add->output_offset;
  f->act_min = add->act_min;
  f->act_max = add->act_max;
  return rq64_init(&f->a, add->a_multiplier, add->a_shift) && rq64_init(&f->b, add->b_multiplier, add->b_shift) &&
         rq64_init(&f->out, add->output_multiplier, add->output_shift);
}

/* tm_add_one_s8's arithmetic with the 64-bit requantization constants of add_fast_init. */
static inline int8_t add_one_fast(const add_fast *f, int32_t a, int32_t b) {
  const int32_t sa = rq64_apply((a + f->a_offset) * (1 << f->left_shift), &f->a);
  const int32_t sb = rq64_apply((b + f->b_offset) * (1 << f->left_shift), &f->b);
  const int32_t sum = rq64_apply(sa + sb, &f->out) + f->output_offset;
  return (int8_t)tm_clamp(sum, f->act_min, f->act_max);
}

typedef struct {
  const tm_add_params *add;
  int32_t conv_is_first;
  const int8_t *skip;          /* at the first computed pixel, like the output */
  const add_fast *fast;        /* NULL: tm_add_s8's general arithmetic */
} fused_add;

/* The fused residual ADD (tm_conv2d_add_s8's arithmetic) of n convolution outputs `conv` with their skip elements,
 * into `out` (which may be `skip`): with `fast`'s constants, or else tm_add_s8's general arithmetic with `add`. Out of
 * line: the loop gets its own registers instead of sharing them with the convolution's pixel loop, which spilled its
 * constants (IC on the M7: one load more per element). `restrict`: the int8 stores to `out` do not change the
 * parameters, so the loop need not reload them after each store (nor copy them onto the stack). */
static __attribute__((noinline)) void add_skip(const add_fast *restrict fast, const tm_add_params *restrict add,
                                               int32_t conv_is_first, int8_t *out, const int8_t *conv,
                                               const int8_t *skip, int32_t n) {
  const int8_t *a = conv_is_first ? conv : skip, *b = conv_is_first ? skip : conv;
  if (fast) {
    for (int32_t i = 0; i < n; ++i) out[i] = add_one_fast(fast, a[i], b[i]);
  } else {
    for (int32_t i = 0; i < n; ++i) out[i] = tm_add_one_s8(add, a[i], b[i]);
  }
}

#if TM_DSP_NATIVE
/* The im2col 2x2 tile in assembly (gcc spills it): per group of 4 k, LDM of the 4 widened words of the two pixels
 * (fixed, ascending registers), then the two channels' weights: int16 ("wide": 2 LDRD, 8 SMLAD; 13 instructions per
 * 16 MACs with the loop, 19 cycles on a Cortex-M4) or int8 ("narrow": 2 pipelined LDR, the second into lr, each word
 * widened by 2 SXTB16; 15 instructions, 20 cycles, for half the weight bytes). groups >= 1. */
#define TILE_WIDE_BODY                                         \
  "ldmia %[x]!, {%[x0a], %[x0b], %[x1a], %[x1b]}\n\t"         \
  "ldrd %[wa], %[wb], [%[w]], #8\n\t"                         \
  "smlad %[a00], %[x0a], %[wa], %[a00]\n\t"                   \
  "smlad %[a10], %[x1a], %[wa], %[a10]\n\t"                   \
  "smlad %[a00], %[x0b], %[wb], %[a00]\n\t"                   \
  "smlad %[a10], %[x1b], %[wb], %[a10]\n\t"                   \
  "ldrd %[wa], %[wb], [%[w]], #8\n\t"                         \
  "smlad %[a01], %[x0a], %[wa], %[a01]\n\t"                   \
  "smlad %[a11], %[x1a], %[wa], %[a11]\n\t"                   \
  "smlad %[a01], %[x0b], %[wb], %[a01]\n\t"                   \
  "smlad %[a11], %[x1b], %[wb], %[a11]\n\t"
/* one channel's int8 word of 4 k (in `word`) against the two pixels: wb = (k0, k2), then wa = (k1, k3) */
#define TILE_NARROW_CHANNEL(word, a0, a1)                      \
  "sxtb16 %[wb], " word "\n\t"                                \
  "smlad %[" a0 "], %[x0a], %[wb], %[" a0 "]\n\t"             \
  "smlad %[" a1 "], %[x1a], %[wb], %[" a1 "]\n\t"             \
  "sxtb16 %[wa], " word ", ror #8\n\t"                        \
  "smlad %[" a0 "], %[x0b], %[wa], %[" a0 "]\n\t"             \
  "smlad %[" a1 "], %[x1b], %[wa], %[" a1 "]\n\t"
/* the two channels' words loaded back to back (pipelined), the second one into lr */
#define TILE_NARROW_BODY                                       \
  "ldmia %[x]!, {%[x0a], %[x0b], %[x1a], %[x1b]}\n\t"         \
  "ldr %[wa], [%[w]], #8\n\t"                                 \
  "ldr lr, [%[w], #-4]\n\t"                                   \
  TILE_NARROW_CHANNEL("%[wa]", "a00", "a10") TILE_NARROW_CHANNEL("lr", "a01", "a11")
#define TILE_OPERANDS                                                                                        \
  : [a00] "+r"(*a00), [a01] "+r"(*a01), [a10] "+r"(*a10), [a11] "+r"(*a11), [x] "+r"(x), [w] "+r"(*w),      \
    [x0a] "=&r"(x0a), [x0b] "=&r"(x0b), [x1a] "=&r"(x1a), [x1b] "=&r"(x1b), [wa] "=&r"(wa), [wb] "=&r"(wb)
/* Two groups per iteration (wide: 25 instructions per 32 MACs); groups is even (see tm_conv_dsp_params.k4). The
 * variable arguments: clobbers ("lr", for the int8 body, which loads into lr; none for the int16 one, so that its
 * register allocation keeps lr). */
#define TILE_LOOP(BODY, ...)                                                               \
  __asm__ volatile("1:\n\t" BODY BODY "cmp %[x], %[xe]\n\t"                               \
                   "bne 1b" TILE_OPERANDS                                                  \
                   : [xe] "r"(x + 4 * groups)                                              \
                   : __VA_ARGS__ "cc", "memory")
static inline __attribute__((always_inline)) void tile_asm(const int32_t *x, const uint32_t **w, int32_t groups,
                                                           int32_t *a00, int32_t *a01, int32_t *a10, int32_t *a11,
                                                           const int32_t wide) {
  register int32_t x0a __asm__("r8"), x0b __asm__("r9"), x1a __asm__("r10"), x1b __asm__("r12");
  int32_t wa, wb;
  if (wide)
    TILE_LOOP(TILE_WIDE_BODY, );
  else
    TILE_LOOP(TILE_NARROW_BODY, "lr",);
}

/* Every channel pair of a pixel pair in one assembly block, for the im2col tile in the saturating fast modes (the
 * output stage of TM_RQ_SAT_ASM): per pair, LDRD of the two biases, the tile loop, then per channel in mode
 * TM_DSP_FAST_SAT one LDM of its parameters for both pixels (K copied into lr and r5, the unused pre-shift, before
 * the first SMLAL consumes it), 2 x (SMLAL, ASR, SSAT, STRB): 17 cycles where two TM_RQ_SAT_ASM take 22; in mode
 * TM_DSP_FAST_SAT_ANY per output an LDM, the pre-shift LSL, SMLAL, ASR, the ADD of the zero point (loaded into lr
 * once per pair), SSAT, STRB. The loop state lives in a stack struct (memory operands); the 7 fixed
 * registers are the LDM'ed pixel words (r8, r9, r10, r12) and weights (r5, r6; int8: r5, lr and r6 for the widened
 * halves) in the tile, then the channel's parameters (r4, r5, r6, r8, r9) and output pointers (r10, r12) in the
 * output stage. Four groups per loop iteration; groups % 4 == 2 (16 bytes of rows per group) enters at the third.
 * pairs >= 1, groups even >= 2. */
#define PAIRS_TILE_WIDE                                        \
  "ldmia %[x]!, {r8, r9, r10, r12}\n\t"                      \
  "ldrd r5, r6, [%[w]], #8\n\t"                              \
  "smlad %[a00], r8, r5, %[a00]\n\t"                         \
  "smlad %[a10], r10, r5, %[a10]\n\t"                        \
  "smlad %[a00], r9, r6, %[a00]\n\t"                         \
  "smlad %[a10], r12, r6, %[a10]\n\t"                        \
  "ldrd r5, r6, [%[w]], #8\n\t"                              \
  "smlad %[a01], r8, r5, %[a01]\n\t"                         \
  "smlad %[a11], r10, r5, %[a11]\n\t"                        \
  "smlad %[a01], r9, r6, %[a01]\n\t"                         \
  "smlad %[a11], r12, r6, %[a11]\n\t"
#define PAIRS_NARROW_CHANNEL(word, a0, a1)                     \
  "sxtb16 r6, " word "\n\t"                                  \
  "smlad %[" a0 "], r8, r6, %[" a0 "]\n\t"                   \
  "smlad %[" a1 "], r10, r6, %[" a1 "]\n\t"                  \
  "sxtb16 r6, " word ", ror #8\n\t"                          \
  "smlad %[" a0 "], r9, r6, %[" a0 "]\n\t"                   \
  "smlad %[" a1 "], r12, r6, %[" a1 "]\n\t"
#define PAIRS_TILE_NARROW                                      \
  "ldmia %[x]!, {r8, r9, r10, r12}\n\t"                      \
  "ldr r5, [%[w]], #8\n\t"                                   \
  "ldr lr, [%[w], #-4]\n\t"                                  \
  PAIRS_NARROW_CHANNEL("r5", "a00", "a10") PAIRS_NARROW_CHANNEL("lr", "a01", "a11")
#define PAIRS_OUT(a, wb, dst, lsl, add)                        \
  "ldmia %[x]" wb ", {r4, r5, r6, r8, r9}\n\t" lsl(a)        \
  "smlal r8, r9, %[" a "], r4\n\t"                           \
  "asr %[" a "], r9, r6\n\t" add(a)                          \
  "ssat %[" a "], #8, %[" a "]\n\t"                          \
  "strb %[" a "], " dst "\n\t"
#define PAIRS_LSL(a) "lsl %[" a "], %[" a "], r5\n\t"
#define PAIRS_ADD(a) "add %[" a "], %[" a "], lr\n\t"
#define PAIRS_OUT_ANY                                          \
  "ldr lr, %[zp]\n\t"                                        \
  PAIRS_OUT("a00", "", "[r10], #1", PAIRS_LSL, PAIRS_ADD)    \
  PAIRS_OUT("a10", "!", "[r12], #1", PAIRS_LSL, PAIRS_ADD)   \
  PAIRS_OUT("a01", "", "[r10], #1", PAIRS_LSL, PAIRS_ADD)    \
  PAIRS_OUT("a11", "!", "[r12], #1", PAIRS_LSL, PAIRS_ADD)
#define PAIRS_SAT_CHANNEL(a0, a1)                              \
  "ldmia %[x]!, {r4, r5, r6, r8, r9}\n\t"                    \
  "mov lr, r8\n\t"                                           \
  "mov r5, r9\n\t"                                           \
  "smlal r8, r9, %[" a0 "], r4\n\t"                          \
  "smlal lr, r5, %[" a1 "], r4\n\t"                          \
  "asr %[" a0 "], r9, r6\n\t"                                \
  "asr %[" a1 "], r5, r6\n\t"                                \
  "ssat %[" a0 "], #8, %[" a0 "]\n\t"                        \
  "ssat %[" a1 "], #8, %[" a1 "]\n\t"                        \
  "strb %[" a0 "], [r10], #1\n\t"                            \
  "strb %[" a1 "], [r12], #1\n\t"
#define PAIRS_OUT_SAT PAIRS_SAT_CHANNEL("a00", "a10") PAIRS_SAT_CHANNEL("a01", "a11")
/* TILE: the tile's group body; OUT: the output stage, PAIRS_OUT_SAT or PAIRS_OUT_ANY (both use lr, as does the
 * int8 tile). */
#define PAIRS_ASM(TILE, OUT)                                                                                \
  __asm__ volatile("1:\n\t"                                                                                \
                   "ldr r4, %[bias]\n\t"                                                                   \
                   "ldrd %[a00], %[a01], [r4], #8\n\t"                                                     \
                   "str r4, %[bias]\n\t"                                                                   \
                   "mov %[a10], %[a00]\n\t"                                                                \
                   "mov %[a11], %[a01]\n\t"                                                                \
                   "ldr %[x], %[rows]\n\t"                                                                 \
                   "ldr r4, %[rows_end]\n\t"                                                               \
                   "sub r5, r4, %[x]\n\t"                                                                  \
                   "tst r5, #32\n\t"                                                                       \
                   "bne 3f\n\t"                                                                            \
                   "2:\n\t" TILE TILE                                                                      \
                   "3:\n\t" TILE TILE                                                                      \
                   "cmp %[x], r4\n\t"                                                                      \
                   "bne 2b\n\t"                                                                            \
                   "ldr %[x], %[rc]\n\t"                                                                   \
                   "ldr r10, %[o0]\n\t"                                                                    \
                   "ldr r12, %[o1]\n\t" OUT                                                               \
                   "str %[x], %[rc]\n\t"                                                                   \
                   "str r10, %[o0]\n\t"                                                                    \
                   "str r12, %[o1]\n\t"                                                                    \
                   "ldr r4, %[left]\n\t"                                                                   \
                   "subs r4, r4, #1\n\t"                                                                   \
                   "str r4, %[left]\n\t"                                                                   \
                   "bne 1b"                                                                                 \
                   : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [x] "=&r"(x),     \
                     [w] "+r"(*w), [bias] "+m"(st.bias), [rc] "+m"(st.rc), [o0] "+m"(st.o0), [o1] "+m"(st.o1), \
                     [left] "+m"(st.left)                                                                    \
                   : [rows] "m"(st.rows), [rows_end] "m"(st.rows_end), [zp] "m"(st.zp)                       \
                   : "r4", "r5", "r6", "r8", "r9", "r10", "r12", "lr", "cc", "memory")
static inline __attribute__((always_inline)) void pairs_sat_asm(const int32_t *rows, const uint32_t **w,
                                                                int32_t groups, const int32_t *bias,
                                                                const tm_requant_ch *rc, int8_t *o0, int8_t *o1,
                                                                int32_t pairs, const int32_t wide, const int32_t any,
                                                                int32_t zp) {
  struct {
    const int32_t *bias, *rows, *rows_end;
    const tm_requant_ch *rc;
    int8_t *o0, *o1;
    int32_t left, zp;
  } st = {bias, rows, rows + 4 * groups, rc, o0, o1, pairs, zp};
  int32_t a00, a01, a10, a11;
  const int32_t *x;
  if (any && wide)
    PAIRS_ASM(PAIRS_TILE_WIDE, PAIRS_OUT_ANY);
  else if (any)
    PAIRS_ASM(PAIRS_TILE_NARROW, PAIRS_OUT_ANY);
  else if (wide)
    PAIRS_ASM(PAIRS_TILE_WIDE, PAIRS_OUT_SAT);
  else
    PAIRS_ASM(PAIRS_TILE_NARROW, PAIRS_OUT_SAT);
  (void)a00, (void)a01, (void)a10, (void)a11, (void)x;
}

/* The same for one pixel (an odd last pixel): LDRD of its 2 words (rows keep the 2-pixel interleave), the two
 * channels' weights (2 LDRD of int16, or 2 LDR of int8 widened in place), 4 SMLAD. */
#define TILE1_WIDE_BODY                                        \
  "ldrd %[wa], %[wb], [%[w]], #8\n\t"                         \
  "smlad %[a00], %[x0a], %[wa], %[a00]\n\t"                   \
  "smlad %[a00], %[x0b], %[wb], %[a00]\n\t"                   \
  "ldrd %[wa], %[wb], [%[w]], #8\n\t"                         \
  "smlad %[a01], %[x0a], %[wa], %[a01]\n\t"                   \
  "smlad %[a01], %[x0b], %[wb], %[a01]\n\t"
#define TILE1_NARROW_CHANNEL(a)                                \
  "ldr %[wa], [%[w]], #4\n\t"                                 \
  "sxtb16 %[wb], %[wa]\n\t"                                   \
  "sxtb16 %[wa], %[wa], ror #8\n\t"                           \
  "smlad %[" a "], %[x0a], %[wb], %[" a "]\n\t"               \
  "smlad %[" a "], %[x0b], %[wa], %[" a "]\n\t"
#define TILE1_LOOP(BODY)                                                                                 \
  __asm__ volatile("1:\n\t"                                                                              \
                   "ldrd %[x0a], %[x0b], [%[x]], #16\n\t" BODY                                          \
                   "cmp %[x], %[xe]\n\t"                                                                 \
                   "bne 1b"                                                                              \
                   : [a00] "+r"(*a00), [a01] "+r"(*a01), [x] "+r"(x), [w] "+r"(*w), [x0a] "=&r"(x0a),    \
                     [x0b] "=&r"(x0b), [wa] "=&r"(wa), [wb] "=&r"(wb)                                    \
                   : [xe] "r"(xe)                                                                        \
                   : "cc", "memory")
static inline __attribute__((always_inline)) void tile1_asm(const int32_t *x, const uint32_t **w, int32_t groups,
                                                            int32_t *a00, int32_t *a01, const int32_t wide) {
  int32_t x0a, x0b, wa, wb;
  const int32_t *xe = x + 4 * groups;
  if (wide)
    TILE1_LOOP(TILE1_WIDE_BODY);
  else
    TILE1_LOOP(TILE1_NARROW_CHANNEL("a00") TILE1_NARROW_CHANNEL("a01"));
}

/* One pixel (an odd last pixel; rows keep the 2-pixel interleave) against two channel pairs at once: per group the
 * pixel's 2 words and each pair's weights as single loads (pipelined), 8 SMLAD; int16 weights (4 words per pair and
 * group): 20 cycles per 16 MACs, where tile1_asm takes 13 per 8; int8 (2 words, each widened in place by 2 SXTB16):
 * 24 per 16, where tile1_asm takes 17 per 8. *w: pair o's weights, pair o + 2's follow (groups words per pair and
 * word of a group on); both are consumed. a0, a1: channels o, o + 1; a2, a3: o + 2, o + 3. groups even >= 2; 13
 * registers, the end in memory. */
#define TILE1X4_PAIR_WIDE(wp, a0, a1)                          \
  "ldr %[wa], [%[" wp "]], #16\n\t"                          \
  "ldr %[wb], [%[" wp "], #-12]\n\t"                         \
  "ldr %[wc], [%[" wp "], #-8]\n\t"                          \
  "ldr %[wd], [%[" wp "], #-4]\n\t"                          \
  "smlad %[" a0 "], %[xa], %[wa], %[" a0 "]\n\t"             \
  "smlad %[" a0 "], %[xb], %[wb], %[" a0 "]\n\t"             \
  "smlad %[" a1 "], %[xa], %[wc], %[" a1 "]\n\t"             \
  "smlad %[" a1 "], %[xb], %[wd], %[" a1 "]\n\t"
#define TILE1X4_PAIR_NARROW(wp, a0, a1)                        \
  "ldr %[wa], [%[" wp "]], #8\n\t"                           \
  "ldr %[wc], [%[" wp "], #-4]\n\t"                          \
  "sxtb16 %[wb], %[wa], ror #8\n\t"                          \
  "sxtb16 %[wa], %[wa]\n\t"                                  \
  "sxtb16 %[wd], %[wc], ror #8\n\t"                          \
  "sxtb16 %[wc], %[wc]\n\t"                                  \
  "smlad %[" a0 "], %[xa], %[wa], %[" a0 "]\n\t"             \
  "smlad %[" a0 "], %[xb], %[wb], %[" a0 "]\n\t"             \
  "smlad %[" a1 "], %[xa], %[wc], %[" a1 "]\n\t"             \
  "smlad %[" a1 "], %[xb], %[wd], %[" a1 "]\n\t"
#define TILE1X4_GROUP(PAIR)                                    \
  "ldr %[xb], [%[x], #4]\n\t"                                \
  "ldr %[xa], [%[x]], #16\n\t"                               \
  PAIR("w0", "a0", "a1") PAIR("w1", "a2", "a3")
#define TILE1X4_LOOP(PAIR)                                                                                     \
  __asm__ volatile("1:\n\t" TILE1X4_GROUP(PAIR) TILE1X4_GROUP(PAIR)                                         \
                   "ldr %[wa], %[xe]\n\t"                                                                    \
                   "cmp %[x], %[wa]\n\t"                                                                     \
                   "bne 1b"                                                                                     \
                   : [a0] "+r"(*a0), [a1] "+r"(*a1), [a2] "+r"(*a2), [a3] "+r"(*a3), [x] "+r"(x), [w0] "+r"(w0), \
                     [w1] "+r"(w1), [xa] "=&r"(xa), [xb] "=&r"(xb), [wa] "=&r"(wa), [wb] "=&r"(wb),              \
                     [wc] "=&r"(wc), [wd] "=&r"(wd)                                                             \
                   : [xe] "m"(xe)                                                                               \
                   : "cc", "memory")
static inline __attribute__((always_inline)) void tile1x4_asm(const int32_t *x, const uint32_t **w, int32_t groups,
                                                              int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3,
                                                              const int32_t wide) {
  int32_t xa, xb, wa, wb, wc, wd;
  const uint32_t *w0 = *w, *w1 = *w + (wide ? 4 : 2) * groups;
  const int32_t *xe = x + 4 * groups;
  if (wide)
    TILE1X4_LOOP(TILE1X4_PAIR_WIDE);
  else
    TILE1X4_LOOP(TILE1X4_PAIR_NARROW);
  *w = w1;
}

/* The direct (no im2col) 2x2 tile over every run of taps (see conv_run), int16 or int8 weights. Per group of 4 k: the
 * two pixels' input words loaded back to back with the first weight word (pipelined single loads), widened once for
 * both channels, 8 SMLAD; the weights of the second channel follow (wide: 20 cycles per 16 MACs, 18 instructions;
 * narrow: both channels' words loaded with the input, the second into lr, and 2 SXTB16 more per channel: 21 cycles).
 * Four groups per loop iteration (a run of 4n + 3, 4n + 2 or 4n + 1 groups enters at the second, third or fourth);
 * the run pointer and bounds live in memory operands, 13 registers (and lr).
 * nruns >= 1, every run at least one group. */
#define DIRECT_INPUT                                           \
  "ldr %[xa1], [%[s0], %[delta]]\n\t"                         \
  "ldr %[xa0], [%[s0]], #4\n\t"
#define DIRECT_WIDEN                                           \
  "sxtb16 %[xb1], %[xa1], ror #8\n\t"                         \
  "sxtb16 %[xa1], %[xa1]\n\t"                                 \
  "sxtb16 %[xb0], %[xa0], ror #8\n\t"                         \
  "sxtb16 %[xa0], %[xa0]\n\t"
#define DIRECT_MACS(a0, a1)                                    \
  "smlad %[" a0 "], %[xa0], %[wa], %[" a0 "]\n\t"             \
  "smlad %[" a1 "], %[xa1], %[wa], %[" a1 "]\n\t"             \
  "smlad %[" a0 "], %[xb0], %[wb], %[" a0 "]\n\t"             \
  "smlad %[" a1 "], %[xb1], %[wb], %[" a1 "]\n\t"
#define DIRECT_WIDE_GROUP                                      \
  DIRECT_INPUT                                                 \
  "ldr %[wa], [%[w]], #16\n\t"                                \
  "ldr %[wb], [%[w], #-12]\n\t"                               \
  DIRECT_WIDEN DIRECT_MACS("a00", "a10")                       \
  "ldr %[wa], [%[w], #-8]\n\t"                                \
  "ldr %[wb], [%[w], #-4]\n\t"                                \
  DIRECT_MACS("a01", "a11")
/* int8 weights: one word per channel (the second one loaded into lr with the first), (k0,k2) into wa and (k1,k3)
 * into wb */
#define DIRECT_NARROW_WEIGHTS(word)                            \
  "sxtb16 %[wb], " word ", ror #8\n\t"                        \
  "sxtb16 %[wa], " word "\n\t"
#define DIRECT_NARROW_GROUP                                    \
  DIRECT_INPUT                                                 \
  "ldr %[wa], [%[w]], #8\n\t"                                 \
  "ldr lr, [%[w], #-4]\n\t"                                   \
  DIRECT_WIDEN DIRECT_NARROW_WEIGHTS("%[wa]")                  \
  DIRECT_MACS("a00", "a10")                                    \
  DIRECT_NARROW_WEIGHTS("lr") DIRECT_MACS("a01", "a11")
/* ...: clobbers, as for TILE_LOOP */
#define DIRECT_LOOP(GROUP, ...)                                                                              \
  __asm__ volatile("1:\n\t"                                                                                \
                   "ldr %[wa], %[run]\n\t"                                                                 \
                   "ldr %[s0], [%[wa]], #4\n\t"                                                            \
                   "ldr %[delta], [%[wa]], #4\n\t"                                                         \
                   "ldr %[wb], [%[wa]], #4\n\t"                                                            \
                   "str %[wa], %[run]\n\t"                                                                 \
                   "str %[wb], %[end]\n\t"                                                                 \
                   "sub %[wb], %[wb], %[s0]\n\t"                                                           \
                   "and %[wb], %[wb], #12\n\t"                                                             \
                   "cmp %[wb], #8\n\t"                                                                     \
                   "beq 4f\n\t"                                                                            \
                   "cmp %[wb], #4\n\t"                                                                     \
                   "beq 5f\n\t"                                                                            \
                   "cmp %[wb], #12\n\t"                                                                    \
                   "beq 3f\n\t"                                                                            \
                   "2:\n\t" GROUP "3:\n\t" GROUP "4:\n\t" GROUP "5:\n\t" GROUP                               \
                   "ldr %[wa], %[end]\n\t"                                                                 \
                   "cmp %[s0], %[wa]\n\t"                                                                  \
                   "bne 2b\n\t"                                                                            \
                   "ldr %[wa], %[run]\n\t"                                                                 \
                   "ldr %[wb], %[run_end]\n\t"                                                             \
                   "cmp %[wa], %[wb]\n\t"                                                                  \
                   "bne 1b"                                                                                 \
                   : [a00] "+r"(*a00), [a01] "+r"(*a01), [a10] "+r"(*a10), [a11] "+r"(*a11), [s0] "=&r"(s0),  \
                     [delta] "=&r"(delta), [w] "+r"(*w), [xa0] "=&r"(xa0), [xb0] "=&r"(xb0), [xa1] "=&r"(xa1), \
                     [xb1] "=&r"(xb1), [wa] "=&r"(wa), [wb] "=&r"(wb), [run] "+m"(run), [end] "=m"(end)      \
                   : [run_end] "m"(run_end)                                                                  \
                   : __VA_ARGS__ "cc", "memory")
static inline __attribute__((always_inline)) void tile_direct_asm(const conv_run *runs, int32_t nruns,
                                                                  const uint32_t **w, const int32_t wide,
                                                                  int32_t *a00, int32_t *a01, int32_t *a10,
                                                                  int32_t *a11) {
  int32_t xa0, xb0, xa1, xb1, wa, wb;
  const int8_t *s0, *end;
  intptr_t delta;
  const conv_run *run = runs, *run_end = runs + nruns;
  if (wide)
    DIRECT_LOOP(DIRECT_WIDE_GROUP, );
  else
    DIRECT_LOOP(DIRECT_NARROW_GROUP, "lr",);
  (void)end;
}

/* The saturating fast output stage of a 2x2 tile (TM_RQ_SAT_ASM per output; `any`: mode TM_DSP_FAST_SAT_ANY, with
 * the pre-shift and the zero point as an extra operand); one statement per channel (its two pixels) keeps the
 * register demand at 10-11. */
#define RQ_CHANNEL_ASM(dst0, dst1, lsl, add, ...)                                                         \
  __asm__ volatile(TM_RQ_SAT_ASM("a0", "", dst0, lsl("a0"), add("a0"))                                  \
                   TM_RQ_SAT_ASM("a1", "!", dst1, lsl("a1"), add("a1"))                                  \
                   : [a0] "+r"(a0), [a1] "+r"(a1), [rc] "+r"(rc), TM_RQ_OUTPUTS                           \
                   : [o0] "r"(o0), [o1] "r"(o1) __VA_ARGS__                                              \
                   : "memory")
#define RQ_ZP_OPERAND , [zp] "r"(zp)
static inline __attribute__((always_inline)) void out_sat_asm(int32_t a00, int32_t a01, int32_t a10, int32_t a11,
                                                              const tm_requant_ch *rc, int8_t *o0, int8_t *o1,
                                                              const int32_t any, int32_t zp) {
  TM_RQ_REGISTERS;
  int32_t a0 = a00, a1 = a10;
  if (any) {
    RQ_CHANNEL_ASM("[%[o0]]", "[%[o1]]", TM_RQ_LSL, TM_RQ_ADD, RQ_ZP_OPERAND);
    a0 = a01, a1 = a11;
    RQ_CHANNEL_ASM("[%[o0], #1]", "[%[o1], #1]", TM_RQ_LSL, TM_RQ_ADD, RQ_ZP_OPERAND);
  } else {
    RQ_CHANNEL_ASM("[%[o0]]", "[%[o1]]", TM_RQ_NONE, TM_RQ_NONE);
    a0 = a01, a1 = a11;
    RQ_CHANNEL_ASM("[%[o0], #1]", "[%[o1], #1]", TM_RQ_NONE, TM_RQ_NONE);
  }
}
#endif

/* The widened weights of one group of 4 k of one channel, int16 (2 words) or int8 (1 word, 2 SXTB16). */
static inline __attribute__((always_inline)) void channel_weights(const uint32_t **w, const int32_t wide,
                                                                  int32_t *wa, int32_t *wb) {
  if (wide) {
    *wa = (int32_t)(*w)[0], *wb = (int32_t)(*w)[1];
    *w += 2;
  } else {
    const uint32_t r = *(*w)++;
    *wa = tm_sxtb16(r), *wb = tm_sxtb16_ror8(r);
  }
}

/* acc + the dot product of one group of 4 k: widened input words (x_a, x_b) with the weights (wa, wb). */
static inline int32_t dot4(int32_t xa, int32_t xb, int32_t wa, int32_t wb, int32_t acc) {
  return tm_smlad(xb, wb, tm_smlad(xa, wa, acc));
}

/* One channel's weights of one group of 4 k (advancing *w) against both pixels' widened words x = (pixel 0 k0k2,
 * pixel 0 k1k3, pixel 1 k0k2, pixel 1 k1k3), into that channel's accumulators of pixel 0 (a0) and pixel 1 (a1). */
static inline __attribute__((always_inline)) void channel_dot4(const uint32_t **w, const int32_t wide,
                                                               const int32_t *x, int32_t *a0, int32_t *a1) {
  int32_t wa, wb;
  channel_weights(w, wide, &wa, &wb);
  *a0 = dot4(x[0], x[1], wa, wb, *a0);
  *a1 = dot4(x[2], x[3], wa, wb, *a1);
}

/* The C tile of `n` channels (2: a pair, channel o in a00/a10 and o + 1 in a01/a11; 1: the odd last channel, in
 * a00/a10 only) over the two pixels, their weights interleaved per group of 4 k. Direct: the runs give the two
 * pixels' input bytes, widened in the loop; im2col: `rows` holds each group's 4 widened words. */
static inline __attribute__((always_inline)) void tile_c(const int32_t direct, const int32_t *rows, int32_t groups,
                                                         const conv_run *runs, int32_t nruns, const uint32_t **w,
                                                         const int32_t wide, const int32_t n, int32_t *a00,
                                                         int32_t *a01, int32_t *a10, int32_t *a11) {
  if (direct) {
    for (int32_t r = 0; r < nruns; ++r) {
      const int8_t *s0 = runs[r].s0, *s1 = (const int8_t *)((uintptr_t)s0 + (uintptr_t)runs[r].delta);
#pragma GCC unroll 2
      for (; s0 != runs[r].end; s0 += 4, s1 += 4) {
        const uint32_t v0 = tm_load32(s0), v1 = tm_load32(s1);
        const int32_t x[4] = {tm_sxtb16(v0), tm_sxtb16_ror8(v0), tm_sxtb16(v1), tm_sxtb16_ror8(v1)};
        channel_dot4(w, wide, x, a00, a10);
        if (n == 2) channel_dot4(w, wide, x, a01, a11);
      }
    }
  } else {
    const int32_t *x = rows;
    for (int32_t g = 0; g < groups; ++g, x += 4) {
      channel_dot4(w, wide, x, a00, a10);
      if (n == 2) channel_dot4(w, wide, x, a01, a11);
    }
  }
}

/* The odd last channel (cold: once per pixel pair of a layer with odd out_c; its weights w follow the pairs'), into
 * acc (pixel 0, pixel 1). Out of line, with w by value, so that it leaves the channel-pair loop's registers alone. */
static __attribute__((noinline)) void tile_c_odd(const int32_t direct, const int32_t *rows, int32_t groups,
                                                 const conv_run *runs, int32_t nruns, const uint32_t *w,
                                                 const int32_t wide, int32_t acc[2]) {
  int32_t unused0 = 0, unused1 = 0;
  tile_c(direct, rows, groups, runs, nruns, &w, wide, 1, &acc[0], &unused0, &acc[1], &unused1);
}

/* The channel-pair tile over two pixels: `rows` holds their widened words (im2col) or `runs` their input bytes
 * (direct). */
static inline __attribute__((always_inline)) void tile_pairs(
    const tm_conv_dsp_params *p, const tm_dsp_requant *rq, const int8_t *weights, const int32_t *bias,
    int32_t out_c, const int32_t *rows, const conv_run *runs, int32_t nruns,
    int32_t groups, int8_t *o0, int8_t *o1, const int32_t mode, const int32_t direct, const int32_t single) {
  const int32_t zp = rq->output_offset, lo = rq->act_min, hi = rq->act_max, pairs = out_c & ~1;
  const int32_t wide = TM_VARIANT_FLAG(p->wide, TM_V_CONV_WIDE, TM_V_CONV_NARROW);
  const uint32_t *w = (const uint32_t *)weights;  /* 4-byte aligned by the generator */
  (void)single;  /* only the native im2col tile skips the duplicate pixel */
  int32_t o = 0;
#if TM_DSP_NATIVE
  int32_t next0 = 0, next1 = 0, carried = 0;  /* a single pixel's sums of the pair after this one (tile1x4_asm) */
#endif
#if TM_DSP_NATIVE
  if ((mode == TM_DSP_FAST_SAT || mode == TM_DSP_FAST_SAT_ANY) && !direct && !single && pairs > 0) {
    pairs_sat_asm(rows, &w, groups, bias, rq->ch, o0, o1, pairs >> 1, wide, mode == TM_DSP_FAST_SAT_ANY,
                  rq->fast_zp);
    o = pairs;
  }
#endif
  for (; o < pairs; o += 2) {
    int32_t a00 = bias[o], a01 = bias[o + 1];
    int32_t a10 = a00, a11 = a01;
    if (direct) {
#if TM_DSP_NATIVE
      tile_direct_asm(runs, nruns, &w, wide, &a00, &a01, &a10, &a11);
#else
      tile_c(1, rows, groups, runs, nruns, &w, wide, 2, &a00, &a01, &a10, &a11);
#endif
    } else {
#if TM_DSP_NATIVE
      if (single) {  /* the second pixel is the first one again: compute it once */
        if (carried) {
          a00 = next0, a01 = next1, carried = 0;
        } else if (o + 4 <= pairs) {
          next0 = bias[o + 2], next1 = bias[o + 3], carried = 1;
          tile1x4_asm(rows, &w, groups, &a00, &a01, &next0, &next1, wide);
        } else {
          tile1_asm(rows, &w, groups, &a00, &a01, wide);
        }
        a10 = a00;
        a11 = a01;
      } else
        tile_asm(rows, &w, groups, &a00, &a01, &a10, &a11, wide);
#else
      tile_c(0, rows, groups, runs, nruns, &w, wide, 2, &a00, &a01, &a10, &a11);
#endif
    }
#if TM_DSP_NATIVE
    if (mode == TM_DSP_FAST_SAT || mode == TM_DSP_FAST_SAT_ANY) {
      out_sat_asm(a00, a01, a10, a11, &rq->ch[o], o0 + o, o1 + o, mode == TM_DSP_FAST_SAT_ANY, rq->fast_zp);
      continue;
    }
#endif
    const tm_dsp_ch c0 = tm_dsp_load_ch(rq, o, mode), c1 = tm_dsp_load_ch(rq, o + 1, mode);
    const int8_t y00 = tm_dsp_apply(a00, c0, mode, zp, lo, hi), y01 = tm_dsp_apply(a01, c1, mode, zp, lo, hi);
    const int8_t y10 = tm_dsp_apply(a10, c0, mode, zp, lo, hi), y11 = tm_dsp_apply(a11, c1, mode, zp, lo, hi);
    o1[o] = y10;
    o1[o + 1] = y11;
    o0[o] = y00;
    o0[o + 1] = y01;
  }
  /* The last channel alone (its weights follow the pairs, same per-group layout). Without TM_V_CONV_ODD no layer of
   * the model has one: the int16-weight tile then drops the call, which frees registers in its loop (KWS on the M7:
   * 0.2% fewer instructions); the int8-weight tile keeps the untaken call, with which GCC allocates its loop's
   * registers better (VWW and IC --weights int8 on the M4: 0.15% fewer). Measured with scripts/bench_mlperf.py. */
  if ((TM_VARIANT(TM_V_CONV_ODD) || !wide) && (out_c & 1)) {
    int32_t acc[2] = {bias[o], bias[o]};
    tile_c_odd(direct, rows, groups, runs, nruns, w, wide, acc);  /* im2col: runs unused */
    const tm_dsp_ch c = tm_dsp_load_ch(rq, o, mode);
    const int8_t y0 = tm_dsp_apply(acc[0], c, mode, zp, lo, hi), y1 = tm_dsp_apply(acc[1], c, mode, zp, lo, hi);
    o1[o] = y1;
    o0[o] = y0;
  }
}

/* The input bytes of tap (ky, kx) of the output pixel whose window starts at (y0, x0): the pad row if padded. */
static inline const int8_t *tap_of(const conv_window *cw, int32_t y0, int32_t x0, int32_t ky, int32_t kx) {
  const tm_conv_dsp_params *p = cw->p;
  const tm_dims *in = cw->in;
  const int32_t y = y0 + ky * p->dilation_h, x = x0 + kx * p->dilation_w;
  return (y >= 0 && y < in->h && x >= 0 && x < in->w) ? cw->input + (y * in->w + x) * in->c : cw->aux;
}

/* Appends `bytes` bytes at s0 (pixel 1's at s0 + delta) to the n runs: extends the last one where both pixels' bytes
 * follow its own. */
static inline void add_run(conv_run *runs, int32_t *n, const int8_t *s0, intptr_t delta, int32_t bytes) {
  if (*n > 0 && runs[*n - 1].end == s0 && runs[*n - 1].delta == delta) {
    runs[*n - 1].end += bytes;
  } else {
    runs[*n].s0 = s0, runs[*n].delta = delta, runs[*n].end = s0 + bytes;
    ++*n;
  }
}

/* The runs of taps (conv_run) of output pixels pix0 and pix1 (pix = oy * ow + ox), into `runs`; returns their count.
 * A kernel row inside the input for both pixels (dilation_w 1) is one span of kw * in_c bytes, without a bound check
 * per tap. */
static int32_t runs_of(const conv_window *cw, int32_t ow, int32_t pix0, int32_t pix1, conv_run *runs) {
  const tm_conv_dsp_params *p = cw->p;
  const tm_dims *in = cw->in;
  const int32_t bytes = in->c, kw = cw->kw;
  const int32_t y0 = pix0 / ow * p->stride_h - p->pad_h, x0 = pix0 % ow * p->stride_w - p->pad_w;
  const int32_t y1 = pix1 / ow * p->stride_h - p->pad_h, x1 = pix1 % ow * p->stride_w - p->pad_w;
  const int32_t rows_inside = p->dilation_w == 1 && x0 >= 0 && x1 >= 0 && x0 + kw <= in->w && x1 + kw <= in->w;
  int32_t n = 0;
  for (int32_t ky = 0; ky < cw->kh; ++ky) {
    const int32_t ya = y0 + ky * p->dilation_h, yb = y1 + ky * p->dilation_h;
    if (rows_inside && ya >= 0 && ya < in->h && yb >= 0 && yb < in->h) {
      const int8_t *s0 = cw->input + (ya * in->w + x0) * bytes, *s1 = cw->input + (yb * in->w + x1) * bytes;
      add_run(runs, &n, s0, (intptr_t)((uintptr_t)s1 - (uintptr_t)s0), kw * bytes);
      continue;
    }
    for (int32_t kx = 0; kx < kw; ++kx) {
      const int8_t *s0 = tap_of(cw, y0, x0, ky, kx), *s1 = tap_of(cw, y1, x1, ky, kx);
      add_run(runs, &n, s0, (intptr_t)((uintptr_t)s1 - (uintptr_t)s0), bytes);
    }
  }
  return n;
}

/* Output pixels [pix0, pix1) of one image (pix = oy * out_w + ox), written from `output` on. */
static inline __attribute__((always_inline)) void conv_pixels(
    const tm_conv_dsp_params *p, const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
    const tm_dims *filter_dims, const int8_t *weights, const int32_t *bias, const tm_dims *out_dims,
    int8_t *output, void *scratch, int32_t pix0, int32_t pix1, const int32_t mode, const fused_add *fa) {
  const int32_t out_c = out_dims->c, groups = p->k4 >> 2, ow = out_dims->w;
  const int32_t kh = filter_dims->h, kw = filter_dims->w;
  const int32_t direct = TM_VARIANT_FLAG(p->direct, TM_V_CONV_DIRECT, TM_V_CONV_IM2COL);
  int32_t *rows = (int32_t *)scratch;
  int8_t *gather = (int8_t *)scratch + 4 * p->k4;
  int8_t *pad_row = (int8_t *)scratch;
  int8_t *pair = (int8_t *)scratch + tm_conv2d_s8_dsp_scratch_bytes(in_dims, filter_dims, direct);  /* after ours */
  conv_run runs[TM_CONV_DIRECT_MAX_TAPS];  /* direct: the two pixels' runs of taps */
  int32_t nruns = 0;
  const conv_window window = {p, in_dims, input, kh, kw, direct ? pad_row : gather};
  if (direct) {
    for (int32_t c = 0; c < in_dims->c; ++c) pad_row[c] = (int8_t)p->pad_value;
  } else if (in_dims->c & 3) {  /* im2col gathers k bytes per pixel: the k4 - k after them stay zero */
    for (int32_t i = kh * kw * in_dims->c; i < p->k4; ++i) gather[i] = 0;
  }
  for (int32_t pix = pix0; pix < pix1; pix += 2) {
    const int32_t second = pix + 1 < pix1 ? pix + 1 : pix;
    int8_t *o0 = output + (pix - pix0) * out_c, *o1 = output + (second - pix0) * out_c;
    if (direct) {
      nruns = runs_of(&window, ow, pix, second, runs);
    } else {
      im2col(&window, pix / ow, pix % ow, rows);
      im2col(&window, second / ow, second % ow, rows + 2);
    }
    if (fa) {
      tile_pairs(p, rq, weights, bias, out_c, rows, runs, nruns, groups, pair, pair + out_c, mode, direct,
                 second == pix);
      /* the pair's pixels are consecutive in the output, the skip and `pair`: one run of 1 or 2 pixels */
      add_skip(fa->fast, fa->add, fa->conv_is_first, o0, pair, fa->skip + (pix - pix0) * out_c,
               (second - pix + 1) * out_c);
    } else {
      tile_pairs(p, rq, weights, bias, out_c, rows, runs, nruns, groups, o0, o1, mode, direct,
                 second == pix);
    }
  }
}

void tm_conv2d_s8_dsp(const tm_conv_dsp_params *p, const tm_dsp_requant *rq,
                      const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                      const int8_t *weights, const int32_t *bias, const tm_dims *out_dims, int8_t *output,
                      void *scratch) {
  const int32_t npix = out_dims->h * out_dims->w;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_b = input + b * in_dims->h * in_dims->w * in_dims->c;
    int8_t *out_b = output + b * npix * out_dims->c;
    TM_DSP_BY_MODE(rq, conv_pixels(p, rq, in_dims, in_b, filter_dims, weights, bias, out_dims, out_b, scratch, 0, npix,
                               mode_, 0))
  }
}

void tm_conv2d_s8_dsp_rows(const void *params, const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
                           const tm_dims *filter_dims, const void *weights, const int32_t *bias,
                           const tm_dims *out_dims, int8_t *output, void *scratch, int32_t row0, int32_t row1) {
  const tm_conv_dsp_params *p = (const tm_conv_dsp_params *)params;
  const int8_t *w = (const int8_t *)weights;
  const int32_t ow = out_dims->w;
  TM_DSP_BY_MODE(rq, conv_pixels(p, rq, in_dims, input, filter_dims, w, bias, out_dims, output, scratch, row0 * ow,
                             row1 * ow, mode_, 0))
}

void tm_conv2d_add_s8_dsp(const tm_conv_dsp_params *p, const tm_dsp_requant *rq,
                          const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                          const int8_t *weights, const int32_t *bias, const tm_dims *out_dims,
                          const tm_add_params *add, int32_t conv_is_first, const int8_t *skip, int8_t *output,
                          void *scratch) {
  const int32_t npix = out_dims->h * out_dims->w;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *in_b = input + b * in_dims->h * in_dims->w * in_dims->c;
    add_fast fast;
    const fused_add fa = {add, conv_is_first, skip + b * npix * out_dims->c,
                          add_fast_init(&fast, add) ? &fast : (const add_fast *)0};
    int8_t *out_b = output + b * npix * out_dims->c;
    TM_DSP_BY_MODE(rq, conv_pixels(p, rq, in_dims, in_b, filter_dims, weights, bias, out_dims, out_b, scratch, 0, npix,
                               mode_, &fa))
  }
}
