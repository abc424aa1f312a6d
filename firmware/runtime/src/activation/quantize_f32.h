/* Private to the float32 quantization kernels (quantize_f32_s8.c, quantize_f32_s16.c): the kernel function itself,
 * written once for int8 and int16 outputs. Bit-exact with the TFLite interpreter's two paths: on the first `blocks`
 * elements (its SIMD blocks of 8) x * (1 / scale) in single precision, rounded half to even; on the rest x / scale in
 * double, rounded half away from zero; then + zero_point, saturated. It defines the function rather than an inline
 * loop, so that the int8 kernel's machine code stays that of its own loop. A type-generic header: the including
 * kernel file defines, and this header undefines,
 *   TM_QUANTIZE_T        the output element type (int8_t, int16_t)
 *   TM_QUANTIZE_MIN, TM_QUANTIZE_MAX  its range
 *   TM_QUANTIZE_BOUND    a double beyond the range plus any zero point, to which rounded values are bounded
 *   TM_QUANTIZE_F32      the kernel's public name (declared in tinyml/kernels.h)
 * Not part of the runtime's API. */
#include <math.h>
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* r (already an integer) bounded before the conversion, so that out-of-range floats saturate instead of overflowing. */
static int32_t bounded(double r) {
  return (int32_t)(r < -TM_QUANTIZE_BOUND ? -TM_QUANTIZE_BOUND : (r > TM_QUANTIZE_BOUND ? TM_QUANTIZE_BOUND : r));
}

void TM_QUANTIZE_F32(const float *input, int32_t size, int32_t blocks, float scale, int32_t zero_point,
                     TM_QUANTIZE_T *output) {
  const float inverse = 1.0f / scale;
  int32_t i = 0;
  for (; i < blocks; ++i) {
    output[i] = (TM_QUANTIZE_T)tm_clamp(bounded(rintf(input[i] * inverse)) + zero_point, TM_QUANTIZE_MIN,
                                        TM_QUANTIZE_MAX);
  }
  for (; i < size; ++i) {
    output[i] = (TM_QUANTIZE_T)tm_clamp(bounded(round((double)input[i] / (double)scale)) + zero_point,
                                        TM_QUANTIZE_MIN, TM_QUANTIZE_MAX);
  }
}

#undef TM_QUANTIZE_T
#undef TM_QUANTIZE_MIN
#undef TM_QUANTIZE_MAX
#undef TM_QUANTIZE_BOUND
#undef TM_QUANTIZE_F32
