/* The DSP/SIMD kernel variants (Cortex-M4/M7/M33/M55; emulated bit for bit on the host, see dsp.h). The generator
 * selects them per layer (tinyml/compiler/codegen/variants.py, ops/dsp.py) and stores their weights pre-arranged:
 *  - weights keep the natural k order inside each group of 4 (SXTB16 pairs (k0,k2),(k1,k3) on both operands);
 *  - the input offset is folded into the bias: sum (x+off)*w = sum x*w + off*sum w. Padded taps read the input zero
 *    point (x = -off), so the fold stays exact where padding is involved;
 *  - requantization per output channel through tm_requant_ch (fast) or tm_channel_quant (general, `fast` = 0). */
#ifndef TINYML_KERNELS_DSP_H
#define TINYML_KERNELS_DSP_H
#include <stdint.h>
#include "tinyml/dsp.h"
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* The variants a model uses: the generator writes tinyml_variants.h beside model.c (on the include path of every
 * build of the model) defining TM_VARIANTS as the TM_V_* bits of its layers, so each kernel compiles only those
 * (a lean image). Without it (a kernel built on its own) every variant is compiled. */
#if defined(__has_include)
#if __has_include("tinyml_variants.h")
#include "tinyml_variants.h"
#endif
#endif
enum {
  TM_V_OUT_GENERAL = 1 << 0,     /* output stage modes (tm_dsp_mode) */
  TM_V_OUT_FAST_SAT = 1 << 1,
  TM_V_OUT_FAST_CLAMP = 1 << 2,
  TM_V_OUT_FAST_SAT_ANY = 1 << 17,
  TM_V_CONV_WIDE = 1 << 3,       /* tm_conv_dsp_params.wide = 1 */
  TM_V_CONV_NARROW = 1 << 4,     /* ... = 0 */
  TM_V_CONV_DIRECT = 1 << 5,     /* tm_conv_dsp_params.direct = 1 */
  TM_V_CONV_IM2COL = 1 << 6,     /* ... = 0 */
  TM_V_FC_WIDE = 1 << 7,         /* tm_fc_dsp_params.wide */
  TM_V_FC_NARROW = 1 << 8,
  TM_V_FC_DIRECT = 1 << 9,       /* tm_fc_dsp_params.direct */
  TM_V_FC_SCRATCH = 1 << 10,
  TM_V_DW_3X3 = 1 << 11,         /* depthwise with 9 taps (unrolled) */
  TM_V_DW_ANY = 1 << 12,         /* depthwise with any other kernel size */
  TM_V_FC_PER_CHANNEL = 1 << 13, /* tm_fc_dsp_params.per_channel = 1 */
  TM_V_FC_PER_TENSOR = 1 << 14,
  TM_V_DW_WIDE = 1 << 15,        /* tm_dw_dsp_params.wide = 1 */
  TM_V_DW_NARROW = 1 << 16,
  TM_V_CONV_ODD = 1 << 18        /* a convolution with an odd number of output channels (the last one alone) */
};
#ifndef TM_VARIANTS
#define TM_VARIANTS (~0u)
#endif
#define TM_VARIANT(bit) (((uint32_t)(TM_VARIANTS) & (uint32_t)(bit)) != 0u)

/* Limits of the DSP kernels (the generator picks a variant only within them; tests/codegen/test_scratch.py holds its
 * copies to these). Scratch sizes: the tm_<kernel>_scratch_bytes functions beside each kernel, callable on the host
 * (like CMSIS-NN's _get_buffer_size functions). */
#define TM_DSP_CHANNEL_GROUP 4         /* depthwise, direct convolution, average pooling: channels % this == 0 */
#define TM_CONV_DIRECT_MAX_TAPS 16     /* direct convolution: kh * kw at most this (tap pointers on the stack) */
#define TM_DW_MAX_TAPS 64              /* depthwise: kh * kw at most this (tap offsets on the stack) */
#define TM_AVG_POOL_DSP_MAX_WINDOW 255 /* average pooling: filter_h * filter_w at most this (16-bit lane sums) */

static inline int32_t tm_dsp_round4(int32_t n) { return (n + 3) / 4 * 4; }

/* A layer's runtime flag, a compile-time constant when the model uses only one of its two values. */
#define TM_VARIANT_FLAG(runtime, set_bit, clear_bit) \
  ((TM_VARIANT(set_bit) && TM_VARIANT(clear_bit)) ? (runtime) : (int32_t)TM_VARIANT(set_bit))

