/* Int8 MINIMUM with broadcasting: TFLite compares the stored int8 values (inputs and output share one
 * quantization), so no arithmetic beyond the comparison. */
#include "broadcast.h"

static inline int8_t smaller(const void *unused, int32_t a, int32_t b) {
  (void)unused;
  return (int8_t)(a < b ? a : b);
}

void tm_minimum_s8(const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output) {
  tm_broadcast_s8(bc, a, b, output, 0, smaller);
}
