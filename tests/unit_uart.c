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

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_init_sequence_passes);
	RUN_TEST(test_transmit_and_line_status);
	RUN_TEST(test_divisor_latch_and_scratch);
	RUN_TEST(test_fifo_probe_says_16550a);
	RUN_TEST(test_modem_status_in_loopback);
	TEST_MAIN_END();
}
