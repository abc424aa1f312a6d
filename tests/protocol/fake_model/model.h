/* A stand-in for a generated model.h (same API, docs/ARCHITECTURE.md) used to test the serial protocol on the
 * host. Input 0: 700 int8 bytes, input 1: 3 uint8 bytes; output 0 = input 0 + 1 (mod 256), output 1 = input 1
 * XOR 0xFF. Each invoke advances tm_fake_ticks by TM_FAKE_INVOKE_TICKS, the harness's tick counter. */
#ifndef MODEL_H
#define MODEL_H

#include <stdint.h>

#define TM_MODEL_HASH "0123456789abcdef"
#define TM_MODEL_ARENA_BYTES 1406u
#define TM_MODEL_NUM_INPUTS 2u
#define TM_MODEL_NUM_OUTPUTS 2u
#define TM_FAKE_INVOKE_TICKS 1000000000u

typedef struct {
  void *data;
  uint32_t bytes;
  float scale;
  int32_t zero_point;
  uint8_t type;
} tm_io;

extern uint32_t tm_fake_ticks;

void tm_model_init(void);
void tm_model_invoke(void);
const tm_io *tm_model_input(uint32_t index);
const tm_io *tm_model_output(uint32_t index);

#endif
