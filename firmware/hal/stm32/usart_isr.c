/* STM32 USART and LPUART, F0/F7/L4/L4+/U5 register layout: CR1, BRR, ISR (TXE bit 7, RXNE bit 5), ICR, RDR,
 * TDR. The LPUART has the same layout; only its BRR scale differs (256 x f / baud), computed by tinyml.device.boards. */
#include "board.h"
#include "tm_hal.h"

typedef struct {
  volatile uint32_t cr1, cr2, cr3, brr, gtpr, rtor, rqr, isr, icr, rdr, tdr;
} stm32_usart;
#define UART ((stm32_usart *)TM_UART_BASE)

void tm_uart_init(void) {
  UART->cr1 = 0u;
  UART->brr = TM_UART_DIVISOR;
  UART->cr1 = (1u << 3) | (1u << 2) | 1u;  /* TE | RE | UE */
}

void tm_hal_putc(uint8_t c) {
  while (!(UART->isr & (1u << 7))) {
  }
  UART->tdr = c;
}

int tm_hal_getc(void) {
  uint32_t isr = UART->isr;
  if (isr & (1u << 3)) {          /* ORE: a byte was lost; clear it, the protocol will NAK */
    UART->icr = 1u << 3;
  }
  return (isr & (1u << 5)) ? (int)(UART->rdr & 0xFFu) : -1;
}
