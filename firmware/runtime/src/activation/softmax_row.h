/* Private to the softmax kernels (softmax_s8.c, softmax_s16.c): the maximum of one row, over int8 and int16 rows.
 * Not part of the runtime's API. */
#ifndef TINYML_SOFTMAX_ROW_H
#define TINYML_SOFTMAX_ROW_H
#include "tinyml/kernels.h"

/* The largest of x[0 .. depth), INT8_MIN for an empty row. */
static inline __attribute__((always_inline)) int32_t tm_row_max_s8(const int8_t *x, int32_t depth) {
  int32_t max_val = INT8_MIN;
  for (int32_t j = 0; j < depth; ++j) if (x[j] > max_val) max_val = x[j];
  return max_val;
}

/* The largest of x[0 .. depth), INT16_MIN for an empty row. */
static inline __attribute__((always_inline)) int32_t tm_row_max_s16(const int16_t *x, int32_t depth) {
  int32_t max_val = INT16_MIN;
  for (int32_t j = 0; j < depth; ++j) if (x[j] > max_val) max_val = x[j];
  return max_val;
}

#endif
