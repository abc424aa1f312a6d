/* Arm CMSDK APB UART (MPS2/MPS3 FPGA images): DATA, STATE (bit 0 TX full, bit 1 RX full), CTRL, BAUDDIV. */
#include "board.h"
#include "tm_hal.h"

typedef struct {
  volatile uint32_t data, state, ctrl, intstatus, bauddiv;
} cmsdk_uart;
#define UART ((cmsdk_uart *)TM_UART_BASE)

void tm_uart_init(void) {
  UART->bauddiv = TM_UART_DIVISOR;   /* PCLK / baud */
  UART->ctrl = 3u;                   /* TX and RX enable, no interrupts */
}

void tm_hal_putc(uint8_t c) {
  while (UART->state & 1u) {
  }
  UART->data = c;
}

int tm_hal_getc(void) { return (UART->state & 2u) ? (int)(UART->data & 0xFFu) : -1; }
