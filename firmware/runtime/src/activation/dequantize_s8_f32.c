/* int8 -> float32, bit-exact with TFLite: on the first `blocks` elements (its SIMD part) as
 * q * scale + (-zero_point * scale), two roundings; on the rest as scale * (q - zero_point). */
#include "tinyml/kernels.h"

void tm_dequantize_s8_f32(const int8_t *input, int32_t size, int32_t blocks, float scale, int32_t zero_point,
                          float *output) {
  const float bias = (float)(-zero_point) * scale;
  int32_t i = 0;
  for (; i < blocks; ++i) {
    const float scaled = (float)input[i] * scale;
    output[i] = scaled + bias;
  }
  for (; i < size; ++i) output[i] = scale * (float)(input[i] - zero_point);
}
