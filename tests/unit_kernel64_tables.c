/* unit_kernel64_tables: kernel64's own page tables, checked independently of
 * the guest's code.  Run kernel64 to its end under KVM, then walk its tables
 * in the guest's memory image with the vmm's walker and compare with the
 * physical addresses its symbols imply; cross-check with KVM_TRANSLATE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/vm.h"

#define KOFF 0xffffffff7ff00000ULL /* kernel64: virtual = physical + KOFF */

static struct vm vm;
static struct mmu_regs mr;
static char elf[512];

/* A symbol's address, from nm. */
static uint64_t sym(const char *name)
{
	char cmd[700], line[256];
	uint64_t v = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm '%s'", elf);
	p = popen(cmd, "r");
	TEST_ASSERT(p != NULL);
	while (fgets(line, sizeof(line), p)) {
		char n[128], t;
		unsigned long long a;

		if (sscanf(line, "%llx %c %127s", &a, &t, n) == 3 && !strcmp(n, name))
			v = a;
	}
	pclose(p);
	TEST_ASSERT(v != 0, "symbol %s not found in %s", name, elf);
	return v;
}

static struct mmu_walk walk(uint64_t va)
{
	struct mmu_walk w;

	memset(&w, 0, sizeof(w));
	if (mmu_translate(&vm.mram, &mr, va, &w))
		w.gpa = UINT64_MAX;
	return w;
}

static void boot_kernel64(void)
{
	struct vm_config cfg = { .mode = MODE_LONG, .mem_size = 64 << 20, .ncpus = 1 };
	struct kvm_sregs sr;
	char err[256];
	const char *g = getenv("GUESTS");
	enum vcpu_event ev;

	if (access("/dev/kvm", R_OK | W_OK))
		TEST_SKIP("no usable /dev/kvm on this machine");
	snprintf(elf, sizeof(elf), "%s/kernel64.elf", g ? g : "build/guest");
	TEST_ASSERT(vm_create(&vm, &cfg, err, sizeof(err)) == 0, "%s", err);
	TEST_ASSERT(vm_load_image(&vm, elf, 0, err, sizeof(err)) == 0, "%s", err);
	TEST_ASSERT(vm_setup_cpus(&vm, err, sizeof(err)) == 0, "%s", err);
	ev = vcpu_run(&vm.cpus[0]);
	TEST_ASSERT_EQ(ev, EV_HLT);
	TEST_ASSERT(ioctl(vm.cpus[0].fd, KVM_GET_SREGS, &sr) == 0);
	mr = (struct mmu_regs){ sr.cr0, sr.cr3, sr.cr4, sr.efer };
	TEST_ASSERT_EQ(mr.cr3, sym("pml4") - KOFF);
	TEST_ASSERT_EQ(mmu_mode(&mr), MMU_LONG4);
}

static void test_kernel64_image_is_4k_pages_at_1m(void)
{
	const char *names[] = { "kmain", "banner", "counter", "watched", "pml4" };

	for (unsigned i = 0; i < 5; i++) {
		uint64_t va = sym(names[i]);
		struct mmu_walk w = walk(va);

		TEST_ASSERT_EQ(w.gpa, va - KOFF);
		TEST_ASSERT_EQ(w.page_size, 4096);
		TEST_ASSERT_EQ(w.nsteps, 4);
	}
}

static void test_kernel64_ro_page_is_read_only(void)
{
	struct mmu_walk w = walk(sym("ro_page"));

	TEST_ASSERT_EQ(w.gpa, sym("ro_page") - KOFF);
	TEST_ASSERT_EQ(w.writable, 0);
	TEST_ASSERT_EQ(walk(sym("watched")).writable, 1);
}

static void test_kernel64_stack_guard_is_unmapped(void)
{
	struct mmu_walk w = walk(sym("stack_guard"));

	TEST_ASSERT_EQ(w.fault, MMU_NOT_PRESENT);
	TEST_ASSERT_EQ(w.steps[w.nsteps - 1].level, 1);
	TEST_ASSERT_EQ(walk(sym("kstack")).gpa, sym("kstack") - KOFF);
}

