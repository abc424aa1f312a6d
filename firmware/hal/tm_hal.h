/* Board support the firmware harness needs: one UART, a free-running cycle counter, peak stack use.
 * Implemented by one UART driver (hal/<family>/) plus hal/common/ (board set-up, cycle counter, stack). */
#ifndef TM_HAL_H
#define TM_HAL_H
#include <stdint.h>

void tm_hal_init(void);            /* board set-up steps (clock tree to TM_BOOT_CLOCK_HZ, then the UART's clock
                                      gates and pins), UART, cycle counter; call first in main */
void tm_hal_putc(uint8_t c);       /* blocks until the byte is queued */
int tm_hal_getc(void);             /* the next received byte, or -1 if none is waiting (never blocks) */
uint32_t tm_hal_cycles(void);      /* cycle counter for measurements: up-counter at TM_BOOT_CLOCK_HZ, wraps at
                                      2^32; the count between two calls depends only on the code run between
                                      them (see counter_systick.c) */
uint32_t tm_hal_clock(void);       /* the same time base for timeouts: monotonic, never disturbs the counter */
uint32_t tm_hal_stack_peak(void);  /* most stack bytes ever used since reset (stack painted at reset) */

/* Field devices (the field app, firmware/field; docs/FIRMWARE.md "Field app"). Weak defaults in
 * hal/common/field_defaults.c; a board port overrides them. */
uint32_t tm_sensor_read(int16_t *dst, uint32_t max); /* up to max new raw samples into dst, never blocks; returns
                                                        how many (default: none, samples come over the protocol) */
uint32_t tm_hal_device_id(uint8_t *dst, uint32_t max); /* the chip's unique id (nRF FICR DEVICEID, STM32 UID):
                                                          up to max bytes into dst, returns how many (default: 0) */

/* Driver and counter entry points, called by tm_hal_init. */
void tm_uart_init(void);
void tm_counter_init(void);
#endif
