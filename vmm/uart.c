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
#define IIR_NONE    0x01 /* no interrupt pending */
#define IIR_FIFO    0xc0 /* FIFOs enabled (a 16550A) */
#define FCR_ENABLE  0x01

void uart_reset(struct uart *u)
{
	*u = (struct uart){ .dll = 12 };
}

uint8_t uart_read(struct uart *u, unsigned off)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (off & 7) {
	case REG_DATA:
		if (dlab)
			return u->dll;
		v = u->rbr_full ? u->rbr : 0;
		u->rbr_full = false;
		return v;
	case REG_IER:
		return dlab ? u->dlm : u->ier;
	case REG_IIR:
		return IIR_NONE | (u->fcr & FCR_ENABLE ? IIR_FIFO : 0);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		return LSR_THRE | LSR_TEMT | (u->rbr_full ? LSR_DR : 0);
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
		if (u->mcr & MCR_LOOP) {
			u->rbr = v;
			u->rbr_full = true;
			return false;
		}
		*tx = v;
		return true;
	case REG_IER:
		if (dlab)
			u->dlm = v;
		else
			u->ier = v & 0x0f;
		return false;
	case REG_IIR:
		u->fcr = v & ~0x06; /* the reset bits clear FIFOs, that are always empty */
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
