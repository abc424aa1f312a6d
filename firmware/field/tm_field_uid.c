/* The chip's unique id for the field app's device identity (tm_hal.h `tm_hal_device_id`), on MCUs whose id the
 * build knows (tinyml.device.field_app.UNIQUE_IDS renders TM_FIELD_UID_ADDRESS into field_config.h); elsewhere
 * the weak default (no id) stays. Read only when the identity block was not provisioned (tm_field_device.c), so an
 * emulator that does not model the id registers never reads them. */
#include "field_config.h"

#ifdef TM_FIELD_UID_ADDRESS
#include "tm_hal.h"

uint32_t tm_hal_device_id(uint8_t *dst, uint32_t max) {
  const volatile uint8_t *uid = (const volatile uint8_t *)(uintptr_t)TM_FIELD_UID_ADDRESS;
  uint32_t n = TM_FIELD_UID_BYTES < max ? TM_FIELD_UID_BYTES : max;
  uint32_t i;
  for (i = 0u; i < n; i++) {
    dst[i] = uid[i];
  }
  return n;
}
#else
typedef int tm_field_uid_unused; /* ISO C forbids an empty translation unit */
#endif
