/* 16x8 LOGISTIC, TFLite's int16 table algorithm: the input rescaled so that 2^9 steps are 1/24 (the generator's
 * multiplier already holds the factor 3 that stretches [-8, 8] to [-10.7, 10.7]), then sigmoid of |x| interpolated
 * in the generator's 256-entry table of sigmoid(i / 24) in Q0.16, mirrored for x < 0; output 1/32768. */
#include "sigmoid_s16.h"

void tm_logistic_s16(const tm_sigmoid_s16_params *p, int32_t size, const int16_t *input, int16_t *output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t x = tm_sigmoid_s16_input(p, input[i]);
    const uint32_t s = tm_sigmoid_s16_lookup(p->table, x, 9, 0x7FFFu << 10);
    output[i] = (int16_t)((x >= 0 ? s + (1u << 9) : (1u << 25) - s + (1u << 9) - 1) >> 10);
  }
}
