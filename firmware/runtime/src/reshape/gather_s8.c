/* Int8 GATHER: the input seen as [outer, axis, inner]; output [outer, count, inner] takes, for each of the `count`
 * indices, the inner run of bytes at that position along the axis. An index outside [0, axis) (TFLite fails the
 * invoke) gives a run of zeros rather than a read outside the input. */
#include "tinyml/kernels.h"

void tm_gather_s8(int32_t outer, int32_t axis, int32_t inner, int32_t count, const int32_t *indices,
                  const int8_t *input, int8_t *output) {
  for (int32_t o = 0; o < outer; ++o, input += axis * inner)
    for (int32_t k = 0; k < count; ++k) {
      const int32_t at = indices[k];
      const int8_t *src = input + at * inner;
      const int valid = at >= 0 && at < axis;
      for (int32_t i = 0; i < inner; ++i) *output++ = valid ? src[i] : 0;
    }
}
