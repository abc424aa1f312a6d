/* 16x8 ADD on TFLite's power-of-two path (the ADD option pot_scale_int16 with every scale a power of two, zero
 * points 0): the input whose scale is below the output's is divided by 2^right_shift, rounded half away from zero,
 * then added to the other input with saturation and clamped to the fused activation. Same shapes, no broadcasting
 * (TFLite's path has none). */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* gemmlowp's RoundingDivideByPOT on int16, as TFLite runs it here: its mask 2^shift - 1 is an int16, so from a
 * shift of 16 on it is -1 and the quotient of any x >= 0 is 1, of any x < 0 -1. */
static int32_t divide_by_pot(int32_t x, int32_t shift) {
  if (shift >= 16) return x >= 0 ? 1 : -1;
  return tm_rounding_divide_by_pot(x, shift);
}

void tm_add_pot_s16(const tm_add_pot_s16_params *p, int32_t size, const int16_t *shifted, const int16_t *other,
                    int16_t *output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t sum = divide_by_pot(shifted[i], p->right_shift) + other[i];
    output[i] = (int16_t)tm_clamp(tm_clamp(sum, -32768, 32767), p->act_min, p->act_max);
  }
}
