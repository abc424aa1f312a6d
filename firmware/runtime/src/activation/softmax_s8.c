/* Int8 softmax over the last dimension, TFLite's lookup-table algorithm in IEEE single precision.
 * Sums run strictly left to right (compile with -ffp-contract=off, no -ffast-math) so every target is exact. */
#include <math.h>
#include "softmax_row.h"
#include "tinyml/requant.h"

void tm_softmax_s8(const tm_softmax_params *p, const int8_t *input, int8_t *output) {
  for (int32_t r = 0; r < p->rows; ++r) {
    const int8_t *x = input + r * p->depth;
    int8_t *y = output + r * p->depth;
    const int32_t max_val = tm_row_max_s8(x, p->depth);
    const float *table = p->exp_table + 255 - max_val;  /* table[x] = exp(scale * beta * (x - max)) */
    float sum = 0.0f;
    for (int32_t j = 0; j < p->depth; ++j) sum += table[x[j]];
    const float inv_sum = 1.0f / (sum * p->output_scale);
    for (int32_t j = 0; j < p->depth; ++j) {
      const int32_t q = (int32_t)roundf(table[x[j]] * inv_sum) + p->output_zero_point;
      y[j] = (int8_t)tm_clamp(q, -128, 127);
    }
  }
}