typedef struct {
  int32_t fast;                /* the fast path (tinyml/dsp.h) is exact for every channel: 1 with the zero point
                                * folded into K and no pre_shift anywhere, 2 otherwise; 0: the general path */
  int32_t output_offset;       /* for the general path */
  int32_t act_min, act_max;
  const tm_requant_ch *ch;     /* per output channel */
  const int32_t *multiplier;   /* per output channel (general path, depthwise tail), else NULL */
  const int32_t *shift;
  int32_t fast_zp;             /* fast path: added after the shift (the zero point unless folded into K, else 0) */
} tm_dsp_requant;

/* Output stage modes, chosen once per call so the per-output code has no branch (see tm_dsp_mode). */
enum { TM_DSP_GENERAL = 0, TM_DSP_FAST_SAT = 1, TM_DSP_FAST_CLAMP = 2, TM_DSP_FAST_SAT_ANY = 3 };

static inline int32_t tm_dsp_mode(const tm_dsp_requant *rq) {
  if (!rq->fast) return TM_DSP_GENERAL;
  if (rq->act_min != -128 || rq->act_max != 127) return TM_DSP_FAST_CLAMP;
  return rq->fast == 1 ? TM_DSP_FAST_SAT : TM_DSP_FAST_SAT_ANY;
}

/* Runs `call_` with the constant `mode_` = tm_dsp_mode(rq), compiled for the modes the model uses only. */
#define TM_DSP_BY_MODE(rq, call_)                                                                   \
  switch (tm_dsp_mode(rq)) {                                                                        \
    case TM_DSP_FAST_SAT:                                                                           \
      if (TM_VARIANT(TM_V_OUT_FAST_SAT)) { const int32_t mode_ = TM_DSP_FAST_SAT; call_; }          \
      break;                                                                                        \
    case TM_DSP_FAST_SAT_ANY:                                                                       \
      if (TM_VARIANT(TM_V_OUT_FAST_SAT_ANY)) { const int32_t mode_ = TM_DSP_FAST_SAT_ANY; call_; }  \
      break;                                                                                        \
    case TM_DSP_FAST_CLAMP:                                                                         \
      if (TM_VARIANT(TM_V_OUT_FAST_CLAMP)) { const int32_t mode_ = TM_DSP_FAST_CLAMP; call_; }      \
      break;                                                                                        \
    default:                                                                                        \
      if (TM_VARIANT(TM_V_OUT_GENERAL)) { const int32_t mode_ = TM_DSP_GENERAL; call_; }            \
  }

#if TM_DSP_NATIVE
/* The saturating fast output stage of one accumulator `a` in assembly (the fast path of tm_dsp_apply, then SSAT
 * and STRB to `dst`): LDM of its channel's 5 parameters (writeback `wb` "!" or ""), SMLAL, ASR, SSAT, STRB; in mode
 * TM_DSP_FAST_SAT_ANY also the pre-shift (`lsl` = TM_RQ_LSL(a)) and the zero point from a register operand [zp]
 * (`add` = TM_RQ_ADD(a)), else "" for both. Operands: [m], [pre], [post], [k_lo], [k_hi] in ascending registers
 * (TM_RQ_REGISTERS), [rc] the channel's tm_requant_ch. */
#define TM_RQ_SAT_ASM(a, wb, dst, lsl, add)                                          \
  "ldmia %[rc]" wb ", {%[m], %[pre], %[post], %[k_lo], %[k_hi]}\n\t" lsl            \
  "smlal %[k_lo], %[k_hi], %[" a "], %[m]\n\t"                                     \
  "asr %[" a "], %[k_hi], %[post]\n\t" add                                         \
  "ssat %[" a "], #8, %[" a "]\n\t"                                                \
  "strb %[" a "], " dst "\n\t"
#define TM_RQ_LSL(a) "lsl %[" a "], %[" a "], %[pre]\n\t"
#define TM_RQ_ADD(a) "add %[" a "], %[" a "], %[zp]\n\t"
#define TM_RQ_NONE(a) ""
#define TM_RQ_REGISTERS \
  register int32_t m __asm__("r4"), pre __asm__("r5"), post __asm__("r6"), k_lo __asm__("r8"), k_hi __asm__("r9")
#define TM_RQ_OUTPUTS [m] "=&r"(m), [pre] "=&r"(pre), [post] "=&r"(post), [k_lo] "=&r"(k_lo), [k_hi] "=&r"(k_hi)
#endif

/* One channel's output stage with its parameters in registers: load once, apply to every pixel of a tile. */
typedef struct {
  int32_t multiplier, pre_shift, post_shift, k_lo, k_hi, add;
} tm_dsp_ch;

