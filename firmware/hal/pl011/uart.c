/* Arm PL011 UART (Stellaris LM3S, RP2040): DR, FR (RXFE bit 4, TXFF bit 5), IBRD, FBRD, LCRH, CR. */
#include "board.h"
#include "tm_hal.h"

#define REG(off) (*(volatile uint32_t *)(TM_UART_BASE + (off)))
#define DR REG(0x000u)
#define FR REG(0x018u)
#define IBRD REG(0x024u)
#define FBRD REG(0x028u)
#define LCRH REG(0x02Cu)
#define CR REG(0x030u)

void tm_uart_init(void) {
  CR = 0u;
  IBRD = TM_UART_DIVISOR >> 6;        /* divisor = 64 x f / (16 x baud) */
  FBRD = TM_UART_DIVISOR & 63u;
  LCRH = (3u << 5) | (1u << 4);       /* 8 data bits, FIFOs on */
  CR = (1u << 9) | (1u << 8) | 1u;    /* RXE | TXE | UARTEN */
}

void tm_hal_putc(uint8_t c) {
  while (FR & (1u << 5)) {
  }
  DR = c;
}

int tm_hal_getc(void) { return (FR & (1u << 4)) ? -1 : (int)(DR & 0xFFu); }
