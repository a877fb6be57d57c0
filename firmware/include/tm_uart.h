/*
 * tm_uart.h - the UART wired to the ST-LINK virtual COM port (board file [uart]): 8N1, polled
 * transmit, receive that sleeps in WFI while nothing has arrived.
 */
#ifndef TM_UART_H
#define TM_UART_H

#include <stddef.h>
#include <stdint.h>

/* Configure pins, clock and baud rate for a UART kernel clock of kernel_hz. */
void tm_uart_init(uint32_t kernel_hz);

void tm_uart_write(const uint8_t *data, size_t len);

/* Next received byte; waits in WFI (woken by the RXNE interrupt's pending state) while the
 * receiver is empty.  Clears overrun/framing/noise errors on the way. */
uint8_t tm_uart_read(void);

/* Non-blocking: 1 and *byte when a byte was waiting, else 0. */
int tm_uart_poll(uint8_t *byte);

/* Non-blocking, for polls between the calls of a run (the ABORT check): looks at the UART
 * interrupt's NVIC pending bit first (RXNE with RXNEIE pends it) and touches the UART only when
 * it is set; then as tm_uart_poll. */
int tm_uart_poll_pending(uint8_t *byte);

#endif /* TM_UART_H */
