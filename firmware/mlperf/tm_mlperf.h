/* The device side of the MLPerf Tiny runner protocol (mlcommons/tiny benchmark/runner): a text command server.
 *
 * The host sends `command%` (no newline); the device answers with `\r\n`-terminated lines and ends every reply
 * with `m-ready`. Commands, replies and limits: docs/FIRMWARE.md, "The MLPerf Tiny app". Needs the generated
 * model.h; no malloc, no printf. */
#ifndef TM_MLPERF_H
#define TM_MLPERF_H
#include <stdint.h>

#define TM_MLPERF_CMD_CHARS 80u  /* longest command line, as the runner's reference firmware (EE_CMD_SIZE) */

/* How the bytes loaded with `db` become the model's input 0. */
typedef enum {
  TM_MLPERF_INPUT_RAW = 0,    /* the tensor's own bytes (kws01: int8 features) */
  TM_MLPERF_INPUT_UINT8 = 1,  /* uint8 pixels, input = pixel - 128 (ic01, vww01: the runner's image files) */
  TM_MLPERF_INPUT_FLOAT = 2,  /* float32 values, quantized with the input's scale and zero point (ad01) */
} tm_mlperf_input;

/* What `results` reports. */
typedef enum {
  TM_MLPERF_RESULT_SCORES = 0,  /* output 0 dequantized, one value per element */
  TM_MLPERF_RESULT_MSE = 1,     /* mean squared error between the float input and output 0 dequantized (ad01) */
} tm_mlperf_result;

typedef struct {
  const char *name;            /* m-name-dut-[name] */
  const char *profile;         /* m-profile-[profile] */
  const char *model;           /* m-model-[model]: kws01, vww01, ic01, ad01, or the user's model name */
  tm_mlperf_input input;
  tm_mlperf_result result;
  uint8_t *db;                 /* the `db` buffer, 4-byte aligned */
  uint32_t db_bytes;           /* exactly what `db load` must announce: the input's bytes (x4 for FLOAT) */
  int8_t *staging;             /* FLOAT: the quantized input (input 0's bytes); unused otherwise */
  int (*getc)(void);           /* the next received byte, or -1 (never blocks) */
  void (*putc)(uint8_t byte);
  uint32_t (*ticks)(void);     /* the cycle counter for `m-lap-us` stamps (wraps at 2^32) */
  uint32_t (*clock)(void);     /* the same time base read without disturbing it, polled between stamps */
  uint32_t clock_hz;           /* ticks per second */
} tm_mlperf_io;

/* Calls tm_model_init(), prints `m-init-done` and `m-ready`, then serves commands forever. */
void tm_mlperf_run(const tm_mlperf_io *io);

#endif
