/* `infer N W` and `results`: the db buffer becomes input 0 (tm_mlperf_input), W warm-up and N timed inferences,
 * then the results line (tm_mlperf_result).
 *
 * The arena may reuse the input's memory for later tensors (docs/ARCHITECTURE.md), so every inference starts by
 * copying the input in again (memcpy, inside the timed loop; docs/FIRMWARE.md gives its cost). The conversion
 * happens once per `infer`, outside the timing: UINT8 pixels are shifted in the db buffer itself and shifted back
 * afterwards (so `db print` and the next `infer` see the bytes as loaded); FLOAT values are quantized into the
 * staging buffer. */
#include <string.h>

#include "model.h"
#include "tm_mlperf_internal.h"

static const tm_mlperf_io *infer_io;
static uint8_t inferred;  /* an inference has run since boot */

void tm_mlperf_infer_init(const tm_mlperf_io *io) { infer_io = io; }

static float db_float(uint32_t i) {
  float v;
  memcpy(&v, infer_io->db + 4u * i, sizeof v);
  return v;
}

/* round(v / scale) + zero_point, rounded half away from zero, saturated to int8 (as the reference DUT's
 * QuantizeFloatToInt8); written without roundf, which some emulators get wrong. */
static int8_t quantize(float v, float scale, int32_t zero_point) {
  float x = v / scale;
  if (x > 512.0f) {
    x = 512.0f;
  } else if (x < -512.0f) {
    x = -512.0f;
  }
  int32_t r = (int32_t)x;  /* toward zero; x - r is exact */
  const float rest = x - (float)r;
  if (rest >= 0.5f) {
    r++;
  } else if (rest <= -0.5f) {
    r--;
  }
  r += zero_point;
  return (int8_t)(r > 127 ? 127 : (r < -128 ? -128 : r));
}

/* UINT8: pixel - 128 in two's complement is the pixel with its top bit flipped; flipping twice restores it. */
static void flip_pixels(uint32_t bytes) {
  for (uint32_t i = 0; i < bytes; i++) {
    infer_io->db[i] ^= 0x80u;
  }
}

/* The bytes every inference copies into input 0. */
static const void *prepare(const tm_io *in) {
  if (infer_io->input == TM_MLPERF_INPUT_FLOAT) {
    for (uint32_t i = 0; i < in->bytes; i++) {
      infer_io->staging[i] = quantize(db_float(i), in->scale, in->zero_point);
    }
    return infer_io->staging;
  }
  if (infer_io->input == TM_MLPERF_INPUT_UINT8) {
    flip_pixels(in->bytes);
  }
  return infer_io->db;
}

static void run(const tm_io *in, const void *input, uint32_t n) {
  while (n-- > 0u) {
    memcpy(in->data, input, in->bytes);
    tm_model_invoke();
    tm_mlperf_time_poll();
  }
}

static void line_u64(const char *prefix, uint64_t v) {
  tm_mlperf_puts(prefix);
  tm_mlperf_put_u64(v);
  tm_mlperf_endl();
}

void tm_mlperf_infer(uint32_t n, uint32_t warmups) {
  const uint32_t have = tm_mlperf_db_loaded();
  if (have != infer_io->db_bytes) {
    tm_mlperf_error_n("infer: no input loaded; send 'db load ", infer_io->db_bytes, "' and its bytes first");
    return;
  }
  const tm_io *in = tm_model_input(0);
  const void *input = prepare(in);
  line_u64("m-warmup-start-", warmups);
  run(in, input, warmups);
  tm_mlperf_puts("m-warmup-done");
  tm_mlperf_endl();
  line_u64("m-infer-start-", n);
  tm_mlperf_lap();
  run(in, input, n);
  tm_mlperf_lap();
  if (infer_io->input == TM_MLPERF_INPUT_UINT8) {
    flip_pixels(in->bytes);
  }
  tm_mlperf_puts("m-infer-done");
  tm_mlperf_endl();
  inferred = 1;
  tm_mlperf_results();
}

static float dequantize(const tm_io *t, uint32_t i) {
  return (float)((int32_t)((const int8_t *)t->data)[i] - t->zero_point) * t->scale;
}

/* Mean of (output - input)^2 over the elements, summed in order in float, as the reference DUT for ad01. */
static float mse(const tm_io *out) {
  float sum = 0.0f;
  for (uint32_t i = 0; i < out->bytes; i++) {
    const float diff = dequantize(out, i) - db_float(i);
    sum += diff * diff;
  }
  return sum / (float)out->bytes;
}

void tm_mlperf_results(void) {
  if (!inferred) {
    tm_mlperf_error("results: no inference has run yet", "");
    return;
  }
  const tm_io *out = tm_model_output(0);
  tm_mlperf_puts("m-results-[");
  if (infer_io->result == TM_MLPERF_RESULT_MSE) {
    tm_mlperf_put_f32(mse(out));
  } else {
    for (uint32_t i = 0; i < out->bytes; i++) {
      if (i != 0u) {
        tm_mlperf_puts(",");
      }
      tm_mlperf_put_f32(dequantize(out, i));
    }
  }
  tm_mlperf_puts("]");
  tm_mlperf_endl();
}
