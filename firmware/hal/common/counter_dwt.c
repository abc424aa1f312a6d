/* Cycle counter from DWT CYCCNT (Armv7-M and Armv8-M Mainline silicon). */
#include "board.h"
#include "tm_hal.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

void tm_counter_init(void) {
  DEMCR |= 1u << 24;       /* TRCENA */
  DWT_LAR = 0xC5ACCE55u;   /* unlock (Cortex-M7); ignored where there is no lock */
  DWT_CYCCNT = 0u;
  DWT_CTRL |= 1u;          /* CYCCNTENA */
}

uint32_t tm_hal_cycles(void) { return DWT_CYCCNT; }

uint32_t tm_hal_clock(void) { return DWT_CYCCNT; }