static void test_kernel64_alias_pages_share_a_frame(void)
{
	TEST_ASSERT_EQ(walk(sym("alias_b")).gpa, sym("alias_a") - KOFF);
	TEST_ASSERT(memcmp(vm.ram + (sym("alias_a") - KOFF), "kernel64 alias page", 19) == 0);
}

static void test_kernel64_split_va_crosses_onto_another_frame(void)
{
	uint64_t va = sym("split_va");
	uint8_t buf[8];

	TEST_ASSERT_EQ(walk(va).gpa, sym("split_page_lo") - KOFF);
	TEST_ASSERT_EQ(walk(va + 4096).gpa, sym("split_page_hi") - KOFF);
	TEST_ASSERT(walk(va + 4096).gpa + 4096 != walk(va).gpa + 4096 * 2);
	TEST_ASSERT_EQ(mmu_read(&vm.mram, &mr, va + 4092, buf, 8), 8);
	TEST_ASSERT(!memcmp(buf, "\xa1\xa1\xa1\xa1\xb2\xb2\xb2\xb2", 8));
}

static void test_kernel64_huge_pages(void)
{
	struct mmu_walk w = walk(sym("huge_2m") + 0x400);
	uint32_t v;

	TEST_ASSERT_EQ(w.gpa, 0x400);
	TEST_ASSERT_EQ(w.page_size, 2 << 20);
	TEST_ASSERT_EQ(mmu_read(&vm.mram, &mr, sym("huge_2m") + 0x400, &v, 4), 4);
	TEST_ASSERT_EQ(v, 42); /* path 0 stored it */
	w = walk(0x400);      /* the low identity map: 2 MiB pages too */
	TEST_ASSERT_EQ(w.gpa, 0x400);
	TEST_ASSERT_EQ(w.page_size, 2 << 20);
	w = walk(sym("huge_1g"));
	if (vm.feat.gb_pages) {
		TEST_ASSERT_EQ(w.gpa, 0);
		TEST_ASSERT_EQ(w.page_size, 1ULL << 30);
	} else {
		TEST_ASSERT_EQ(w.fault, MMU_NOT_PRESENT); /* the guest skipped it */
	}
}

/* The walker agrees with KVM's own translation on every address above. */
static void test_kernel64_walker_matches_kvm_translate(void)
{
	const char *names[] = { "kmain", "banner", "ro_page", "alias_a", "alias_b", "split_va",
				"huge_2m", "stack_guard", "pml4" };
	struct kvm_translation tr = { .linear_address = sym("kmain") };

	if (ioctl(vm.cpus[0].fd, KVM_TRANSLATE, &tr) < 0)
		TEST_SKIP("this KVM refuses KVM_TRANSLATE: %s", strerror(errno));
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t va = sym(names[i]);
		struct mmu_walk w = walk(va);

		memset(&tr, 0, sizeof(tr));
		tr.linear_address = va;
		TEST_ASSERT(ioctl(vm.cpus[0].fd, KVM_TRANSLATE, &tr) == 0);
		TEST_ASSERT_EQ(tr.valid, w.fault == MMU_OK);
		if (tr.valid) /* (x86 KVM always says writeable: not compared) */
			TEST_ASSERT_EQ(tr.physical_address, w.gpa);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(boot_kernel64);
	if (test_failed || test_skipped)
		TEST_MAIN_END();
	RUN_TEST(test_kernel64_image_is_4k_pages_at_1m);
	RUN_TEST(test_kernel64_ro_page_is_read_only);
	RUN_TEST(test_kernel64_stack_guard_is_unmapped);
	RUN_TEST(test_kernel64_alias_pages_share_a_frame);
	RUN_TEST(test_kernel64_split_va_crosses_onto_another_frame);
	RUN_TEST(test_kernel64_huge_pages);
	RUN_TEST(test_kernel64_walker_matches_kvm_translate);
	vm_destroy(&vm);
	TEST_MAIN_END();
}
