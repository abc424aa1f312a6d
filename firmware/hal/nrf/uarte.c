/* Nordic UARTE (UART with EasyDMA), nRF52840 product specification v1.x section 6.34 "UARTE". Used by the
 * nRF52840: its UARTE0 shares the base address and ID with the legacy UART0 (ENABLE = 8 selects UARTE), and
 * Renode, like Nordic's SDKs, models only the UARTE there. EasyDMA reads and writes Data RAM only, so both
 * directions go through small static RAM buffers.
 *
 * TX: one byte per DMA transfer: wait for the previous transfer's ENDTX (bounded), copy the byte into tx_buf,
 * TXD.PTR/MAXCNT, STARTTX. RX: one-byte DMA transfers into rx_dma; tm_hal_getc takes the byte of a finished
 * transfer (ENDRX) and restarts reception at once (ENDRX cleared before STARTRX, the byte read before it).
 * Bytes arriving between polls wait in the UARTE's RX FIFO, as they did in the legacy UART's. A DMA ring (one
 * long transfer, ENDRX -> STARTRX short) was not taken: without interrupts the firmware cannot tell how many
 * bytes have landed, because RXD.AMOUNT is only updated at ENDRX and RXDRDY comes before the byte reaches RAM;
 * counting needs a TIMER in counter mode fed by PPI, and Renode's model has no SHORTS. The protocol is
 * request/response, so polling keeps up.
 *
 * NOT RUN ON HARDWARE: compiled for the nRF52840 and register offsets checked against the product
 * specification (tests/firmware/test_nrf_uarte.py); see docs/FIRMWARE.md. */
#include "board.h"
#include "tm_hal.h"

#define REG(off) (*(volatile uint32_t *)(TM_UART_BASE + (off)))
#define TASKS_STARTRX REG(0x000u)
#define TASKS_STARTTX REG(0x008u)
#define EVENTS_ENDRX REG(0x110u)
#define EVENTS_ENDTX REG(0x120u)
#define EVENTS_ERROR REG(0x124u)
#define ERRORSRC REG(0x480u)
#define ENABLE REG(0x500u)
#define PSEL_TXD REG(0x50Cu)
#define PSEL_RXD REG(0x514u)
#define BAUDRATE REG(0x524u)
#define RXD_PTR REG(0x534u)
#define RXD_MAXCNT REG(0x538u)
#define TXD_PTR REG(0x544u)
#define TXD_MAXCNT REG(0x548u)
#define CONFIG REG(0x56Cu)
#define ENABLE_UARTE 8u
#define TX_WAIT_LIMIT 100000u  /* polls: far beyond one byte time (87 us at 115200 baud, 5,600 cycles at 64 MHz) */

static uint8_t tx_buf[1];
static uint8_t rx_dma[1];
static int tx_started;

void tm_uart_init(void) {
  ENABLE = 0u;
  PSEL_TXD = TM_UART_TX_PIN;  /* PIN in bits 4:0, PORT bit 5 = 0 (P0), CONNECT bit 31 = 0 */
  PSEL_RXD = TM_UART_RX_PIN;
  BAUDRATE = TM_UART_DIVISOR;
  CONFIG = 0u;                /* no flow control, no parity, one stop bit */
  ENABLE = ENABLE_UARTE;
  EVENTS_ENDRX = 0u;
  RXD_PTR = (uint32_t)(uintptr_t)rx_dma;
  RXD_MAXCNT = 1u;
  TASKS_STARTRX = 1u;
}

void tm_hal_putc(uint8_t c) {
  if (tx_started) {
    for (uint32_t n = 0; !EVENTS_ENDTX && n < TX_WAIT_LIMIT; n++) {
    }
  }
  EVENTS_ENDTX = 0u;
  tx_buf[0] = c;
  TXD_PTR = (uint32_t)(uintptr_t)tx_buf;
  TXD_MAXCNT = 1u;
  TASKS_STARTTX = 1u;
  tx_started = 1;
}

int tm_hal_getc(void) {
  if (EVENTS_ERROR) {             /* overrun or framing error: clear it; the protocol's CRC and NAK recover */
    EVENTS_ERROR = 0u;
    ERRORSRC = ERRORSRC;          /* write 1 to clear the bits read */
  }
  if (!EVENTS_ENDRX) {
    return -1;
  }
  EVENTS_ENDRX = 0u;              /* before STARTRX: a byte already waiting may end the next transfer at once */
  int byte = rx_dma[0];           /* before STARTRX: the next transfer overwrites it */
  TASKS_STARTRX = 1u;
  return byte;
}
