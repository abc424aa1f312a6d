/* Int4 weights as TFLite stores them (TensorType INT4): two signed 4-bit values per byte over the whole flattened
 * tensor, the first in the low nibble. A row of a filter may start and end mid-byte (an odd kh * kw * in_c). The
 * int4 kernels keep the weights packed in flash and unpack one row at a time into scratch. */
#ifndef TINYML_INT4_H
#define TINYML_INT4_H
#include <stdint.h>

/* Values first .. first + count - 1 of `packed`, sign-extended to int8, into out[0 .. count - 1]. */
static inline void tm_unpack_s4(const uint8_t *packed, int32_t first, int32_t count, int8_t *out) {
  for (int32_t i = 0; i < count; ++i) {
    const int32_t k = first + i;
    const int32_t nibble = (packed[k >> 1] >> ((k & 1) * 4)) & 0x0F;
    out[i] = (int8_t)(nibble > 7 ? nibble - 16 : nibble);
  }
}

#endif
