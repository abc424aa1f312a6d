/* Private to the 16x8 LOGISTIC and TANH kernels (logistic_s16.c, tanh_s16.c): TFLite's int16 input scaling and its
 * interpolation in the table of sigmoid(i / 24) in Q0.16. Not part of the runtime's API. */
#ifndef TINYML_SIGMOID_S16_H
#define TINYML_SIGMOID_S16_H
#include <stdlib.h>
#include "tinyml/kernels.h"

/* x * input_multiplier, rounded right by input_shift (ties toward +infinity). */
static inline int32_t tm_sigmoid_s16_input(const tm_sigmoid_s16_params *p, int16_t x) {
  const int32_t round = p->input_shift > 0 ? 1 << (p->input_shift - 1) : 0;
  return (x * p->input_multiplier + round) >> p->input_shift;
}

/* sigmoid(|x|) with `bits` fraction bits per table step: the entry below plus the fraction times the step, in
 * Q0.16 << bits; `saturated` from the last step on. */
static inline uint32_t tm_sigmoid_s16_lookup(const uint16_t *table, int32_t x, int32_t bits, uint32_t saturated) {
  const uint32_t magnitude = (uint32_t)abs(x);
  const uint32_t index = magnitude >> bits;
  if (index >= 255) return saturated;
  const uint32_t low = table[index], high = table[index + 1];
  return (low << bits) + (magnitude & ((1u << bits) - 1)) * (high - low);
}

#endif