static inline __attribute__((always_inline)) tm_dsp_ch tm_dsp_load_ch(const tm_dsp_requant *rq, int32_t o,
                                                                       int32_t mode) {
  tm_dsp_ch c;
  if (mode == TM_DSP_GENERAL) {
    c.multiplier = rq->multiplier[o];
    c.pre_shift = rq->shift[o];
    c.post_shift = c.k_lo = c.k_hi = c.add = 0;
  } else {
    const tm_requant_ch *r = &rq->ch[o];
    c.multiplier = r->multiplier;
    c.pre_shift = r->pre_shift;
    c.post_shift = r->post_shift;
    c.k_lo = r->k_lo;
    c.k_hi = r->k_hi;
    c.add = rq->fast_zp;
  }
  return c;
}

static inline __attribute__((always_inline)) int8_t tm_dsp_apply(int32_t acc, tm_dsp_ch c, int32_t mode,
                                                                  int32_t zp, int32_t lo, int32_t hi) {
  int32_t v;
  if (mode == TM_DSP_GENERAL) {
    v = tm_requantize_round_up(acc, c.multiplier, c.pre_shift) + zp;
  } else {
    const int64_t k = (int64_t)(((uint64_t)(uint32_t)c.k_hi << 32) | (uint32_t)c.k_lo);
    const int64_t s = k + (int64_t)(int32_t)((uint32_t)acc << c.pre_shift) * (int64_t)c.multiplier;
    v = ((int32_t)(s >> 32) >> c.post_shift) + c.add;
    if (mode != TM_DSP_FAST_CLAMP) return (int8_t)tm_ssat8(v);
  }
  v = v < lo ? lo : v;
  return (int8_t)(v > hi ? hi : v);
}

/* Fully connected. weights: rows in blocks of 4; per group of 4 inputs, `wide` = 0: the 4 rows' int8 words;
 * wide = 1: 4 words (k0,k2) as int16 pairs, then 4 words (k1,k3). Rows past the last block of 4: row by row.
 * bias: folded, one per row. scratch: k4 / 2 words (the input widened). */
typedef struct {
  int32_t batches, in_features, out_features, k4;
  int32_t wide;
  int32_t direct;              /* 1: no scratch, the input is widened on the fly (per block of 4 rows) */
  int32_t per_channel;         /* 0: one requantization entry (ch[0] / multiplier[0]) serves every row */
} tm_fc_dsp_params;

void tm_fully_connected_s8_dsp(const tm_fc_dsp_params *p, const tm_dsp_requant *rq, const int8_t *input,
                               const void *weights, const int32_t *bias, int8_t *output, int32_t *scratch);

/* Scratch of tm_fully_connected_s8_dsp: the input widened (k4 = in_features rounded up to 4), none when direct. */
static inline int32_t tm_fully_connected_s8_dsp_scratch_bytes(int32_t in_features, int32_t direct) {
  return direct ? 0 : 2 * tm_dsp_round4(in_features);
}

/* Convolution as a GEMM over im2col rows of two pixels at a time: k = (ky*kw + kx)*in_c + ic, padded to k4 with
 * zero weights (im2col: k4 a multiple of 8, an even number of groups of 4; direct: of 4). weights: output
 * channels in pairs, per group of 4 k: channel o's int8 word then channel o+1's;
 * an odd last channel: its words. scratch (tm_conv2d_s8_dsp_scratch_bytes): 4*k4 bytes (two widened rows) + k4 bytes
 * (gather row) when in_c % 4; with `direct` (in_c % 4 == 0, at most TM_CONV_DIRECT_MAX_TAPS taps) no im2col: the
 * input is read and widened in place, scratch is one row of in_c zero-point bytes for padded taps. */
typedef struct {
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t k4;
  int32_t pad_value;           /* the input zero point */
  int32_t direct;
  int32_t wide;                /* weights as int16 pairs: per group, channel o's words (k0,k2),(k1,k3), then o+1's */
} tm_conv_dsp_params;

void tm_conv2d_s8_dsp(const tm_conv_dsp_params *p, const tm_dsp_requant *rq,
                      const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                      const int8_t *weights, const int32_t *bias, const tm_dims *out_dims, int8_t *output,
                      void *scratch);

/* tm_conv_dsp_params.k4 for a filter [out_c, kh, kw, in_c]: k = kh*kw*in_c rounded up to 4 (direct) or 8. */
static inline int32_t tm_conv2d_s8_dsp_k4(const tm_dims *filter_dims, int32_t direct) {
  const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
  return direct ? tm_dsp_round4(k) : (k + 7) / 8 * 8;
}

static inline int32_t tm_conv2d_s8_dsp_scratch_bytes(const tm_dims *in_dims, const tm_dims *filter_dims,
                                                     int32_t direct) {
  const int32_t k4 = tm_conv2d_s8_dsp_k4(filter_dims, direct);
  if (direct) return tm_dsp_round4(in_dims->c);
  return 4 * k4 + ((in_dims->c & 3) ? k4 : 0);
}

