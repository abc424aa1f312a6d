/* Weak defaults of the field app's board hooks (tm_hal.h). A board with a sensor or a unique chip id defines the
 * same functions in its own file; the linker then takes those. */
#include "tm_hal.h"

__attribute__((weak)) uint32_t tm_sensor_read(int16_t *dst, uint32_t max) {
  (void)dst;
  (void)max;
  return 0u;
}

__attribute__((weak)) uint32_t tm_hal_device_id(uint8_t *dst, uint32_t max) {
  (void)dst;
  (void)max;
  return 0u;
}
