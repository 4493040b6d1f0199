/* unit_gdb_serve.c - gdb_serve's setup failing, no KVM.
 *
 * pthread_create is wrapped (-Wl,--wrap=pthread_create, see the Makefile):
 * it fails the call a test asks for.  A vCPU whose thread cannot start would
 * never run, so gdb_serve must give up, saying so, and end the threads it
 * had started; none of that needs a VM, nor a client.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/gdb.h"

int __real_pthread_create(pthread_t *th, const pthread_attr_t *attr, // NOLINT(bugprone-reserved-identifier)
			  void *(*fn)(void *), void *arg);

static int creates, fail_at; /* fail the fail_at'th call (from 1); 0: none */

int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr, // NOLINT(bugprone-reserved-identifier)
			  void *(*fn)(void *), void *arg)
{
	if (++creates == fail_at)
		return EAGAIN;
	return __real_pthread_create(th, attr, fn, arg);
}

static struct vm vm;
static struct kvm_run runs[3];
static char dir[] = "/tmp/unit_gdb_serve.XXXXXX", sock[64];

/* A VM of n vCPUs that gdb_serve can set up: no KVM behind it (KVM calls
 * fail), which the failures tested here never reach. */
static void vm_fake(int n)
{
	memset(&vm, 0, sizeof(vm));
	memset(runs, 0, sizeof(runs));
	vm.kvm_fd = vm.vm_fd = -1;
	vm.mode = MODE_LONG;
	vm.ncpus = n;
	pthread_mutex_init(&vm.out_lock, NULL);
	for (int i = 0; i < n; i++) {
		vm.cpus[i].vm = &vm;
		vm.cpus[i].index = i;
		vm.cpus[i].fd = -1;
		vm.cpus[i].run = &runs[i];
	}
	creates = 0;
}

static int serve(const char *spec)
{
	struct gdb_config cfg = { .spec = spec, .wait = true, .arch = "auto" };

	return gdb_serve(&vm, &cfg);
}

static void test_a_vcpu_thread_that_cannot_start_fails_the_serve(void)
{
	vm_fake(3);
	fail_at = 2; /* vCPU 1's */
	TEST_ASSERT_EQ(serve(sock), STATUS_KVM);
	TEST_ASSERT_EQ(creates, 2); /* nothing started after it */
	for (int i = 0; i < 3; i++)
		TEST_ASSERT(!vm.cpus[i].thread_started, "vCPU %d's thread not joined", i);
	TEST_ASSERT(!vm.hooks.console);
}

static void test_the_first_vcpu_thread_failing_fails_too(void)
{
	vm_fake(1);
	fail_at = 1;
	TEST_ASSERT_EQ(serve(sock), STATUS_KVM);
	TEST_ASSERT_EQ(creates, 1);
	TEST_ASSERT(!vm.cpus[0].thread_started);
}

static void test_a_spec_that_cannot_listen_is_a_usage_error(void)
{
	vm_fake(2);
	fail_at = 0;
	TEST_ASSERT_EQ(serve("unix:/nonexistent/dir/sock"), STATUS_USAGE);
	TEST_ASSERT_EQ(creates, 0);
	TEST_ASSERT(!vm.hooks.console);
}

int main(void)
{
	alarm(30); /* a serve that goes on to wait for gdb would hang: fail instead */
	if (!mkdtemp(dir)) {
		printf("FAIL setup: mkdtemp\n");
		return 1;
	}
	snprintf(sock, sizeof(sock), "unix:%s/sock", dir);
	RUN_TEST(test_a_vcpu_thread_that_cannot_start_fails_the_serve);
	unlink(sock + 5);
	RUN_TEST(test_the_first_vcpu_thread_failing_fails_too);
	unlink(sock + 5);
	RUN_TEST(test_a_spec_that_cannot_listen_is_a_usage_error);
	unlink(sock + 5);
	rmdir(dir);
	TEST_MAIN_END();
}
