/* HAL self-test firmware (linked by tests/firmware in place of the protocol harness).
 * Boot: prints "hello <board>". Then per received byte: 'm' measures a loop of exactly 2,000,000 instructions
 * and prints "ticks N"; 's' prints "stack N" (peak stack bytes); any other byte b is answered with b + 1. */
#include "board.h"
#include "tm_hal.h"

static void put_str(const char *s) {
  while (*s) {
    tm_hal_putc((uint8_t)*s++);
  }
}

static void put_line(const char *label, uint32_t value) {
  char digits[11];
  int i = 10;
  digits[i] = '\0';
  do {
    digits[--i] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value);
  put_str(label);
  put_str(&digits[i]);
  put_str("\n");
}

/* n iterations of two instructions (subs, bne). */
static void spin(uint32_t n) {
  __asm volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

int main(void) {
  tm_hal_init();
  put_str("hello " TM_BOARD_NAME "\n");
  for (;;) {
    int c = tm_hal_getc();
    if (c == 'm') {
      uint32_t start = tm_hal_cycles();
      spin(1000000u);
      put_line("ticks ", tm_hal_cycles() - start);
    } else if (c == 's') {
      put_line("stack ", tm_hal_stack_peak());
    } else if (c >= 0) {
      tm_hal_putc((uint8_t)(c + 1));
    }
  }
}
