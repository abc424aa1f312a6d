/* Int8 multiplication with broadcasting. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void tm_mul_s8(const tm_mul_params *p, const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output) {
  for (int32_t i0 = 0; i0 < bc->out_shape[0]; ++i0)
    for (int32_t i1 = 0; i1 < bc->out_shape[1]; ++i1)
      for (int32_t i2 = 0; i2 < bc->out_shape[2]; ++i2)
        for (int32_t i3 = 0; i3 < bc->out_shape[3]; ++i3) {
          const int32_t ia = i0 * bc->a_strides[0] + i1 * bc->a_strides[1] + i2 * bc->a_strides[2] + i3 * bc->a_strides[3];
          const int32_t ib = i0 * bc->b_strides[0] + i1 * bc->b_strides[1] + i2 * bc->b_strides[2] + i3 * bc->b_strides[3];
          const int32_t prod = (a[ia] + p->a_offset) * (b[ib] + p->b_offset);
          const int32_t v = tm_requantize(prod, p->output_multiplier, p->output_shift) + p->output_offset;
          *output++ = (int8_t)tm_clamp(v, p->act_min, p->act_max);
        }
}
