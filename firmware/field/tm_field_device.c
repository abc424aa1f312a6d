/* A field device's identity (see tm_field_device.h). */
#include "tm_field_device.h"

#include "tm_hal.h"

_Static_assert(sizeof(tm_field_identity_block) == TM_FIELD_IDENTITY_BYTES, "identity block layout changed");

/* Not copied or zeroed at reset: outside .data and .bss (the linker places the orphan section after .bss). */
__attribute__((section(".noinit.tm_field_identity"))) volatile tm_field_identity_block tm_field_identity;

static const uint8_t fallback_id[] = {'t', 'i', 'n', 'y', 'm', 'l'};

void tm_field_identity_init(void) {
  volatile tm_field_identity_block *b = &tm_field_identity;
  int valid = b->id_len >= 1u && b->id_len <= TM_FIELD_ID_MAX;
  if (b->magic == TM_FIELD_RUNNING && valid) {
    b->boot++;
  } else if (!(b->magic == TM_FIELD_PROVISIONED && valid)) {
    uint8_t id[TM_FIELD_ID_MAX];
    uint32_t n = tm_hal_device_id(id, TM_FIELD_ID_MAX);
    uint32_t i;
    if (n == 0u || n > TM_FIELD_ID_MAX) {
      n = sizeof fallback_id;
      for (i = 0u; i < n; i++) {
        id[i] = fallback_id[i];
      }
    }
    for (i = 0u; i < n; i++) {
      b->id[i] = id[i];
    }
    b->id_len = n;
    b->boot = 1u;
  }
  b->magic = TM_FIELD_RUNNING;
}
