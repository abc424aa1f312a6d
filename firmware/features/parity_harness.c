/* Parity harness (scripts/feature_parity.py, tests/field/test_features_c.py): not part of any firmware app.
 * Reads streams, each a little-endian uint32 sample count n and n little-endian int16 samples; for each it resets
 * the extractor, pushes the samples in chunks of varying length (so streaming across chunk boundaries is
 * exercised), then writes the window (TM_FEATURES_INPUT_BYTES int8; zeros while there are too few frames) and two
 * little-endian uint32: frames completed and counter ticks spent inside tm_features_push.
 * Host build (-DTM_FEATURES_HOST): stdin/stdout, ends at end of input. Device build: the board's UART (tm_hal). */
#include <stdint.h>

#include "tm_features.h"

#ifdef TM_FEATURES_HOST
#include <stdio.h>
static int get_byte(void) { return getchar(); }
static void put_byte(uint8_t b) { putchar(b); }
static uint32_t ticks(void) { return 0u; }
#else
#include "tm_hal.h"
static int get_byte(void) {
  int c;
  while ((c = tm_hal_getc()) < 0) {
  }
  return c;
}
static void put_byte(uint8_t b) { tm_hal_putc(b); }
static uint32_t ticks(void) { return tm_hal_cycles(); }
#endif

static const uint32_t CHUNKS[] = {160u, 1u, 333u, 37u, 512u};
#define MAX_CHUNK 512u

static void put_u32(uint32_t v) {
  for (int i = 0; i < 4; i++) {
    put_byte((uint8_t)(v >> (8 * i)));
  }
}

/* One stream; returns 0 at end of input. */
static int stream(void) {
  static int16_t chunk[MAX_CHUNK];
  static int8_t window[TM_FEATURES_INPUT_BYTES];
  uint32_t left = 0u, spent = 0u, turn = 0u;
  for (int i = 0; i < 4; i++) {
    int c = get_byte();
    if (c < 0) {
      return 0;
    }
    left |= (uint32_t)c << (8 * i);
  }
  tm_features_reset();
  while (left) {
    uint32_t n = CHUNKS[turn++ % (sizeof CHUNKS / sizeof CHUNKS[0])];
    n = n < left ? n : left;
    for (uint32_t i = 0; i < n; i++) {
      int lo = get_byte();
      int hi = lo < 0 ? lo : get_byte();
      if (hi < 0) {
        return 0;
      }
      chunk[i] = (int16_t)(uint16_t)((uint32_t)lo | ((uint32_t)hi << 8));
    }
    uint32_t start = ticks();
    tm_features_push(chunk, n);
    spent += ticks() - start;
    left -= n;
  }
  if (!tm_features_window(window)) {
    for (uint32_t i = 0; i < TM_FEATURES_INPUT_BYTES; i++) {
      window[i] = 0;
    }
  }
  for (uint32_t i = 0; i < TM_FEATURES_INPUT_BYTES; i++) {
    put_byte((uint8_t)window[i]);
  }
  put_u32(tm_features_frames());
  put_u32(spent);
  return 1;
}

int main(void) {
#ifndef TM_FEATURES_HOST
  tm_hal_init();
#endif
  while (stream()) {
  }
#ifdef TM_FEATURES_HOST
  fflush(stdout);
#endif
  return 0;
}
