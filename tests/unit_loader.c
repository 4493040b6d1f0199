/* unit_loader: the ELF loader's segment map (vm_elf_paddr), which places a
 * breakpoint on an address the guest has not mapped yet: hand-built ELF
 * images loaded into a RAM array, no KVM. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/vm.h"

#define RAM_SIZE (4ULL << 20)

static struct vm vm;
static char path[64];

struct phdr { uint64_t vaddr, paddr, filesz, memsz; uint32_t type; };

/* Write a 64-bit ELF with these program headers (file bytes 0xAB) and load
 * it into a fresh RAM image; returns vm_load_image's result. */
static int load64(const struct phdr *ph, int n)
{
	static uint8_t img[0x4000];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *p = (Elf64_Phdr *)(img + sizeof(*eh));
	char err[256];
	FILE *f;
	int fd, r;

	memset(img, 0, sizeof(img));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = EM_X86_64;
	eh->e_entry = ph[0].vaddr;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*p);
	eh->e_phnum = n;
	for (int i = 0; i < n; i++) {
		p[i] = (Elf64_Phdr){ .p_type = ph[i].type, .p_offset = 0x1000, .p_vaddr = ph[i].vaddr,
				     .p_paddr = ph[i].paddr, .p_filesz = ph[i].filesz,
				     .p_memsz = ph[i].memsz };
	}
	memset(img + 0x1000, 0xab, sizeof(img) - 0x1000);
	snprintf(path, sizeof(path), "/tmp/unit_loader.XXXXXX");
	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0);
	f = fdopen(fd, "w");
	TEST_ASSERT(f != NULL);
	TEST_ASSERT(fwrite(img, 1, sizeof(img), f) == sizeof(img));
	fclose(f);

	free(vm.ram);
	memset(&vm, 0, sizeof(vm));
	vm.mode = MODE_LONG;
	vm.ram_size = RAM_SIZE;
	vm.ram = calloc(1, RAM_SIZE);
	TEST_ASSERT(vm.ram != NULL);
	r = vm_load_image(&vm, path, 0, err, sizeof(err));
	unlink(path);
	return r;
}

static uint64_t paddr_of(uint64_t va)
{
	uint64_t gpa = 0;

	TEST_ASSERT(vm_elf_paddr(&vm, va, &gpa) == 0, "0x%llx is in no segment",
		    (unsigned long long)va);
	return gpa;
}

/* kernel64's layout: .boot linked where it is loaded, the rest in the
 * higher half with AT() giving the physical address. */
static void test_higher_half_segment_maps_to_its_paddr(void)
{
	const struct phdr ph[] = {
		{ 0x100000, 0x100000, 0x1000, 0x1000, PT_LOAD },
		{ 0xffffffff80001000ULL, 0x101000, 0x96a, 0x96a, PT_LOAD },
		{ 0xffffffff80003000ULL, 0x103000, 0x1008, 0x1c000, PT_LOAD },
	};

	TEST_ASSERT_EQ(load64(ph, 3), 0);
	TEST_ASSERT_EQ(vm.nsegs, 3);
	TEST_ASSERT_EQ(vm.elf_machine, EM_X86_64); /* what gdb may load it as */
	TEST_ASSERT_EQ(paddr_of(0x100000), 0x100000);
	TEST_ASSERT_EQ(paddr_of(0x100fff), 0x100fff);
	TEST_ASSERT_EQ(paddr_of(0xffffffff80001000ULL), 0x101000);
	TEST_ASSERT_EQ(paddr_of(0xffffffff80001969ULL), 0x101969);
	/* past filesz but inside memsz: .bss is loaded (zeroed) too */
	TEST_ASSERT_EQ(paddr_of(0xffffffff8001efffULL), 0x11efff);
	TEST_ASSERT_EQ(vm.ram[0x101969], 0xab);
}

static void test_address_outside_every_segment_is_efault(void)
{
	const struct phdr ph[] = {
		{ 0x100000, 0x100000, 0x1000, 0x1000, PT_LOAD },
		{ 0xffffffff80001000ULL, 0x101000, 0x96a, 0x96a, PT_LOAD },
	};
	uint64_t gpa = 42;

	TEST_ASSERT_EQ(load64(ph, 2), 0);
	/* the byte after each segment's memsz, the hole between them, below */
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0x101000, &gpa), -EFAULT);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0xffffffff8000196aULL, &gpa), -EFAULT);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0xffffffff80000fffULL, &gpa), -EFAULT);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0xfffff, &gpa), -EFAULT);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, UINT64_MAX, &gpa), -EFAULT);
	TEST_ASSERT_EQ(gpa, 42);
}

static void test_only_pt_load_segments_count(void)
{
	const struct phdr ph[] = {
		{ 0x200000, 0x200000, 0x100, 0x100, PT_NOTE },
		{ 0x300000, 0x300000, 0x100, 0, PT_LOAD }, /* empty: nothing loaded */
		{ 0x100000, 0x100000, 0x100, 0x100, PT_LOAD },
	};
	uint64_t gpa;

	TEST_ASSERT_EQ(load64(ph, 3), 0);
	TEST_ASSERT_EQ(vm.nsegs, 1);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0x200000, &gpa), -EFAULT);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0x300000, &gpa), -EFAULT);
	TEST_ASSERT_EQ(paddr_of(0x1000ff), 0x1000ff);
}

/* A virtual range that would wrap past 2^64 maps nothing (it is still
 * loaded: the guest may map it as it likes). */
static void test_wrapping_segment_maps_nothing(void)
{
	const struct phdr ph[] = {
		{ 0xfffffffffffff000ULL, 0x100000, 0x2000, 0x2000, PT_LOAD },
	};
	uint64_t gpa;

	TEST_ASSERT_EQ(load64(ph, 1), 0);
	TEST_ASSERT_EQ(vm.nsegs, 0);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0xfffffffffffff000ULL, &gpa), -EFAULT);
	TEST_ASSERT_EQ(vm.ram[0x101fff], 0xab);
}

/* A flat image: no segment map, every address is -EFAULT. */
static void test_flat_image_has_no_segments(void)
{
	char err[256];
	uint64_t gpa;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/unit_loader.XXXXXX");
	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0);
	f = fdopen(fd, "w");
	TEST_ASSERT(f != NULL);
	fputs("\xf4 flat", f);
	fclose(f);
	free(vm.ram);
	memset(&vm, 0, sizeof(vm));
	vm.mode = MODE_LONG;
	vm.ram_size = RAM_SIZE;
	vm.ram = calloc(1, RAM_SIZE);
	TEST_ASSERT(vm.ram != NULL);
	TEST_ASSERT_EQ(vm_load_image(&vm, path, 0x100000, err, sizeof(err)), 0);
	unlink(path);
	TEST_ASSERT_EQ(vm.ram[0x100000], 0xf4);
	TEST_ASSERT_EQ(vm.nsegs, 0);
	TEST_ASSERT_EQ(vm.elf_machine, 0);
	TEST_ASSERT_EQ(vm_elf_paddr(&vm, 0x100000, &gpa), -EFAULT);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_higher_half_segment_maps_to_its_paddr);
	RUN_TEST(test_address_outside_every_segment_is_efault);
	RUN_TEST(test_only_pt_load_segments_count);
	RUN_TEST(test_wrapping_segment_maps_nothing);
	RUN_TEST(test_flat_image_has_no_segments);
	free(vm.ram);
	TEST_MAIN_END();
}
