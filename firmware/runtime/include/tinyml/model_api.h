/* What every generated model exposes about its inputs and outputs (see docs/ARCHITECTURE.md). */
#ifndef TINYML_MODEL_API_H
#define TINYML_MODEL_API_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  void *data;          /* points into the model's arena */
  uint32_t bytes;
  float scale;         /* 0 for tensors without quantization */
  int32_t zero_point;
  uint8_t type;        /* TFLite TensorType code: 9 int8, 0 float32, 7 int16, 2 int32, 3 uint8 */
} tm_io;

#endif
