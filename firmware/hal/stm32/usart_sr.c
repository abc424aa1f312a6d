/* STM32 USART, F1/F2/F4 register layout: SR (TXE bit 7, RXNE bit 5), DR, BRR, CR1. */
#include "board.h"
#include "tm_hal.h"

typedef struct {
  volatile uint32_t sr, dr, brr, cr1, cr2, cr3;
} stm32_usart;
#define UART ((stm32_usart *)TM_UART_BASE)

void tm_uart_init(void) {
  UART->cr1 = 0u;
  UART->brr = TM_UART_DIVISOR;                 /* f_uart / baud, 16x oversampling */
  UART->cr1 = (1u << 13) | (1u << 3) | (1u << 2);  /* UE | TE | RE */
}

void tm_hal_putc(uint8_t c) {
  while (!(UART->sr & (1u << 7))) {
  }
  UART->dr = c;
}

int tm_hal_getc(void) {
  uint32_t sr = UART->sr;
  if (sr & (1u << 3)) {          /* ORE: a byte was lost; reading DR clears it, the protocol will NAK */
    (void)UART->dr;
    return -1;
  }
  return (sr & (1u << 5)) ? (int)(UART->dr & 0xFFu) : -1;
}
