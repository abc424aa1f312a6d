/* The `db` buffer: `db load N` announces N bytes, `db HEX...` lines fill it (the runner sends 31 bytes a line; up to
 * 38 fit in a command), `m-load-done` when all N have arrived; `db print` shows it. A line that would overrun N, an odd digit count
 * or a character that is not a hex digit is refused whole (nothing of it is stored), with an `e-[...]` line. */
#include "tm_mlperf_internal.h"

#define PRINT_BYTES_PER_LINE 8u

static const tm_mlperf_io *db_io;
static uint32_t expected;  /* bytes announced by the last `db load` (0: none) */
static uint32_t loaded;    /* bytes received since */

void tm_mlperf_db_init(const tm_mlperf_io *io) { db_io = io; }

uint32_t tm_mlperf_db_loaded(void) { return expected != 0u && loaded == expected ? loaded : 0u; }

void tm_mlperf_db_load(uint32_t bytes) {
  expected = loaded = 0;
  if (bytes != db_io->db_bytes) {
    tm_mlperf_error_n("db load: the model's input takes ", db_io->db_bytes, " bytes");
    return;
  }
  expected = bytes;
  tm_mlperf_puts("m-[Expecting ");
  tm_mlperf_put_u64(bytes);
  tm_mlperf_puts(" bytes]");
  tm_mlperf_endl();
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

void tm_mlperf_db_hex(const char *digits) {
  uint32_t n = 0;
  while (digits[n] != '\0') {
    if (hex_value(digits[n]) < 0) {
      const char bad[2] = {digits[n], '\0'};
      tm_mlperf_error("db: not a hex digit: ", bad);
      return;
    }
    n++;
  }
  if ((n & 1u) != 0u) {
    tm_mlperf_error("db: odd number of hex digits", "");
    return;
  }
  if (expected == 0u || loaded == expected) {
    tm_mlperf_error("db: no 'db load N' in progress", "");
    return;
  }
  if (n / 2u > expected - loaded) {
    tm_mlperf_error_n("db: more bytes than the ", expected - loaded, " still expected");
    return;
  }
  for (uint32_t i = 0; i < n; i += 2u) {
    db_io->db[loaded++] = (uint8_t)(hex_value(digits[i]) << 4 | hex_value(digits[i + 1u]));
  }
  if (loaded == expected) {
    tm_mlperf_puts("m-load-done");
    tm_mlperf_endl();
  }
}

void tm_mlperf_db_print(void) {
  for (uint32_t i = 0; i < loaded; i++) {
    if (i % PRINT_BYTES_PER_LINE == 0u) {
      tm_mlperf_puts("m-buffer-");
    }
    tm_mlperf_put_hex8(db_io->db[i]);
    if ((i + 1u) % PRINT_BYTES_PER_LINE == 0u || i + 1u == loaded) {
      tm_mlperf_endl();
    } else {
      tm_mlperf_puts("-");
    }
  }
}
