/* unit_uart: the 16550A at COM1 (vmm/uart.c) as serial console drivers
 * drive it: the init sequence with its loopback check, transmit, the line
 * status, the divisor latch and the FIFO probe. */
#include "tests/test.h"
#include "vmm/uart.h"

static struct uart u;

/* The sequence most hobby kernels copy (OSDev's init_serial): returns
 * what it returns, 0 for a working UART. */
static int init_serial(void)
{
	uint8_t tx;

	uart_write(&u, 1, 0x00, &tx); /* interrupts off */
	uart_write(&u, 3, 0x80, &tx); /* DLAB */
	uart_write(&u, 0, 0x03, &tx); /* divisor 3: 38400 baud */
	uart_write(&u, 1, 0x00, &tx);
	uart_write(&u, 3, 0x03, &tx); /* 8N1 */
	uart_write(&u, 2, 0xc7, &tx); /* FIFOs on, cleared, 14-byte threshold */
	uart_write(&u, 4, 0x0b, &tx); /* IRQs enabled, RTS/DSR set */
	uart_write(&u, 4, 0x1e, &tx); /* loopback */
	if (uart_write(&u, 0, 0xae, &tx))
		return 2; /* loopback must not transmit */
	if (uart_read(&u, 0) != 0xae)
		return 1;
	uart_write(&u, 4, 0x0f, &tx); /* normal operation */
	return 0;
}

static void test_init_sequence_passes(void)
{
	uart_reset(&u);
	TEST_ASSERT_EQ(init_serial(), 0);
	TEST_ASSERT_EQ(uart_read(&u, 4), 0x0f);
	TEST_ASSERT_EQ(uart_read(&u, 3), 0x03);
}

static void test_transmit_and_line_status(void)
{
	uint8_t tx = 0;

	uart_reset(&u);
	TEST_ASSERT(init_serial() == 0);
	TEST_ASSERT(uart_read(&u, 5) & 0x20); /* THRE: ready */
	TEST_ASSERT(uart_write(&u, 0, 'A', &tx));
	TEST_ASSERT_EQ(tx, 'A');
	TEST_ASSERT_EQ(uart_read(&u, 5), 0x60); /* empty again, nothing received */
	TEST_ASSERT_EQ(uart_read(&u, 0), 0);
}

static void test_divisor_latch_and_scratch(void)
{
	uint8_t tx;

	uart_reset(&u);
	TEST_ASSERT_EQ(uart_read(&u, 3), 0);
	uart_write(&u, 3, 0x83, &tx);
	TEST_ASSERT_EQ(uart_read(&u, 0), 12); /* the power-on divisor */
	uart_write(&u, 0, 0x01, &tx);
	uart_write(&u, 1, 0x02, &tx);
	TEST_ASSERT_EQ(uart_read(&u, 0), 0x01);
	TEST_ASSERT_EQ(uart_read(&u, 1), 0x02);
	TEST_ASSERT(!uart_write(&u, 0, 'x', &tx)); /* DLL, not a transmit */
	uart_write(&u, 3, 0x03, &tx);
	TEST_ASSERT_EQ(uart_read(&u, 1), 0); /* IER again */
	uart_write(&u, 7, 0x5a, &tx);
	TEST_ASSERT_EQ(uart_read(&u, 7), 0x5a);
}

static void test_fifo_probe_says_16550a(void)
{
	uint8_t tx;

	uart_reset(&u);
	TEST_ASSERT_EQ(uart_read(&u, 2), 0x01); /* no interrupt, no FIFO */
	uart_write(&u, 2, 0xe7, &tx);
	TEST_ASSERT_EQ(uart_read(&u, 2) & 0xc0, 0xc0);
	TEST_ASSERT_EQ(uart_read(&u, 2) & 0x0f, 0x01);
}

static void test_modem_status_in_loopback(void)
{
	uint8_t tx;

	uart_reset(&u);
	TEST_ASSERT_EQ(uart_read(&u, 6), 0xb0);
	uart_write(&u, 4, 0x10 | 0x01, &tx); /* loopback, DTR */
	TEST_ASSERT_EQ(uart_read(&u, 6), 0x20); /* DSR */
	uart_write(&u, 4, 0x10 | 0x02 | 0x08, &tx); /* RTS, OUT2 */
	TEST_ASSERT_EQ(uart_read(&u, 6), 0x10 | 0x80); /* CTS, DCD */
	uart_write(&u, 5, 0xff, &tx); /* the LSR is read-only */
	TEST_ASSERT_EQ(uart_read(&u, 5), 0x60);
}

/* Bytes from the host: the line status says data is ready, reads take
 * them in order, a full FIFO refuses more, FCR bit 1 clears it. */
