/* A field device's identity: device id and boot counter (docs/FIRMWARE.md "Field app", device identity).
 *
 * Both live in `tm_field_identity`, a block in RAM that the start-up code neither copies nor zeroes (section
 * .noinit). At boot:
 * - a block the emulator or a flasher has provisioned (magic TM_FIELD_PROVISIONED: the QEMU runner writes it with
 *   `-device loader,addr=...,data=...` before the CPU starts) gives the device id and boot counter as written;
 * - a block left by the previous run (magic TM_FIELD_RUNNING: a warm reset) keeps its id and counts one more boot;
 * - anything else (power-on) takes the chip's unique id (tm_hal_device_id; "tinyml" where the chip has none)
 *   and boot counter 1.
 * Then the magic becomes TM_FIELD_RUNNING. */
#ifndef TM_FIELD_DEVICE_H
#define TM_FIELD_DEVICE_H

#include <stdint.h>

#define TM_FIELD_PROVISIONED 0x31505446u /* "FTP1" little-endian: written by the host before boot */
#define TM_FIELD_RUNNING 0x31525446u     /* "FTR1": set by the firmware once it has read the block */
#define TM_FIELD_ID_MAX 32u

typedef struct {
  uint32_t magic;
  uint32_t boot;
  uint32_t id_len; /* 1 to TM_FIELD_ID_MAX */
  uint8_t id[TM_FIELD_ID_MAX];
} tm_field_identity_block;

/* Offsets the host writes at (tinyml.device.field_device mirrors them). */
#define TM_FIELD_IDENTITY_BYTES 44u

extern volatile tm_field_identity_block tm_field_identity;

void tm_field_identity_init(void);

#endif /* TM_FIELD_DEVICE_H */
