/* unit_vm: vm.c's error paths against a fake KVM, no /dev/kvm needed.
 *
 * The link wraps open, close, ioctl and vsnprintf (-Wl,--wrap, see the
 * Makefile): open("/dev/kvm") and the KVM ioctls that make fds give memfds
 * the fake knows, and its ioctls answer as KVM would, each of them made to
 * fail on request.  The fake keeps the memory slots as KVM would, so a test
 * can compare them with vm->slots, and it sees every close. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stub/stub.h"
#include "tests/test.h"
#include "vmm/vm.h"

/* Until gdb.c, the one file of the vmm that sees both, holds them together. */
_Static_assert(VM_MAX_CPUS == STUB_MAX_THREADS, "every vCPU is a gdb thread");

int __real_open(const char *path, int flags, ...);         // NOLINT(bugprone-reserved-identifier)
int __real_close(int fd);                                   // NOLINT(bugprone-reserved-identifier)
int __real_ioctl(int fd, unsigned long req, ...);           // NOLINT(bugprone-reserved-identifier)
int __real_vsnprintf(char *s, size_t n, const char *fmt, va_list ap); // NOLINT(bugprone-reserved-identifier)

#define RUN_SIZE (3 * 4096)
#define RAM_SIZE (2ULL << 20)
#define MAX_FDS 16

enum fd_kind { FD_KVM = 1, FD_VM, FD_VCPU };

static struct {
	struct { int fd; enum fd_kind kind; } fds[MAX_FDS]; /* open fake fds */
	int nfds;
	int bad_closes;         /* close() of an fd the fake did not give */
	unsigned long fail_req; /* this request fails... */
	int fail_at;            /* ...at its fail_at-th call from now (1: the next) */
	int fail_errno;         /* with this errno */
	int api_version;
	bool clobber_errno;     /* vsnprintf sets errno, as it may */
	struct kvm_userspace_memory_region slots[VM_MAX_SLOTS];
} F;

static void fake_reset(void)
{
	memset(&F, 0, sizeof(F));
	F.api_version = KVM_API_VERSION;
}

/* Fail the n-th call of request req from now with errno e. */
static void fake_fail(unsigned long req, int n, int e)
{
	F.fail_req = req;
	F.fail_at = n;
	F.fail_errno = e;
}

static int fake_fd(enum fd_kind kind)
{
	int fd = memfd_create("fake-kvm", MFD_CLOEXEC);

	if (fd < 0 || F.nfds == MAX_FDS)
		return -1;
	if (kind == FD_VCPU && ftruncate(fd, RUN_SIZE) < 0)
		return -1;
	F.fds[F.nfds].fd = fd;
	F.fds[F.nfds++].kind = kind;
	return fd;
}

static enum fd_kind fake_kind(int fd)
{
	for (int i = 0; i < F.nfds; i++)
		if (F.fds[i].fd == fd)
			return F.fds[i].kind;
	return 0;
}

static int fake_count(enum fd_kind kind)
{
	int n = 0;

	for (int i = 0; i < F.nfds; i++)
		n += F.fds[i].kind == kind;
	return n;
}

int __wrap_open(const char *path, int flags, ...) // NOLINT(bugprone-reserved-identifier)
{
	va_list ap;
	int mode = 0;

	if (!strcmp(path, "/dev/kvm"))
		return fake_fd(FD_KVM);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	return __real_open(path, flags, mode);
}

int __wrap_close(int fd) // NOLINT(bugprone-reserved-identifier)
{
	for (int i = 0; i < F.nfds; i++)
		if (F.fds[i].fd == fd) {
			F.fds[i] = F.fds[--F.nfds];
			return __real_close(fd);
		}
	F.bad_closes++;
	return __real_close(fd);
}

int __wrap_vsnprintf(char *s, size_t n, const char *fmt, va_list ap) // NOLINT(bugprone-reserved-identifier)
{
	int r = __real_vsnprintf(s, n, fmt, ap);

	if (F.clobber_errno)
		errno = EILSEQ;
	return r;
}

/* KVM_SET_USER_MEMORY_REGION as KVM checks it: a new slot may not overlap
 * another, an empty one cannot be deleted, a slot in use cannot change. */
