/* Peak stack use: the reset handler paints the stack with TM_STACK_PAINT; the lowest overwritten word marks
 * the deepest the stack has reached. */
#include "board.h"
#include "tm_hal.h"

extern uint32_t __stack_bottom[], __stack_top[];

uint32_t tm_hal_stack_peak(void) {
  const uint32_t *p = __stack_bottom;
  while (p < __stack_top && *p == TM_STACK_PAINT) {
    p++;
  }
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}
