/* tm_hal_init: the profile's register steps (clock tree first, then clock gates and pin muxing for the UART),
 * then UART and cycle counter. Every wait is bounded; a wait that gives up leaves its 1-based step number in
 * tm_hal_setup_timeout (read it with a debugger when a board stays silent) and set-up carries on. */
#include "board.h"
#include "tm_hal.h"

typedef struct { uint32_t reg, mask, value, op; } tm_reg_step;
enum { TM_STEP_WRITE, TM_STEP_RMW, TM_STEP_WAIT, TM_STEP_DELAY };
#define TM_WAIT_LIMIT 1000000u  /* polls of at least 4 cycles: over 1 s at a 4 MHz reset clock, 18 ms at 216 MHz;
                                   crystals, PLLs and regulators settle in at most a few ms */

static const tm_reg_step steps[] = { TM_CLOCK_SETUP_STEPS TM_UART_SETUP_STEPS { 0u, 0u, 0u, 0xFFFFFFFFu } };
volatile uint32_t tm_hal_setup_timeout;

void tm_hal_init(void) {
  for (const tm_reg_step *s = steps; s->op != 0xFFFFFFFFu; s++) {
    volatile uint32_t *reg = (volatile uint32_t *)(uintptr_t)s->reg;
    if (s->op == TM_STEP_WRITE) {
      *reg = s->value;
    } else if (s->op == TM_STEP_RMW) {
      *reg = (*reg & ~s->mask) | (s->value & s->mask);
    } else if (s->op == TM_STEP_WAIT) {
      uint32_t n = 0;
      while ((*reg & s->mask) != s->value && ++n < TM_WAIT_LIMIT) {
      }
      if (n == TM_WAIT_LIMIT && tm_hal_setup_timeout == 0u) {
        tm_hal_setup_timeout = (uint32_t)(s - steps) + 1u;
      }
    } else {
      for (volatile uint32_t n = s->value; n != 0u; n--) {  /* each pass takes at least one cycle */
      }
    }
  }
  tm_uart_init();
  tm_counter_init();
}