static int fake_set_slot(const struct kvm_userspace_memory_region *m)
{
	struct kvm_userspace_memory_region *s;

	if (m->slot >= VM_MAX_SLOTS)
		return -EINVAL;
	s = &F.slots[m->slot];
	if (!m->memory_size) {
		if (!s->memory_size)
			return -EINVAL;
		memset(s, 0, sizeof(*s));
		return 0;
	}
	if (s->memory_size)
		return -EEXIST;
	for (int i = 0; i < VM_MAX_SLOTS; i++)
		if (F.slots[i].memory_size && m->guest_phys_addr < F.slots[i].guest_phys_addr + F.slots[i].memory_size &&
		    F.slots[i].guest_phys_addr < m->guest_phys_addr + m->memory_size)
			return -EEXIST;
	*s = *m;
	return 0;
}

static int fake_ioctl(enum fd_kind kind, unsigned long req, void *arg)
{
	if (req == F.fail_req && F.fail_at && --F.fail_at == 0)
		return -F.fail_errno;
	switch (req) {
	case KVM_GET_API_VERSION:
		return F.api_version;
	case KVM_CREATE_VM:
		return kind == FD_KVM ? fake_fd(FD_VM) : -ENOTTY;
	case KVM_GET_VCPU_MMAP_SIZE:
		return RUN_SIZE;
	case KVM_GET_SUPPORTED_CPUID:
		((struct kvm_cpuid2 *)arg)->nent = 1;
		return 0;
	case KVM_CHECK_EXTENSION:
		return 0;
	case KVM_SET_TSS_ADDR:
		return kind == FD_VM ? 0 : -ENOTTY;
	case KVM_SET_USER_MEMORY_REGION:
		return kind == FD_VM ? fake_set_slot(arg) : -ENOTTY;
	case KVM_CREATE_VCPU:
		return kind == FD_VM ? fake_fd(FD_VCPU) : -ENOTTY;
	case KVM_GET_SREGS:
		if (kind != FD_VCPU)
			return -ENOTTY;
		memset(arg, 0, sizeof(struct kvm_sregs));
		return 0;
	case KVM_SET_CPUID2:
	case KVM_SET_SREGS:
	case KVM_SET_REGS:
	case KVM_SET_FPU:
		return kind == FD_VCPU ? 0 : -ENOTTY;
	default:
		return -ENOTTY;
	}
}

int __wrap_ioctl(int fd, unsigned long req, ...) // NOLINT(bugprone-reserved-identifier)
{
	enum fd_kind kind = fake_kind(fd);
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!kind)
		return __real_ioctl(fd, req, arg);
	r = fake_ioctl(kind, req, arg);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

static struct vm vm;
static char err[256];

static int create(int ncpus)
{
	struct vm_config cfg = { .mode = MODE_LONG, .mem_size = RAM_SIZE, .ncpus = ncpus };

	err[0] = 0;
	return vm_create(&vm, &cfg, err, sizeof(err));
}

/* Every fd the fake gave is closed, and nothing else was. */
static void assert_all_closed(void)
{
	TEST_ASSERT(F.nfds == 0, "%d fake fd(s) left open (kind %d first)", F.nfds, F.fds[0].kind);
	TEST_ASSERT(F.bad_closes == 0, "%d close() of an fd KVM never gave", F.bad_closes);
}

/* The fake's slots are vm->slots: slot i is vm->slots[i], the rest empty. */
static void assert_slots_match(void)
{
	for (int i = 0; i < VM_MAX_SLOTS; i++) {
		const struct kvm_userspace_memory_region *k = &F.slots[i];

		if (i >= vm.nslots) {
			TEST_ASSERT(k->memory_size == 0, "KVM has slot %d, vm->slots ends at %d", i, vm.nslots);
			continue;
		}
		TEST_ASSERT_EQ(k->guest_phys_addr, vm.slots[i].gpa);
		TEST_ASSERT_EQ(k->memory_size, vm.slots[i].size);
		TEST_ASSERT_EQ(!!(k->flags & KVM_MEM_READONLY), vm.slots[i].readonly);
		TEST_ASSERT_EQ(k->userspace_addr, (uintptr_t)vm.ram + vm.slots[i].gpa);
	}
}

static void test_create_and_destroy_close_every_fd(void)
{
	fake_reset();
	TEST_ASSERT(create(2) == 0, "%s", err);
	TEST_ASSERT(vm_setup_cpus(&vm, err, sizeof(err)) == 0, "%s", err);
	TEST_ASSERT_EQ(fake_count(FD_VCPU), 2);
	assert_slots_match();
	vm_destroy(&vm);
	assert_all_closed();
}

/* Each ioctl of vm_create failing: its errno comes back, the reason names
 * the ioctl, and nothing stays open. */
