/* Private to the int16 elementwise kernels (add_s16.c, mul_s16.c): their broadcasting loop over int16 tensors.
 * Not part of the runtime's API. */
#ifndef TINYML_BROADCAST_S16_H
#define TINYML_BROADCAST_S16_H
#include "tinyml/kernels.h"

/* output[i] = op(params, a[ia], b[ib]) over the 4-D output shape in order, ia and ib following tm_broadcast's
 * strides (0 along a broadcast dimension). Inlined with a constant `op`, the call disappears. */
static inline __attribute__((always_inline)) void tm_broadcast_s16(
    const tm_broadcast *bc, const int16_t *a, const int16_t *b, int16_t *output, const void *params,
    int16_t (*op)(const void *params, int32_t a, int32_t b)) {
  const int32_t *n = bc->out_shape, *sa = bc->a_strides, *sb = bc->b_strides;
  for (int32_t i0 = 0; i0 < n[0]; ++i0) {
    for (int32_t i1 = 0; i1 < n[1]; ++i1) {
      for (int32_t i2 = 0; i2 < n[2]; ++i2) {
        const int16_t *pa = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const int16_t *pb = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        for (int32_t i3 = 0; i3 < n[3]; ++i3) *output++ = op(params, pa[i3 * sa[3]], pb[i3 * sb[3]]);
      }
    }
  }
}

#endif
