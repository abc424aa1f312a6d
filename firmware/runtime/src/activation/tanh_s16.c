/* 16x8 TANH through the sigmoid table, tanh(x) = 2 sigmoid(2x) - 1: the input rescaled so that 2^8 steps are 1/24
 * (the generator's multiplier holds the factor 3), sigmoid of |x| interpolated in the generator's 256-entry Q0.16
 * table of sigmoid(i / 24), doubled less one, mirrored for x < 0; output 1/32768. */
#include "sigmoid_s16.h"

void tm_tanh_s16(const tm_sigmoid_s16_params *p, int32_t size, const int16_t *input, int16_t *output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t x = tm_sigmoid_s16_input(p, input[i]);
    const int32_t s = (int32_t)tm_sigmoid_s16_lookup(p->table, x, 8, 0xFFFFu << 8);
    output[i] = (int16_t)((x >= 0 ? s - (1 << 23) + (1 << 7) : -s + (1 << 23) + (1 << 7) - 1) >> 8);
  }
}