static void test_create_fails_naming_the_ioctl(void)
{
	static const struct { unsigned long req; const char *name; } steps[] = {
		{ KVM_GET_API_VERSION, "KVM_GET_API_VERSION" },
		{ KVM_CREATE_VM, "KVM_CREATE_VM" },
		{ KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE" },
		{ KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR" },
		{ KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION" },
		{ KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID" },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fake_reset();
		fake_fail(steps[i].req, 1, EPERM);
		TEST_ASSERT(create(1) == -EPERM, "%s failing: %s", steps[i].name, err);
		TEST_ASSERT(strstr(err, steps[i].name) && strstr(err, strerror(EPERM)),
			    "the reason names %s: \"%s\"", steps[i].name, err);
		assert_all_closed();
	}
}

static void test_create_refuses_another_api_version(void)
{
	fake_reset();
	F.api_version = KVM_API_VERSION + 1;
	TEST_ASSERT_EQ(create(1), -EINVAL);
	TEST_ASSERT(strstr(err, "API version"), "%s", err);
	assert_all_closed();
}

/* A KVM_CREATE_VM interrupted by a signal is tried again. */
static void test_create_vm_retried_after_eintr(void)
{
	fake_reset();
	fake_fail(KVM_CREATE_VM, 1, EINTR);
	TEST_ASSERT(create(1) == 0, "%s", err);
	vm_destroy(&vm);
	assert_all_closed();
}

/* Each ioctl of vCPU setup failing, on the second vCPU: its errno, a reason
 * naming the vCPU and the ioctl, and vm_destroy closes what was made. */
static void test_setup_cpus_fails_naming_the_ioctl(void)
{
	static const struct { unsigned long req; const char *name; int nth; } steps[] = {
		{ KVM_CREATE_VCPU, "KVM_CREATE_VCPU", 2 },
		{ KVM_SET_CPUID2, "KVM_SET_CPUID2", 2 },
		{ KVM_GET_SREGS, "KVM_GET_SREGS", 2 },
		{ KVM_SET_SREGS, "KVM_SET_SREGS", 2 },
		{ KVM_SET_REGS, "KVM_SET_REGS", 2 },
		{ KVM_SET_FPU, "KVM_SET_FPU", 2 },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fake_reset();
		TEST_ASSERT(create(2) == 0, "%s", err);
		fake_fail(steps[i].req, steps[i].nth, EIO);
		TEST_ASSERT(vm_setup_cpus(&vm, err, sizeof(err)) == -EIO, "%s failing: %s", steps[i].name, err);
		TEST_ASSERT(strstr(err, "vCPU 1") && strstr(err, steps[i].name) && strstr(err, strerror(EIO)),
			    "the reason names vCPU 1 and %s: \"%s\"", steps[i].name, err);
		vm_destroy(&vm);
		assert_all_closed();
	}
}

/* seterr() formats with vsnprintf, which may set errno: the error returned
 * after it is the ioctl's, not vsnprintf's. */
static void test_error_is_the_ioctls_not_vsnprintfs(void)
{
	fake_reset();
	TEST_ASSERT(create(1) == 0, "%s", err);
	F.clobber_errno = true;
	fake_fail(KVM_GET_SREGS, 1, EBADF);
	TEST_ASSERT_EQ(vm_setup_cpus(&vm, err, sizeof(err)), -EBADF);
	vm_destroy(&vm);
	fake_reset();
	F.clobber_errno = true;
	fake_fail(KVM_CREATE_VM, 1, EMFILE);
	TEST_ASSERT_EQ(create(1), -EMFILE);
	assert_all_closed();
}

/* fd 0 is a file like any other: a vCPU that KVM gave fd 0 (stdin was
 * closed) is closed by vm_destroy, and no vCPU stands for "none" with it. */
static void test_vcpu_on_fd_0_is_closed(void)
{
	int saved = dup(0);

	TEST_ASSERT(saved >= 0);
	fake_reset();
	TEST_ASSERT(create(1) == 0, "%s", err);
	__real_close(0);
	TEST_ASSERT(vm_setup_cpus(&vm, err, sizeof(err)) == 0, "%s", err);
	TEST_ASSERT_EQ(vm.cpus[0].fd, 0);
	vm_destroy(&vm);
	TEST_ASSERT(dup2(saved, 0) == 0);
	__real_close(saved);
	assert_all_closed();
}

static void test_unused_vcpus_have_no_fd(void)
{
	fake_reset();
	TEST_ASSERT(create(2) == 0, "%s", err);
	for (int i = 0; i < VM_MAX_CPUS; i++)
		TEST_ASSERT(vm.cpus[i].fd == -1, "vCPU %d: fd %d before setup", i, vm.cpus[i].fd);
	fake_fail(KVM_CREATE_VCPU, 2, ENOMEM);
	TEST_ASSERT(vm_setup_cpus(&vm, err, sizeof(err)) == -ENOMEM, "%s", err);
	TEST_ASSERT(vm.cpus[0].fd >= 0);
	for (int i = 1; i < VM_MAX_CPUS; i++)
		TEST_ASSERT(vm.cpus[i].fd == -1, "vCPU %d: fd %d", i, vm.cpus[i].fd);
	vm_destroy(&vm);
	assert_all_closed();
}

static void test_set_readonly_splits_slots(void)
{
	fake_reset();
	TEST_ASSERT(create(1) == 0, "%s", err);
	TEST_ASSERT_EQ(vm_set_readonly(&vm, 0x3000, 0x1000, true), 0);
	TEST_ASSERT_EQ(vm.nslots, 3);
	TEST_ASSERT(vm.slots[1].gpa == 0x3000 && vm.slots[1].size == 0x1000 && vm.slots[1].readonly);
	assert_slots_match();
	TEST_ASSERT_EQ(vm_set_readonly(&vm, 0x3000, 0x1000, false), 0);
	TEST_ASSERT_EQ(vm.nslots, 1);
	assert_slots_match();
	vm_destroy(&vm);
}

/* KVM refusing any one step of vm_set_readonly (deleting an old slot or
 * creating a new one): the error comes back, and KVM's slots and vm->slots
 * are both as before. */
static void test_set_readonly_failing_halfway_changes_nothing(void)
{
	struct memslot before[VM_MAX_SLOTS];
	int nbefore;

	fake_reset();
	TEST_ASSERT(create(1) == 0, "%s", err);
	TEST_ASSERT_EQ(vm_set_readonly(&vm, 0x3000, 0x1000, true), 0);
	memcpy(before, vm.slots, sizeof(before));
	nbefore = vm.nslots;
	/* 3 slots deleted, 5 created: 0-0x3000 0x3000 0x4000 0x5000 0x6000-end */
	for (int k = 1; k <= 8; k++) {
		fake_fail(KVM_SET_USER_MEMORY_REGION, k, ENOSPC);
		TEST_ASSERT(vm_set_readonly(&vm, 0x5000, 0x1000, true) == -ENOSPC, "step %d failing", k);
		TEST_ASSERT_EQ(vm.nslots, nbefore);
		for (int i = 0; i < nbefore; i++)
			TEST_ASSERT(vm.slots[i].gpa == before[i].gpa && vm.slots[i].size == before[i].size &&
				    vm.slots[i].readonly == before[i].readonly,
				    "step %d failing: vm->slots[%d] changed", k, i);
		assert_slots_match();
	}
	TEST_ASSERT_EQ(vm_set_readonly(&vm, 0x5000, 0x1000, true), 0);
	TEST_ASSERT_EQ(vm.nslots, 5);
	assert_slots_match();
	vm_destroy(&vm);
}

static void test_reload_slots_failing_halfway_keeps_the_slots(void)
{
	fake_reset();
	TEST_ASSERT(create(1) == 0, "%s", err);
	TEST_ASSERT_EQ(vm_set_readonly(&vm, 0x3000, 0x1000, true), 0);
	for (int k = 1; k <= 6; k++) {
		fake_fail(KVM_SET_USER_MEMORY_REGION, k, EFAULT);
		TEST_ASSERT(vm_reload_slots(&vm) == -EFAULT, "step %d failing", k);
		TEST_ASSERT_EQ(vm.nslots, 3);
		assert_slots_match();
	}
	TEST_ASSERT_EQ(vm_reload_slots(&vm), 0);
	assert_slots_match();
	vm_destroy(&vm);
}

int main(void)
{
	RUN_TEST(test_create_and_destroy_close_every_fd);
	RUN_TEST(test_create_fails_naming_the_ioctl);
	RUN_TEST(test_create_refuses_another_api_version);
	RUN_TEST(test_create_vm_retried_after_eintr);
	RUN_TEST(test_setup_cpus_fails_naming_the_ioctl);
	RUN_TEST(test_error_is_the_ioctls_not_vsnprintfs);
	RUN_TEST(test_vcpu_on_fd_0_is_closed);
	RUN_TEST(test_unused_vcpus_have_no_fd);
	RUN_TEST(test_set_readonly_splits_slots);
	RUN_TEST(test_set_readonly_failing_halfway_changes_nothing);
	RUN_TEST(test_reload_slots_failing_halfway_keeps_the_slots);
	TEST_MAIN_END();
}