/* Output rows [row0, row1) of batch 0 only, written from `output` on (row row0's first byte); reads only the input
 * rows those output rows need. The row kernels of tm_conv_inplace_dsp_s8. */
void tm_conv2d_s8_dsp_rows(const void *p, const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
                           const tm_dims *filter_dims, const void *weights, const int32_t *bias,
                           const tm_dims *out_dims, int8_t *output, void *scratch, int32_t row0, int32_t row1);

/* CONV_2D (this DSP arithmetic) whose int8 output is added to `skip` with TFLite's int8 ADD (see tm_conv2d_add_s8);
 * `output` may be `skip`. scratch: the convolution's scratch, then 2 * out_c bytes (a pixel pair's conv output). */
void tm_conv2d_add_s8_dsp(const tm_conv_dsp_params *p, const tm_dsp_requant *rq,
                          const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                          const int8_t *weights, const int32_t *bias, const tm_dims *out_dims,
                          const tm_add_params *add, int32_t conv_is_first, const int8_t *skip, int8_t *output,
                          void *scratch);

static inline int32_t tm_conv2d_add_s8_dsp_scratch_bytes(const tm_dims *in_dims, const tm_dims *filter_dims,
                                                         int32_t direct) {
  return tm_conv2d_s8_dsp_scratch_bytes(in_dims, filter_dims, direct) + tm_dsp_round4(2 * filter_dims->n);
}

/* Average pooling, channels % 4 == 0 and filter_h * filter_w <= TM_AVG_POOL_DSP_MAX_WINDOW (tm_pool_params). */
void tm_avg_pool2d_s8_dsp(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                          const tm_dims *out_dims, int8_t *output);

/* Depthwise convolution, depth multiplier 1, channels % 4 == 0. weights: per group of 4 channels, per tap, two
 * words of int16 pairs (c0,c2),(c1,c3) (`wide`) or one word of the 4 int8. Channels >= vector_channels round
 * ties away (general path). scratch:
 * in_c bytes (a row of the zero point, read by padded taps). */
typedef struct {
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t pad_value;
  int32_t vector_channels;
  int32_t wide;                /* weights int16 pairs (2 words per tap and group), else int8 (1 word) */
} tm_dw_dsp_params;

void tm_depthwise_conv2d_s8_dsp(const tm_dw_dsp_params *p, const tm_dsp_requant *rq,
                                const tm_dims *in_dims, const int8_t *input, const tm_dims *filter_dims,
                                const int32_t *weights, const int32_t *bias, const tm_dims *out_dims,
                                int8_t *output, int8_t *scratch);

static inline int32_t tm_depthwise_conv2d_s8_dsp_scratch_bytes(const tm_dims *in_dims) {
  return tm_dsp_round4(in_dims->c);
}

void tm_depthwise_conv2d_s8_dsp_rows(const void *p, const tm_dsp_requant *rq, const tm_dims *in_dims,
                                     const int8_t *input, const tm_dims *filter_dims, const void *weights,
                                     const int32_t *bias, const tm_dims *out_dims, int8_t *output, void *scratch,
                                     int32_t row0, int32_t row1);

/* In-place execution of a DSP row kernel (the schedule of tm_conv_inplace_s8): output rows one at a time into
 * `ring` (ring_rows rows), each copied to its place once no later row reads the input there. `scratch` is the row
 * kernel's own scratch. Batch 1. */
typedef void (*tm_dsp_row_kernel)(const void *p, const tm_dsp_requant *rq, const tm_dims *in_dims,
                                  const int8_t *input, const tm_dims *filter_dims, const void *weights,
                                  const int32_t *bias, const tm_dims *out_dims, int8_t *output, void *scratch,
                                  int32_t row0, int32_t row1);
/* Its parameters are the in-place schedule's rows (tinyml/kernels.h), stored by the generator. */

void tm_conv_inplace_dsp_s8(tm_dsp_row_kernel kernel, const tm_inplace_params *ip, const void *p,
                            const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const void *weights, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output, int8_t *ring, void *scratch);

/* The ring (ring_rows output rows of out_dims as passed, word-aligned), then the row kernel's own scratch. */
static inline int32_t tm_conv_inplace_dsp_s8_ring_bytes(const tm_inplace_params *ip, const tm_dims *out_dims) {
  return tm_dsp_round4(ip->ring_rows * out_dims->w * out_dims->c);
}

static inline int32_t tm_conv_inplace_dsp_s8_scratch_bytes(const tm_inplace_params *ip, const tm_dims *out_dims,
                                                           int32_t kernel_scratch_bytes) {
  return tm_conv_inplace_dsp_s8_ring_bytes(ip, out_dims) + kernel_scratch_bytes;
}

#endif
