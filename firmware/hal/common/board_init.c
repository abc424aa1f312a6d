/* tm_hal_init: the profile's register steps (clock gates, pin muxing), then UART and cycle counter. */
#include "board.h"
#include "tm_hal.h"

typedef struct { uint32_t reg, mask, value, op; } tm_reg_step;
enum { TM_STEP_WRITE, TM_STEP_RMW, TM_STEP_WAIT };

static const tm_reg_step steps[] = { TM_BOARD_SETUP_STEPS { 0u, 0u, 0u, 0xFFFFFFFFu } };

void tm_hal_init(void) {
  for (const tm_reg_step *s = steps; s->op != 0xFFFFFFFFu; s++) {
    volatile uint32_t *reg = (volatile uint32_t *)(uintptr_t)s->reg;
    if (s->op == TM_STEP_WRITE) {
      *reg = s->value;
    } else if (s->op == TM_STEP_RMW) {
      *reg = (*reg & ~s->mask) | (s->value & s->mask);
    } else {
      for (uint32_t n = 0; n < 1000000u && (*reg & s->mask) != s->value; n++) {
      }
    }
  }
  tm_uart_init();
  tm_counter_init();
}
