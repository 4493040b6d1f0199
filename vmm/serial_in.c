/* serial_in.c - the host's standard input to COM1: a serial console the
 * user can type into.  A thread, started at the guest's first access to
 * COM1, reads stdin and hands each byte to the UART's receive FIFO, waiting
 * while the FIFO is full (as a terminal's flow control would), and raises
 * COM1's interrupt line when the guest asked for it.  At end of input the
 * thread ends; vm_destroy cancels it where it blocks in read().  Bytes
 * wait, as behind RTS/CTS flow control, until the driver is past its start
 * (uart_rx_open). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "vmm/pc.h"
#include "vmm/vm.h"

#define FULL_WAIT_US 1000 /* a full or closed FIFO is looked at again after this */

static void *reader(void *arg)
{
	struct vm *vm = arg;
	uint8_t buf[256];

	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL; /* end of input, or none to read */
		for (ssize_t i = 0; i < n; i++) {
			pthread_mutex_lock(&vm->out_lock);
			while (!uart_rx_open(&vm->com1) || !uart_rx_push(&vm->com1, buf[i])) {
				pthread_mutex_unlock(&vm->out_lock);
				usleep(FULL_WAIT_US);
				pthread_mutex_lock(&vm->out_lock);
			}
			pc_set_irq(vm, -1, UART_IRQ, uart_irq(&vm->com1));
			pthread_mutex_unlock(&vm->out_lock);
		}
	}
}

void serial_in_start_locked(struct vm *vm)
{
	sigset_t all, old;

	if (vm->serial_in_tried)
		return;
	vm->serial_in_tried = true;
	/* the vCPUs' kick signal is theirs */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	vm->serial_in_started = pthread_create(&vm->serial_in, NULL, reader, vm) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void serial_in_stop(struct vm *vm)
{
	bool started;

	pthread_mutex_lock(&vm->out_lock);
	started = vm->serial_in_started;
	vm->serial_in_started = false;
	pthread_mutex_unlock(&vm->out_lock);
	if (!started)
		return;
	pthread_cancel(vm->serial_in);
	pthread_join(vm->serial_in, NULL);
}
