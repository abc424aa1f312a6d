/* Int8 mean over any dimensions of a rank <= 4 tensor (TFLite MEAN), integer only. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void tm_mean_s8(const tm_mean_params *p, const int8_t *input, int8_t *output) {
  int32_t stride[4], outer[4], inner[4];
  int32_t step = 1;
  for (int d = 3; d >= 0; --d) {
    stride[d] = step;
    step *= p->dims[d];
    outer[d] = p->reduce[d] ? 1 : p->dims[d];
    inner[d] = p->reduce[d] ? p->dims[d] : 1;
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
          sum = (int32_t)((uint32_t)sum - (uint32_t)p->input_sum_offset);
          const int32_t scaled = a3 < p->round_up_channels ? tm_requantize_round_up(sum, p->multiplier, p->shift)
                                                           : tm_requantize(sum, p->multiplier, p->shift);
          *output++ = (int8_t)tm_clamp(scaled + p->output_offset, -128, 127);
        }
}
