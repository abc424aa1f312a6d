/* Private to the elementwise kernels (add_s8.c, mul_s8.c, squared_difference_s8.c, prelu_s8.c, maximum_s8.c,
 * minimum_s8.c): their broadcasting loop. Not part of the runtime's API. */
#ifndef TINYML_BROADCAST_H
#define TINYML_BROADCAST_H
#include "tinyml/kernels.h"

/* output[i] = op(params, a[ia], b[ib]) over the 4-D output shape in order, ia and ib following the strides (0 along
 * a broadcast dimension). Inlined with a constant `op`, the call disappears. */
static inline __attribute__((always_inline)) void tm_broadcast_s8(
    const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output, const void *params,
    int8_t (*op)(const void *params, int32_t a, int32_t b)) {
  for (int32_t i0 = 0; i0 < bc->out_shape[0]; ++i0)
    for (int32_t i1 = 0; i1 < bc->out_shape[1]; ++i1)
      for (int32_t i2 = 0; i2 < bc->out_shape[2]; ++i2)
        for (int32_t i3 = 0; i3 < bc->out_shape[3]; ++i3) {
          const int32_t ia = i0 * bc->a_strides[0] + i1 * bc->a_strides[1] + i2 * bc->a_strides[2] + i3 * bc->a_strides[3];
          const int32_t ib = i0 * bc->b_strides[0] + i1 * bc->b_strides[1] + i2 * bc->b_strides[2] + i3 * bc->b_strides[3];
          *output++ = op(params, a[ia], b[ib]);
        }
}

#endif
