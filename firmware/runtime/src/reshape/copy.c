/* Byte copy for layout-only operators (reshape, concatenation pieces, padding) whose output has its own buffer. */
#include "tinyml/kernels.h"

void tm_copy(const void *input, int32_t bytes, void *output) {
  const uint8_t *src = (const uint8_t *)input;
  uint8_t *dst = (uint8_t *)output;
  if (dst == src) return;
  for (int32_t i = 0; i < bytes; ++i) dst[i] = src[i];
}
