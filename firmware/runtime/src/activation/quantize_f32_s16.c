/* float32 -> int16 affine quantization (a 16x8 model's float input): tm_quantize_f32_s16 is quantize_f32.h's, with
 * TFLite's two rounding paths. */
#define TM_QUANTIZE_T int16_t
#define TM_QUANTIZE_MIN INT16_MIN
#define TM_QUANTIZE_MAX INT16_MAX
#define TM_QUANTIZE_BOUND 65536.0
#define TM_QUANTIZE_F32 tm_quantize_f32_s16
#include "quantize_f32.h"
