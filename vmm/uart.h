/* uart.h - a 16550A UART at COM1 (0x3F8-0x3FF), enough for the serial
 * console drivers of hobby kernels: what the guest transmits is handed to
 * the caller (the vmm writes it where port 0xE9 output goes); the line
 * status register always says the transmitter is empty; the divisor latch,
 * LCR, MCR, scratch, FIFO control and interrupt enable registers keep what
 * is written; loopback mode (MCR bit 4) turns a transmitted byte into a
 * received one, as the usual "is there a UART" check expects.  Received
 * bytes (from the host: uart_rx_push) wait in a 16-byte FIFO; interrupts:
 * received data (IER bit 0) and transmitter empty (IER bit 1), the IIR
 * naming the one pending, the line to the interrupt controller gated by
 * MCR's OUT2 as PCs wire it.
 * Pure: no KVM, no locks (the caller serialises). */
#ifndef VMM_UART_H
#define VMM_UART_H

#include <stdbool.h>
#include <stdint.h>

#define UART_COM1 0x3f8
#define UART_PORTS 8
#define UART_IRQ 4      /* COM1's ISA interrupt */
#define UART_FIFO 16

struct uart {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	uint8_t rx[UART_FIFO]; /* received, oldest at rx_head */
	unsigned rx_head, rx_len;
	bool thre_irq;    /* the transmitter-empty interrupt is pending */
	bool listening;   /* the guest read the line status or enabled the receive interrupt */
};

/* Power-on state: 9600 baud divisor (12), 8N1 not set, everything else 0. */
void uart_reset(struct uart *u);

/* A byte read from port base+off (off 0..7). */
uint8_t uart_read(struct uart *u, unsigned off);

/* A byte written to base+off.  Returns true, with the byte in *tx, when it
 * is a byte the UART transmits to the outside (not in loopback mode). */
bool uart_write(struct uart *u, unsigned off, uint8_t v, uint8_t *tx);

/* A byte from the outside: false (and nothing taken) while the FIFO is
 * full. */
bool uart_rx_push(struct uart *u, uint8_t v);

/* May the outside send now?  As a terminal with RTS/CTS flow control, once
 * the driver is past its start: RTS raised, not in loopback (a driver's
 * "is there a UART" check must get its own byte back), and the guest has
 * read the line status or enabled the receive interrupt (it listens).
 * Otherwise bytes typed early would be cleared by the driver's FIFO reset
 * or read by its loopback check. */
bool uart_rx_open(const struct uart *u);

/* The level of the UART's interrupt line as the PC sees it (OUT2 set and
 * an enabled interrupt pending). */
bool uart_irq(const struct uart *u);

#endif
