/* int16 -> float32 (the model's int16 output), as TFLite: scale * (q - zero_point) in single precision. */
#include "tinyml/kernels.h"

void tm_dequantize_s16_f32(const int16_t *input, int32_t size, float scale, int32_t zero_point, float *output) {
  for (int32_t i = 0; i < size; ++i) output[i] = scale * (float)(input[i] - zero_point);
}
