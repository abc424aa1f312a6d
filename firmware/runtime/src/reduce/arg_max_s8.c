/* Int8 ARG_MAX along one axis, the input seen as [outer, axis, inner]: the index of the first largest value (TFLite
 * replaces its running maximum only on a strictly greater value). Each index takes index_words 32-bit words:
 * 1 for an int32 output, 2 for an int64 one (the converter's default output_type), written as its low word then its
 * high word (zero: an index is never negative), the little-endian layout of an int64 on every supported core.
 * Word stores keep the kernel within the 4-byte alignment the arena gives every tensor. */
#include "tinyml/kernels.h"

void tm_arg_max_s8(int32_t outer, int32_t axis, int32_t inner, int32_t index_words, const int8_t *input,
                   int32_t *output) {
  for (int32_t o = 0; o < outer; ++o, input += axis * inner)
    for (int32_t i = 0; i < inner; ++i, output += index_words) {
      int8_t best = input[i];
      int32_t at = 0;
      for (int32_t a = 1; a < axis; ++a)
        if (input[a * inner + i] > best) {
          best = input[a * inner + i];
          at = a;
        }
      output[0] = at;
      if (index_words == 2) output[1] = 0;
    }
}
