/* Private to the reductions that sum (mean_s8.c, sum_s8.c): the int32 sum of each output's input elements, handed
 * with the output's innermost (channel) index to `finish`, which returns the int8 output. Inlined with a constant
 * `finish`, the call disappears. Not part of the runtime's API. */
#ifndef TINYML_REDUCE_SUM_H
#define TINYML_REDUCE_SUM_H
#include "tinyml/kernels.h"

static inline __attribute__((always_inline)) void tm_reduce_sums_s8(
    const int32_t dims[4], const int32_t reduce[4], const int8_t *input, int8_t *output, const void *params,
    int8_t (*finish)(const void *params, int32_t channel, int32_t sum)) {
  int32_t stride[4], outer[4], inner[4];
  int32_t step = 1;
  for (int d = 3; d >= 0; --d) {
    stride[d] = step;
    step *= dims[d];
    outer[d] = reduce[d] ? 1 : dims[d];
    inner[d] = reduce[d] ? dims[d] : 1;
  }
  for (int32_t a0 = 0; a0 < outer[0]; ++a0)
    for (int32_t a1 = 0; a1 < outer[1]; ++a1)
      for (int32_t a2 = 0; a2 < outer[2]; ++a2)
        for (int32_t a3 = 0; a3 < outer[3]; ++a3) {
          const int8_t *base = input + a0 * stride[0] + a1 * stride[1] + a2 * stride[2] + a3 * stride[3];
          int32_t sum = 0;
          for (int32_t r0 = 0; r0 < inner[0]; ++r0)
            for (int32_t r1 = 0; r1 < inner[1]; ++r1)
              for (int32_t r2 = 0; r2 < inner[2]; ++r2) {
                const int8_t *row = base + r0 * stride[0] + r1 * stride[1] + r2 * stride[2];
                for (int32_t r3 = 0; r3 < inner[3]; ++r3) sum += row[r3 * stride[3]];
              }
          *output++ = finish(params, a3, sum);
        }
}

#endif
