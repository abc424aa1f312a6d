/* Text output of the MLPerf app: strings, decimal integers, fixed-point floats and hex bytes, without printf.
 *
 * newlib-nano's printf has no %f unless linked with `-u _printf_float`; formatting here costs less flash
 * (docs/FIRMWARE.md gives both sizes) and is exact: a float32 is m * 2^e with a 24-bit m, so its integer part and
 * its first TM_MLPERF_DECIMALS decimals come from 64-bit integer arithmetic, rounded half up. Bits below 2^-40 are
 * dropped first, which can only matter within 2^-40 of a rounding tie. */
#include <string.h>

#include "tm_mlperf_internal.h"

#define FRACTION_BITS_MAX 40  /* rem * 10^6 < 2^40 * 2^20 fits in 64 bits */
#define INTEGER_SHIFT_MAX 39  /* m < 2^24, so m << 39 < 2^63 */

static void (*out_putc)(uint8_t byte);

void tm_mlperf_out_init(void (*putc)(uint8_t byte)) { out_putc = putc; }

void tm_mlperf_puts(const char *s) {
  while (*s != '\0') {
    out_putc((uint8_t)*s++);
  }
}

void tm_mlperf_endl(void) { tm_mlperf_puts("\r\n"); }

void tm_mlperf_put_u64(uint64_t v) {
  char digits[21];
  int n = 0;
  do {
    digits[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0u);
  while (n > 0) {
    out_putc((uint8_t)digits[--n]);
  }
}

static void put_fraction(uint64_t fraction) {
  char digits[TM_MLPERF_DECIMALS];
  for (int i = (int)TM_MLPERF_DECIMALS - 1; i >= 0; i--) {
    digits[i] = (char)('0' + (int)(fraction % 10u));
    fraction /= 10u;
  }
  for (uint32_t i = 0; i < TM_MLPERF_DECIMALS; i++) {
    out_putc((uint8_t)digits[i]);
  }
}

void tm_mlperf_put_f32(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  const uint32_t exponent = (bits >> 23) & 0xFFu;
  const uint32_t fraction_bits = bits & 0x7FFFFFu;
  if (exponent == 0xFFu) {
    tm_mlperf_puts(fraction_bits != 0u ? "nan" : ((bits >> 31) != 0u ? "-inf" : "inf"));
    return;
  }
  if ((bits >> 31) != 0u) {
    out_putc('-');
  }
  uint64_t m = exponent != 0u ? (fraction_bits | 0x800000u) : fraction_bits;
  int e = (exponent != 0u ? (int)exponent : 1) - 127 - 23;  /* |v| = m * 2^e */
  uint64_t scale = 1;
  for (uint32_t i = 0; i < TM_MLPERF_DECIMALS; i++) {
    scale *= 10u;
  }
  uint64_t integer = 0, decimals = 0;
  if (e >= 0) {
    if (e > INTEGER_SHIFT_MAX) {
      tm_mlperf_puts("inf");
      return;
    }
    integer = m << e;
  } else {
    int k = -e;
    if (k > FRACTION_BITS_MAX) {
      m >>= (k - FRACTION_BITS_MAX);
      k = FRACTION_BITS_MAX;
    }
    const uint64_t mask = ((uint64_t)1 << k) - 1u;
    integer = m >> k;
    const uint64_t scaled = (m & mask) * scale;
    decimals = scaled >> k;
    if (((scaled & mask) << 1) >= ((uint64_t)1 << k)) {  /* round half up */
      decimals++;
    }
    if (decimals == scale) {
      integer++;
      decimals = 0;
    }
  }
  tm_mlperf_put_u64(integer);
  out_putc('.');
  put_fraction(decimals);
}

void tm_mlperf_put_hex8(uint8_t v) {
  static const char hex[] = "0123456789abcdef";
  out_putc((uint8_t)hex[v >> 4]);
  out_putc((uint8_t)hex[v & 0xFu]);
}

void tm_mlperf_error(const char *what, const char *detail) {
  tm_mlperf_puts("e-[");
  tm_mlperf_puts(what);
  tm_mlperf_puts(detail);
  tm_mlperf_puts("]");
  tm_mlperf_endl();
}

void tm_mlperf_error_n(const char *before, uint64_t n, const char *after) {
  tm_mlperf_puts("e-[");
  tm_mlperf_puts(before);
  tm_mlperf_put_u64(n);
  tm_mlperf_puts(after);
  tm_mlperf_puts("]");
  tm_mlperf_endl();
}
