/* float32 -> int8 affine quantization: round(x / scale) + zero_point, saturated. */
#include <math.h>
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

void tm_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t q = (int32_t)roundf(input[i] / scale) + zero_point;
    output[i] = (int8_t)tm_clamp(q, -128, 127);
  }
}
