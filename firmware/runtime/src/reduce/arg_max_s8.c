/* Int8 ARG_MAX along one axis, the input seen as [outer, axis, inner]: the index of the first largest value (TFLite
 * replaces its running maximum only on a strictly greater value), as int32. */
#include "tinyml/kernels.h"

void tm_arg_max_s8(int32_t outer, int32_t axis, int32_t inner, const int8_t *input, int32_t *output) {
  for (int32_t o = 0; o < outer; ++o, input += axis * inner)
    for (int32_t i = 0; i < inner; ++i) {
      int8_t best = input[i];
      int32_t at = 0;
      for (int32_t a = 1; a < axis; ++a)
        if (input[a * inner + i] > best) {
          best = input[a * inner + i];
          at = a;
        }
      *output++ = at;
    }
}
