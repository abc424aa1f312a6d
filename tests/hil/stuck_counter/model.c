/* The protocol tests' fake model (tests/protocol/fake_model/model.h) with a tick counter that never moves: a
 * device whose cycle counter is not modelled (e.g. an emulator without a DWT). Outputs as the fake model's. */
#include "model.h"

uint32_t tm_fake_ticks = 12345u; /* read before and after every invoke: the same value */

static uint8_t arena[TM_MODEL_ARENA_BYTES];
static tm_io inputs[2] = {{arena, 700u, 0.5f, -3, 9u}, {arena + 700, 3u, 1.0f, 0, 3u}};
static tm_io outputs[2] = {{arena + 703, 700u, 0.25f, 5, 9u}, {arena + 1403, 3u, 1.0f, 0, 3u}};

void tm_model_init(void) {}

void tm_model_invoke(void) {
  uint32_t i;
  for (i = 0; i < 700u; i++) {
    arena[703 + i] = (uint8_t)(arena[i] + 1u);
  }
  for (i = 0; i < 3u; i++) {
    arena[1403 + i] = (uint8_t)(arena[700 + i] ^ 0xFFu);
  }
}

const tm_io *tm_model_input(uint32_t index) { return &inputs[index]; }

const tm_io *tm_model_output(uint32_t index) { return &outputs[index]; }
