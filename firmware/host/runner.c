/* Host runner for a generated model: reads inputs from stdin, writes outputs to stdout, sample after sample.
 * Per sample: every input's bytes in order; then every output's bytes in order are written back. */
#include <stdio.h>
#include "model.h"

static int read_exact(void *dst, uint32_t bytes) { return fread(dst, 1, bytes, stdin) == bytes; }

int main(void) {
  tm_model_init();
  for (;;) {
    for (uint32_t i = 0; i < TM_MODEL_NUM_INPUTS; ++i) {
      const tm_io *in = tm_model_input(i);
      if (!read_exact(in->data, in->bytes)) return i == 0 && feof(stdin) ? 0 : 1;
    }
    tm_model_invoke();
    for (uint32_t i = 0; i < TM_MODEL_NUM_OUTPUTS; ++i) {
      const tm_io *out = tm_model_output(i);
      if (fwrite(out->data, 1, out->bytes, stdout) != out->bytes) return 1;
    }
  }
}
