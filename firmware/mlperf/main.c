/* The MLPerf Tiny app's harness (`tinyml build --app mlperf`): sets up the board and hands the UART and the cycle
 * counter to the runner-protocol server (tm_mlperf.c), which never returns. mlperf_config.h is generated per build
 * from the model (tinyml.device.mlperf_app). */
#include "board.h"
#include "mlperf_config.h"
#include "tm_hal.h"
#include "tm_mlperf.h"

static uint32_t db[(TM_MLPERF_DB_BYTES + 3u) / 4u];  /* words: float inputs are read from it */
static int8_t staging[TM_MLPERF_STAGING_BYTES];

static const tm_mlperf_io io = {
  .name = "tinyml " TM_BOARD_NAME,
  .profile = TM_MLPERF_PROFILE,
  .model = TM_MLPERF_MODEL,
  .input = TM_MLPERF_INPUT,
  .result = TM_MLPERF_RESULT,
  .db = (uint8_t *)db,
  .db_bytes = TM_MLPERF_DB_BYTES,
  .staging = staging,
  .getc = tm_hal_getc,
  .putc = tm_hal_putc,
  .ticks = tm_hal_cycles,
  .clock = tm_hal_clock,
  .clock_hz = TM_BOOT_CLOCK_HZ,
};

int main(void) {
  tm_hal_init();
  tm_mlperf_run(&io);
  return 0;
}
