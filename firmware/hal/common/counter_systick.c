/* Cycle counter from SysTick on the processor clock (CLKSOURCE = 1), for Armv6-M (no DWT) and under QEMU,
 * which models no DWT.
 *
 * Under `qemu-system-arm -icount shift=0` every guest instruction takes 1 ns of virtual time and SysTick runs
 * at the machine's modelled clock, so one tick = 1e9 / TM_BOOT_CLOCK_HZ instructions
 * (tinyml.device.targets.qemu.ticks_to_instructions).
 *
 * Determinism: a free-running counter would make the tick count of the same code differ by one between runs,
 * because the sub-tick phase at which a measurement starts depends on how long the device polled the UART
 * for the host's command (measured: +-1 tick on netduinoplus2 and microbit). So every read restarts SysTick
 * (writing SYST_CVR restarts its clock phase, in QEMU as on silicon) and adds the whole ticks elapsed since
 * the previous read to a running total: the interval between two reads depends only on the instructions run
 * between them. The price is that up to one tick per read is dropped; timeouts therefore use tm_hal_clock,
 * which reads without restarting. Wraps of the 24-bit counter are counted by the SysTick interrupt.
 */
#include "board.h"
#include "tm_hal.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define ICSR_PENDSTCLR (1u << 25)
#define PERIOD (1u << 24)

static volatile uint32_t wraps;  /* the counter reached zero since the last restart */
static uint32_t total;           /* ticks accumulated up to the last restart */

void SysTick_Handler(void) { wraps++; }

void tm_counter_init(void) {
  SYST_RVR = PERIOD - 1u;
  SYST_CVR = 0u;
  SYST_CSR = 7u;  /* ENABLE | TICKINT | CLKSOURCE (processor clock) */
}

/* Ticks since the last restart; call with interrupts disabled. */
static uint32_t elapsed_since_restart(void) {
  uint32_t pending, value;
  do {  /* a value and the pending flag from the same side of a wrap */
    pending = SCB_ICSR & ICSR_PENDSTSET;
    value = SYST_CVR;
  } while (pending != (SCB_ICSR & ICSR_PENDSTSET));
  uint32_t periods = wraps + (pending ? 1u : 0u);
  /* The counter reloads to PERIOD - 1 one tick after reaching (or being written to) zero. */
  return periods * PERIOD + (value == 0u ? 0u : PERIOD - value);
}

uint32_t tm_hal_cycles(void) {
  __asm volatile("cpsid i" ::: "memory");
  total += elapsed_since_restart();
  SYST_CVR = 0u;
  SCB_ICSR = ICSR_PENDSTCLR;
  wraps = 0u;
  __asm volatile("cpsie i" ::: "memory");
  return total;
}

uint32_t tm_hal_clock(void) {
  __asm volatile("cpsid i" ::: "memory");
  uint32_t now = total + elapsed_since_restart();
  __asm volatile("cpsie i" ::: "memory");
  return now;
}
