/* Private to the runtime: TFLite's int8 ADD arithmetic of one element pair, shared by tm_add_s8 and the
 * convolutions with a fused residual ADD (conv2d_add_s8.c, conv2d_s8_dsp.c). Not part of the runtime's API. */
#ifndef TINYML_ADD_ONE_H
#define TINYML_ADD_ONE_H
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* Both inputs rescaled to a common 2^left_shift-scaled domain, summed, requantized, offset and clamped. */
static inline int8_t tm_add_one_s8(const tm_add_params *p, int32_t a, int32_t b) {
  const int32_t sa = tm_requantize((a + p->a_offset) * (1 << p->left_shift), p->a_multiplier, p->a_shift);
  const int32_t sb = tm_requantize((b + p->b_offset) * (1 << p->left_shift), p->b_multiplier, p->b_shift);
  const int32_t sum = tm_requantize(sa + sb, p->output_multiplier, p->output_shift) + p->output_offset;
  return (int8_t)tm_clamp(sum, p->act_min, p->act_max);
}

#endif
