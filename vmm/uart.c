/* uart.c - the 16550A at COM1; see uart.h. */
#include "vmm/uart.h"

enum {
	REG_DATA = 0, /* RBR (read), THR (write); DLL with LCR.DLAB */
	REG_IER = 1,  /* DLM with LCR.DLAB */
	REG_IIR = 2,  /* IIR (read), FCR (write) */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define LCR_DLAB    0x80
#define MCR_LOOP    0x10
#define LSR_DR      0x01 /* a received byte is waiting */
#define LSR_THRE    0x20 /* the transmit holding register is empty */
#define LSR_TEMT    0x40 /* and so is the transmitter */
#define MCR_RTS     0x02
#define MCR_OUT2    0x08 /* on PCs: the interrupt line to the PIC */
#define IER_RX      0x01
#define IER_THRE    0x02
#define IIR_NONE    0x01 /* no interrupt pending */
#define IIR_THRE    0x02
#define IIR_RX      0x04
#define IIR_FIFO    0xc0 /* FIFOs enabled (a 16550A) */
#define FCR_ENABLE  0x01

void uart_reset(struct uart *u)
{
	*u = (struct uart){ .dll = 12 };
}

bool uart_rx_push(struct uart *u, uint8_t v)
{
	if (u->rx_len == UART_FIFO)
		return false;
	u->rx[(u->rx_head + u->rx_len++) % UART_FIFO] = v;
	return true;
}

static uint8_t rx_pop(struct uart *u)
{
	uint8_t v;

	if (!u->rx_len)
		return 0;
	v = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO;
	u->rx_len--;
	return v;
}

/* The pending interrupt of the highest priority, as the IIR says it. */
static uint8_t pending(const struct uart *u)
{
	if ((u->ier & IER_RX) && u->rx_len)
		return IIR_RX;
	if ((u->ier & IER_THRE) && u->thre_irq)
		return IIR_THRE;
	return IIR_NONE;
}

bool uart_rx_open(const struct uart *u)
{
	return (u->mcr & MCR_RTS) && !(u->mcr & MCR_LOOP) && u->listening;
}

bool uart_irq(const struct uart *u)
{
	return (u->mcr & MCR_OUT2) && pending(u) != IIR_NONE;
}

uint8_t uart_read(struct uart *u, unsigned off)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (off & 7) {
	case REG_DATA:
		if (dlab)
			return u->dll;
		return rx_pop(u);
	case REG_IER:
		return dlab ? u->dlm : u->ier;
	case REG_IIR:
		v = pending(u);
		if (v == IIR_THRE) /* reading the IIR that names it ends it */
			u->thre_irq = false;
		return v | (u->fcr & FCR_ENABLE ? IIR_FIFO : 0);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		u->listening = true;
		return LSR_THRE | LSR_TEMT | (u->rx_len ? LSR_DR : 0);
	case REG_MSR:
		if (u->mcr & MCR_LOOP) /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			return (uint8_t)(((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) |
					 ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4));
		return 0xb0; /* DCD, DSR, CTS: a terminal is there */
	default:
		return u->scr;
	}
}

bool uart_write(struct uart *u, unsigned off, uint8_t v, uint8_t *tx)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (off & 7) {
	case REG_DATA:
		if (dlab) {
			u->dll = v;
			return false;
		}
		u->thre_irq = true; /* sent at once: the holding register is empty again */
		if (u->mcr & MCR_LOOP) {
			uart_rx_push(u, v);
			return false;
		}
		*tx = v;
		return true;
	case REG_IER:
		if (dlab) {
			u->dlm = v;
			return false;
		}
		if ((v & IER_THRE) && !(u->ier & IER_THRE))
			u->thre_irq = true; /* enabling it with the register empty raises it */
		if (v & IER_RX)
			u->listening = true;
		u->ier = v & 0x0f;
		return false;
	case REG_IIR:
		if (v & 0x02) /* clear the receive FIFO */
			u->rx_len = 0;
		u->fcr = v & ~0x06;
		return false;
	case REG_LCR:
		u->lcr = v;
		return false;
	case REG_MCR:
		u->mcr = v & 0x1f;
		return false;
	case REG_LSR:
	case REG_MSR:
		return false; /* read-only (factory test) */
	default:
		u->scr = v;
		return false;
	}
}
