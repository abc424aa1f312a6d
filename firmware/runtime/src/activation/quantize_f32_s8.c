/* float32 -> int8 affine quantization (an int8 model's float input): tm_quantize_f32_s8 is quantize_f32.h's, with
 * TFLite's two rounding paths. */
#define TM_QUANTIZE_T int8_t
#define TM_QUANTIZE_MIN (-128)
#define TM_QUANTIZE_MAX 127
#define TM_QUANTIZE_BOUND 512.0
#define TM_QUANTIZE_F32 tm_quantize_f32_s8
#include "quantize_f32.h"
