/* 16x8 SOFTMAX over the last dimension, TFLite's int16 algorithm: exp of the (beta-scaled) distance to the row's
 * maximum and 1/(1 + x) of the normalised sum, each from a 513-entry table the generator builds (TFLite builds them
 * when the model is prepared) read with linear interpolation; output scale 1/32768, zero point 0.
 * The exp values wait in the output row, so input and output may be one buffer. */
#include "softmax_row.h"
#include "tinyml/requant.h"

/* table(value): entry 256 + value / 128 plus the interpolated step to the next entry, rounded. */
static int16_t lookup(const int16_t *table, int32_t value) {
  const int32_t index = 256 + (value >> 7);
  const int32_t step = table[index + 1] - table[index];
  return (int16_t)(table[index] + ((step * (value & 0x7f) + 64) >> 7));
}

void tm_softmax_s16(const tm_softmax_s16_params *p, const int16_t *input, int16_t *output) {
  for (int32_t r = 0; r < p->rows; ++r) {
    const int16_t *x = input + r * p->depth;
    int16_t *y = output + r * p->depth;
    const int32_t max_val = tm_row_max_s16(x, p->depth);
    int32_t sum = 0;  /* Q16.15 */
    for (int32_t j = 0; j < p->depth; ++j) {
      /* x - max scaled so that [-65535, 0] is [-10, 0], re-centred on the table's [-32768, 32767] */
      const int32_t scaled = tm_requantize(x[j] - max_val, p->input_multiplier, p->input_shift) + 32767;
      y[j] = lookup(p->exp_table, tm_clamp(scaled, -32768, 32767));
      sum += y[j];
    }
    /* sum >= exp(0) > 0: normalise it to [1, 2) in Q1.15 (as 1 + x), x re-centred on the table's input range */
    const int32_t headroom = __builtin_clz((uint32_t)sum);
    const int32_t normalised = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
    const int32_t reciprocal = lookup(p->reciprocal_table, tm_clamp(normalised - (1 << 15) - (1 << 16), -32768, 32767));
    const int32_t right_shift = 31 - headroom;
    for (int32_t j = 0; j < p->depth; ++j) {
      const int32_t q = (int32_t)(((int64_t)y[j] * reciprocal + ((int64_t)1 << (right_shift - 1))) >> right_shift);
      y[j] = (int16_t)tm_clamp(q, 0, 32767);
    }
  }
}
