/* Int8 REDUCE_MAX over any dimensions of a rank <= 4 tensor: the largest stored value (TFLite compares the int8
 * values; input and output share one quantization). One pass over the input in order, each element compared with
 * its output, whose index skips the reduced dimensions. */
#include "tinyml/kernels.h"

void tm_reduce_max_s8(const tm_reduce_params *p, const int8_t *input, int8_t *output) {
  int32_t out_stride[4];
  int32_t outputs = 1;
  for (int d = 3; d >= 0; --d) {
    out_stride[d] = p->reduce[d] ? 0 : outputs;
    if (!p->reduce[d]) outputs *= p->dims[d];
  }
  for (int32_t i = 0; i < outputs; ++i) output[i] = -128;
  for (int32_t i0 = 0; i0 < p->dims[0]; ++i0)
    for (int32_t i1 = 0; i1 < p->dims[1]; ++i1)
      for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
        int8_t *row = output + i0 * out_stride[0] + i1 * out_stride[1] + i2 * out_stride[2];
        for (int32_t i3 = 0; i3 < p->dims[3]; ++i3, ++input) {
          int8_t *o = row + i3 * out_stride[3];
          if (*input > *o) *o = *input;
        }
      }
}