static void test_receive_fifo(void)
{
	uart_reset(&u);
	TEST_ASSERT_EQ(init_serial(), 0);
	TEST_ASSERT_EQ(uart_read(&u, 5) & 1, 0);
	TEST_ASSERT(uart_rx_push(&u, 'h'));
	TEST_ASSERT(uart_rx_push(&u, 'i'));
	TEST_ASSERT_EQ(uart_read(&u, 5) & 1, 1);
	TEST_ASSERT_EQ(uart_read(&u, 0), 'h');
	TEST_ASSERT_EQ(uart_read(&u, 0), 'i');
	TEST_ASSERT_EQ(uart_read(&u, 5) & 1, 0);
	for (int i = 0; i < UART_FIFO; i++)
		TEST_ASSERT(uart_rx_push(&u, (uint8_t)i));
	TEST_ASSERT(!uart_rx_push(&u, 0xff));
	TEST_ASSERT_EQ(uart_read(&u, 0), 0);
	TEST_ASSERT(uart_rx_push(&u, 0xff)); /* room again */
	uart_write(&u, 2, 0x03, &(uint8_t){ 0 }); /* FIFO on, receive FIFO cleared */
	TEST_ASSERT_EQ(uart_read(&u, 5) & 1, 0);
}

/* The outside sends only once the driver is past its start: RTS up, out of
 * loopback, listening (the line status read, or the receive interrupt on). */
static void test_flow_control(void)
{
	uint8_t tx;

	uart_reset(&u);
	TEST_ASSERT(!uart_rx_open(&u));
	TEST_ASSERT_EQ(init_serial(), 0); /* ends with MCR 0x0f */
	TEST_ASSERT(!uart_rx_open(&u));   /* nobody looked at the line status yet */
	uart_read(&u, 5);
	TEST_ASSERT(uart_rx_open(&u));
	uart_write(&u, 4, 0x1e, &tx);     /* loopback */
	TEST_ASSERT(!uart_rx_open(&u));
	uart_write(&u, 4, 0x01, &tx);     /* RTS down */
	TEST_ASSERT(!uart_rx_open(&u));
	uart_reset(&u);
	uart_write(&u, 4, 0x0b, &tx);
	uart_write(&u, 1, 0x01, &tx);     /* receive interrupt on: listening */
	TEST_ASSERT(uart_rx_open(&u));
}

/* Interrupts: received data before transmitter empty, each named by the
 * IIR, the THRE one ended by reading the IIR or by the next byte sent, and
 * the line to the PIC only with OUT2. */
static void test_interrupts(void)
{
	uint8_t tx;

	uart_reset(&u);
	TEST_ASSERT_EQ(init_serial(), 0); /* MCR 0x0f: OUT2 on */
	TEST_ASSERT(!uart_irq(&u));
	uart_write(&u, 1, 0x01, &tx);     /* received-data interrupt */
	TEST_ASSERT(!uart_irq(&u));
	uart_rx_push(&u, 'x');
	TEST_ASSERT(uart_irq(&u));
	TEST_ASSERT_EQ(uart_read(&u, 2) & 0x0f, 0x04);
	uart_read(&u, 0);
	TEST_ASSERT(!uart_irq(&u));
	TEST_ASSERT_EQ(uart_read(&u, 2) & 0x0f, 0x01);
	uart_write(&u, 1, 0x03, &tx);     /* and transmitter empty: raised at once */
	TEST_ASSERT(uart_irq(&u));
	uart_rx_push(&u, 'y');
	TEST_ASSERT_EQ(uart_read(&u, 2) & 0x0f, 0x04); /* received data first */
	uart_read(&u, 0);
	TEST_ASSERT_EQ(uart_read(&u, 2) & 0x0f, 0x02);
	TEST_ASSERT(!uart_irq(&u));       /* read: ended */
	TEST_ASSERT(uart_write(&u, 0, 'z', &tx));
	TEST_ASSERT(uart_irq(&u));        /* sent: empty again */
	uart_write(&u, 4, 0x07, &tx);     /* OUT2 off: the PIC sees nothing */
	TEST_ASSERT(!uart_irq(&u));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_init_sequence_passes);
	RUN_TEST(test_transmit_and_line_status);
	RUN_TEST(test_divisor_latch_and_scratch);
	RUN_TEST(test_fifo_probe_says_16550a);
	RUN_TEST(test_modem_status_in_loopback);
	RUN_TEST(test_receive_fifo);
	RUN_TEST(test_flow_control);
	RUN_TEST(test_interrupts);
	TEST_MAIN_END();
}
