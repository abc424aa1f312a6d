/* Int8 addition with broadcasting: both inputs rescaled to a common 2^left_shift-scaled domain, then requantized. */
#include "add_one.h"
#include "broadcast.h"

static inline int8_t add(const void *p, int32_t a, int32_t b) { return tm_add_one_s8((const tm_add_params *)p, a, b); }

void tm_add_s8(const tm_add_params *p, const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output) {
  tm_broadcast_s8(bc, a, b, output, p, add);
}
