/* A DSP convolution (standard or depthwise) that writes its output over its own input, which dies with it: the
 * schedule of tm_conv_inplace_s8 (see conv_inplace_s8.c), with a DSP row kernel that computes one output row into
 * the ring from the unchanged input geometry (it reads only the input rows that output row needs). `scratch` is the
 * row kernel's own scratch, after the ring. Batch 1. Without a ring (ring_rows 0: a pointwise im2col kernel that
 * does not grow the channels, which reads each pixel pair into its scratch before writing its outputs over bytes of
 * pixels already read) the kernel runs once over every row, straight into the output. */
#include "tinyml/kernels_dsp.h"

/* n bytes from the ring to their place: 16 bytes per LDM/STM pair where both are word aligned (the ring is; rows
 * usually are), then bytes. */
static void copy_row(int8_t *to, const int8_t *from, int32_t n) {
  int32_t i = 0;
  if ((((uintptr_t)from | (uintptr_t)to) & 3) == 0 && n >= 16) {
    const int8_t *end = from + (n & ~15);
#if TM_DSP_NATIVE
    register int32_t a __asm__("r4"), b __asm__("r5"), c __asm__("r6"), d __asm__("r8");  /* LDM order */
    __asm__ volatile("1:\n\t"
                     "ldmia %[f]!, {%[a], %[b], %[c], %[d]}\n\t"
                     "stmia %[t]!, {%[a], %[b], %[c], %[d]}\n\t"
                     "cmp %[f], %[end]\n\t"
                     "bne 1b"
                     : [f] "+r"(from), [t] "+r"(to), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d)
                     : [end] "r"(end)
                     : "cc", "memory");
#else
    for (; from != end; from += 16, to += 16) memcpy(to, from, 16);
#endif
    n &= 15;
  }
  for (; i < n; ++i) to[i] = from[i];
}

void tm_conv_inplace_dsp_s8(tm_dsp_row_kernel kernel, const tm_inplace_params *ip, const void *p,
                            const tm_dsp_requant *rq, const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const void *weights, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output, int8_t *ring, void *scratch) {
  const int32_t rows = out_dims->h, in_h = in_dims->h, in_row = in_dims->w * in_dims->c;
  const int32_t out_row = out_dims->w * out_dims->c;
  if (ip->ring_rows == 0) {  /* a pointwise kernel that reads a pixel pair before writing it, out_c <= in_c */
    kernel(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, output, scratch, 0, rows);
    return;
  }
  int32_t pending = 0;
  for (int32_t k = 0; k < rows; ++k) {
    const int32_t oy = ip->backward ? rows - 1 - k : k;
    kernel(p, rq, in_dims, input, filter_dims, weights, bias, out_dims, ring + (oy % ip->ring_rows) * out_row,
           scratch, oy, oy + 1);
    pending = tm_inplace_flush(ip, rows, in_h, in_row, out_row, input, output, ring, pending + 1, k, oy, copy_row);
  }
}
