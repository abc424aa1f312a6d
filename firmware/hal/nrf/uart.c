/* Nordic legacy UART, no EasyDMA (nRF51, which has no UARTE: the micro:bit; the nRF52840 uses uarte.c).
 * Tasks STARTRX/STARTTX, events RXDRDY/TXDRDY, PSELTXD/PSELRXD, RXD/TXD, BAUDRATE, ENABLE = 4. */
#include "board.h"
#include "tm_hal.h"

#define REG(off) (*(volatile uint32_t *)(TM_UART_BASE + (off)))
#define TASKS_STARTRX REG(0x000u)
#define TASKS_STARTTX REG(0x008u)
#define EVENTS_RXDRDY REG(0x108u)
#define EVENTS_TXDRDY REG(0x11Cu)
#define ENABLE REG(0x500u)
#define PSELTXD REG(0x50Cu)
#define PSELRXD REG(0x514u)
#define RXD REG(0x518u)
#define TXD REG(0x51Cu)
#define BAUDRATE REG(0x524u)

static int tx_started;

void tm_uart_init(void) {
  PSELTXD = TM_UART_TX_PIN;
  PSELRXD = TM_UART_RX_PIN;
  BAUDRATE = TM_UART_DIVISOR;
  ENABLE = 4u;
  EVENTS_RXDRDY = 0u;
  TASKS_STARTRX = 1u;
  TASKS_STARTTX = 1u;
}

void tm_hal_putc(uint8_t c) {
  if (tx_started) {                /* wait for the previous byte to leave */
    while (!EVENTS_TXDRDY) {
    }
  }
  EVENTS_TXDRDY = 0u;
  TXD = c;
  tx_started = 1;
}

int tm_hal_getc(void) {
  if (!EVENTS_RXDRDY) {
    return -1;
  }
  EVENTS_RXDRDY = 0u;
  return (int)(RXD & 0xFFu);
}
