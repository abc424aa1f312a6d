/* A recorded sensor for emulated boards (`tinyml build --app field --sensor file`): tm_sensor_read streams raw
 * int16 little-endian samples from a host file through Arm semihosting, at memory speed instead of the emulated
 * UART's. The emulator names the file as the last word of the semihosting command line (QEMU:
 * `-semihosting-config enable=on,target=native,arg=tinyml,arg=/abs/path.raw`; tinyml.device.field_device does it).
 * Emulators only: a semihosting call (BKPT 0xAB) stops a real board that has no debugger attached. */
#include <stdint.h>

#include "tm_hal.h"

#define SYS_OPEN 0x01
#define SYS_READ 0x06
#define SYS_GET_CMDLINE 0x15
#define MODE_READ_BINARY 1
#define CMDLINE_MAX 256u

static int semihost(int op, void *arg) {
  register int r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static enum { UNOPENED, OPEN, DONE } state = UNOPENED;
static int handle;

/* Opens the file the command line's last word names; DONE (no samples, ever) when there is none. */
static void open_file(void) {
  static char cmdline[CMDLINE_MAX];
  int get[2] = {(int)(intptr_t)cmdline, (int)CMDLINE_MAX};
  int open[3];
  uint32_t end;
  uint32_t start;
  state = DONE;
  if (semihost(SYS_GET_CMDLINE, get) != 0 || get[1] <= 0 || get[1] >= (int)CMDLINE_MAX) {
    return;
  }
  end = (uint32_t)get[1];
  while (end > 0u && cmdline[end - 1u] == ' ') {
    end--;
  }
  start = end;
  while (start > 0u && cmdline[start - 1u] != ' ') {
    start--;
  }
  if (start == end) {
    return;
  }
  cmdline[end] = '\0';
  open[0] = (int)(intptr_t)(cmdline + start);
  open[1] = MODE_READ_BINARY;
  open[2] = (int)(end - start);
  handle = semihost(SYS_OPEN, open);
  if (handle != -1) {
    state = OPEN;
  }
}

uint32_t tm_sensor_read(int16_t *dst, uint32_t max) {
  int read[3];
  int missing;
  if (state == UNOPENED) {
    open_file();
  }
  if (state != OPEN || max == 0u) {
    return 0u;
  }
  read[0] = handle;
  read[1] = (int)(intptr_t)dst;
  read[2] = (int)(max * 2u);
  missing = semihost(SYS_READ, read); /* bytes not read: 0 when all came, the whole length at end of file */
  if (missing < 0 || missing > read[2]) {
    state = DONE;
    return 0u;
  }
  if (missing != 0) {
    state = DONE; /* a short read is the file's end; an odd last byte is dropped */
  }
  return (uint32_t)(read[2] - missing) / 2u;
}
