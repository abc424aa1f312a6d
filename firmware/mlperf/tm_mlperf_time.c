/* Microseconds since boot for `m-lap-us-N`, from the board's 32-bit cycle counter (tm_hal_cycles at
 * TM_BOOT_CLOCK_HZ). The counter wraps (after 171 s at 25 MHz, 25 s at 168 MHz), so every reading adds the ticks
 * since the previous one to a 64-bit total; the inference loop polls between inferences, so a wrap is missed only
 * if a single inference outlasts a whole counter period. Under QEMU -icount shift=0 the counter is SysTick in
 * virtual time, where one guest instruction takes 1 ns: the microseconds are instructions / 1000. */
#include "tm_mlperf_internal.h"

static const tm_mlperf_io *time_io;
static uint64_t total_ticks;
static uint32_t last_ticks;

static void advance(uint32_t now) {
  total_ticks += (uint32_t)(now - last_ticks);
  last_ticks = now;
}

void tm_mlperf_time_init(const tm_mlperf_io *io) {
  time_io = io;
  last_ticks = io->clock();
}

void tm_mlperf_time_poll(void) { advance(time_io->clock()); }

void tm_mlperf_lap(void) {
  advance(time_io->ticks());
  const uint64_t hz = time_io->clock_hz;
  const uint64_t us = total_ticks / hz * 1000000u + total_ticks % hz * 1000000u / hz;
  tm_mlperf_puts("m-lap-us-");
  tm_mlperf_put_u64(us);
  tm_mlperf_endl();
}
