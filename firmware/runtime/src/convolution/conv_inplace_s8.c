/* A convolution (standard or depthwise) that writes its output over its own input, which dies with it.
 *
 * Output rows are computed one at a time by the ordinary row kernel (same arithmetic, same bytes) into a ring of
 * `ring_rows` pending rows (the scratch buffer); a pending row is copied to its place in the output as soon as
 * that place no longer holds input bytes a later row will read. Rows go first to last (`backward` 0) or last to
 * first. The code generator simulates this schedule for the planned geometry (the input starting a fixed number of
 * bytes after the output) and sizes the ring so it never overflows; the check here uses the real pointers, so the
 * kernel is also correct when the buffers do not overlap at all. Batch 1 (pointwise layers are passed as one
 * column of pixels: in [1, pixels, 1, in_c], out [1, pixels, 1, out_c]). */
#include "tinyml/kernels.h"

static void copy_bytes(int8_t *to, const int8_t *from, int32_t n) {
  for (int32_t i = 0; i < n; ++i) to[i] = from[i];
}

void tm_conv_inplace_s8(tm_conv_kernel kernel, const tm_inplace_params *ip, const tm_conv_params *p,
                        const tm_channel_quant *q, const tm_dims *in_dims, const int8_t *input,
                        const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                        const tm_dims *out_dims, int8_t *output, int8_t *ring) {
  const int32_t in_row = in_dims->w * in_dims->c, in_h = in_dims->h, out_row = out_dims->w * out_dims->c;
  tm_conv_params rp = *p;
  tm_dims window = *in_dims, one = *out_dims;
  window.n = 1;
  one.n = 1;
  one.h = 1;
  int32_t pending = 0;
  for (int32_t k = 0; k < out_dims->h; ++k) {
    const int32_t oy = ip->backward ? out_dims->h - 1 - k : k;
    const int32_t top = oy * p->stride_h - p->pad_h;
    const int8_t *src = input;
    if (top >= 0) {
      rp.pad_h = 0;
      window.h = in_h - top;
      src = input + top * in_row;
    } else {
      rp.pad_h = -top;
      window.h = in_h;
    }
    kernel(&rp, q, &window, src, filter_dims, filter, bias, &one, ring + (oy % ip->ring_rows) * out_row);
    pending = tm_inplace_flush(ip, out_dims->h, in_h, in_row, out_row, input, output, ring, pending + 1, k, oy,
                               copy_bytes);
  }
}
