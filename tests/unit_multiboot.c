/* unit_multiboot: Multiboot (version 1) images without KVM (vmm/multiboot.c
 * and the loader): the header search and its refusals, loading by the
 * address fields, and the Multiboot information built in a RAM array. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/multiboot.h"
#include "vmm/vm.h"

#define RAM_SIZE (16ULL << 20)

static struct vm vm;
static uint8_t img[0x4000];
static char err[512];

static void fresh_vm(void)
{
	free(vm.ram);
	memset(&vm, 0, sizeof(vm));
	vm.mode = MODE_LONG;
	vm.ram_size = RAM_SIZE;
	vm.ram = calloc(1, RAM_SIZE);
	TEST_ASSERT(vm.ram != NULL);
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, vm.ram + gpa, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* A header at off with flags (checksum right unless broken), address
 * fields after it when flag 16 is set. */
static void header(size_t off, uint32_t flags, int broken)
{
	memset(img, 0x90, sizeof(img));
	wr32(img + off, MB_HEADER_MAGIC);
	wr32(img + off + 4, flags);
	wr32(img + off + 8, -(MB_HEADER_MAGIC + flags) + (broken ? 1 : 0));
}

static int find(struct mb_header *h, size_t size)
{
	return mb_find(img, size, h, err, sizeof(err));
}

static void test_header_found_aligned_in_first_8k(void)
{
	struct mb_header h;

	header(0x1ffc - 8, 0x3, 0);
	TEST_ASSERT_EQ(find(&h, sizeof(img)), 1);
	TEST_ASSERT_EQ(h.offset, 0x1ffc - 8);
	TEST_ASSERT_EQ(h.flags, 0x3);
	header(0x2000, 0x3, 0); /* past the first 8 KiB: not a Multiboot image */
	TEST_ASSERT_EQ(find(&h, sizeof(img)), 0);
	header(0x102, 0x3, 0); /* not 4-byte aligned */
	TEST_ASSERT_EQ(find(&h, sizeof(img)), 0);
	memset(img, 0, sizeof(img));
	TEST_ASSERT_EQ(find(&h, sizeof(img)), 0);
	TEST_ASSERT_EQ(find(&h, 5), 0); /* shorter than a header */
}

static void test_broken_headers_refused_with_reason(void)
{
	struct mb_header h;

	header(0x40, 0x3, 1);
	TEST_ASSERT_EQ(find(&h, sizeof(img)), -ENOEXEC);
	TEST_ASSERT(strstr(err, "bad checksum") != NULL, "%s", err);
	header(0x40, 0x7, 0);
	TEST_ASSERT_EQ(find(&h, sizeof(img)), -ENOEXEC);
	TEST_ASSERT(strstr(err, "video mode") != NULL, "%s", err);
	header(0x40, 0x3 | 0x100, 0);
	TEST_ASSERT_EQ(find(&h, sizeof(img)), -ENOEXEC);
	TEST_ASSERT(strstr(err, "0x100") != NULL, "%s", err);
	header(0x40, MB_FLAG_ADDRESS, 0); /* its address fields past the end of the file */
	TEST_ASSERT_EQ(find(&h, 0x40 + 20), -ENOEXEC);
	TEST_ASSERT(strstr(err, "past the end") != NULL, "%s", err);
}

/* The image as if linked at 0x100000 with the header at file offset 0x40. */
static struct mb_header aout(uint32_t load_end, uint32_t bss_end)
{
	struct mb_header h;

	header(0x40, MB_FLAG_ADDRESS | 0x3, 0);
	wr32(img + 0x4c, 0x100040);  /* header_addr */
	wr32(img + 0x50, 0x100000);  /* load_addr */
	wr32(img + 0x54, load_end);
	wr32(img + 0x58, bss_end);
	wr32(img + 0x5c, 0x100060);  /* entry */
	TEST_ASSERT_EQ(find(&h, sizeof(img)), 1);
	return h;
}

static void test_address_fields_load_and_bss(void)
{
	struct mb_header h = aout(0x101000, 0x103000);
	uint64_t end = 0;

	fresh_vm();
	memset(vm.ram + 0x101000, 0xee, 0x2000);
	TEST_ASSERT_EQ(mb_load_address_fields(&vm, img, sizeof(img), &h, &end, err, sizeof(err)), 0);
	TEST_ASSERT_EQ(end, 0x103000);
	TEST_ASSERT_EQ(vm.entry, 0x100060);
	TEST_ASSERT_EQ(rd32(0x100040), MB_HEADER_MAGIC);
	TEST_ASSERT_EQ(vm.ram[0x100fff], 0x90);
	TEST_ASSERT_EQ(vm.ram[0x101000], 0); /* bss zeroed */
	TEST_ASSERT_EQ(vm.ram[0x102fff], 0);
	h = aout(0, 0); /* the whole file, no bss */
	TEST_ASSERT_EQ(mb_load_address_fields(&vm, img, sizeof(img), &h, &end, err, sizeof(err)), 0);
	TEST_ASSERT_EQ(end, 0x100000 + sizeof(img));
}

static void test_address_fields_refused(void)
{
	struct mb_header h = aout(0x200000, 0);
	uint64_t end;

	fresh_vm();
	TEST_ASSERT_EQ(mb_load_address_fields(&vm, img, sizeof(img), &h, &end, err, sizeof(err)), -ENOEXEC);
	TEST_ASSERT(strstr(err, "bytes to load") != NULL, "%s", err);
	h = aout(0x101000, 0x100800); /* bss ends before the data */
	TEST_ASSERT_EQ(mb_load_address_fields(&vm, img, sizeof(img), &h, &end, err, sizeof(err)), -ENOEXEC);
	h = aout(0x101000, 0);
	h.load_addr = 0x0fff00; /* load_addr 0x140 before the file's start */
	TEST_ASSERT_EQ(mb_load_address_fields(&vm, img, sizeof(img), &h, &end, err, sizeof(err)), -ENOEXEC);
	h = aout(0x101000, 0);
	h.header_addr = 0x2040, h.load_addr = 0x2000, h.load_end_addr = 0x3000; /* over the vmm's tables */
	TEST_ASSERT(mb_load_address_fields(&vm, img, sizeof(img), &h, &end, err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "overlaps") != NULL, "%s", err);
	h = aout(0x101000, 0xfffff000); /* bss far outside RAM */
	TEST_ASSERT(mb_load_address_fields(&vm, img, sizeof(img), &h, &end, err, sizeof(err)) < 0);
	TEST_ASSERT(strstr(err, "outside guest RAM") != NULL, "%s", err);
}

static char modpath[64];

static void make_module(const char *text)
{
	FILE *f;
	int fd;

	snprintf(modpath, sizeof(modpath), "/tmp/unit_multiboot.XXXXXX");
	fd = mkstemp(modpath);
	TEST_ASSERT(fd >= 0);
	f = fdopen(fd, "w");
	TEST_ASSERT(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void test_information_built(void)
{
	struct mb_boot b = { .cmdline = "root=/dev/x quiet", .nmodules = 2 };
	uint32_t info, mods, map, len;

	make_module("hello module\n");
	b.modules[0] = (struct mb_module){ modpath, "one" };
	b.modules[1] = (struct mb_module){ modpath, "" };
	fresh_vm();
	TEST_ASSERT(mb_build_info(&vm, &b, 0x123456, err, sizeof(err)) == 0, "%s", err);
	unlink(modpath);
	info = vm.mb_info;
	TEST_ASSERT(info >= MB_INFO_ADDR && info < MB_INFO_END);
	TEST_ASSERT_EQ(rd32(info), 0x1 | 0x4 | 0x8 | 0x40 | 0x200);
	TEST_ASSERT_EQ(rd32(info + 4), 639);
	TEST_ASSERT_EQ(rd32(info + 8), (RAM_SIZE - 0x100000) >> 10);
	TEST_ASSERT_STREQ((char *)vm.ram + rd32(info + 16), "root=/dev/x quiet");
	TEST_ASSERT_STREQ((char *)vm.ram + rd32(info + 64), "vmm " VMM_VERSION);
	TEST_ASSERT_EQ(rd32(info + 20), 2);
	mods = rd32(info + 24);
	TEST_ASSERT_EQ(rd32(mods), 0x124000);            /* page-aligned after the kernel */
	TEST_ASSERT_EQ(rd32(mods + 4), 0x124000 + 13);
	TEST_ASSERT(!memcmp(vm.ram + 0x124000, "hello module\n", 13));
	TEST_ASSERT_STREQ((char *)vm.ram + rd32(mods + 8), "one");
	TEST_ASSERT_EQ(rd32(mods + 16), 0x125000);       /* the next page */
	TEST_ASSERT_STREQ((char *)vm.ram + rd32(mods + 16 + 8), "");
	/* the map: RAM, the vmm's area reserved, RAM, the legacy hole, RAM */
	len = rd32(info + 44), map = rd32(info + 48);
	TEST_ASSERT_EQ(len, 5 * 24);
	TEST_ASSERT_EQ(rd32(map), 20);
	TEST_ASSERT_EQ(rd32(map + 24 + 4), 0x1000);       /* base, low half */
	TEST_ASSERT_EQ(rd32(map + 24 + 12), 0xf000);      /* length */
	TEST_ASSERT_EQ(rd32(map + 24 + 20), 2);           /* reserved */
	TEST_ASSERT_EQ(rd32(map + 4 * 24 + 4), 0x100000);
	TEST_ASSERT_EQ(rd32(map + 4 * 24 + 12), RAM_SIZE - 0x100000);
	TEST_ASSERT_EQ(rd32(map + 4 * 24 + 20), 1);
}

static void test_information_refusals(void)
{
	static char huge[40000];
	struct mb_boot b = { .cmdline = huge };

	fresh_vm();
	memset(huge, 'a', sizeof(huge) - 1);
	TEST_ASSERT_EQ(mb_build_info(&vm, &b, 0x200000, err, sizeof(err)), -E2BIG);
	TEST_ASSERT(strstr(err, "does not fit") != NULL, "%s", err);
	b = (struct mb_boot){ .nmodules = 1, .modules = { { "/nonexistent/module", "" } } };
	TEST_ASSERT_EQ(mb_build_info(&vm, &b, 0x200000, err, sizeof(err)), -ENOENT);
	TEST_ASSERT(strstr(err, "cannot open module /nonexistent/module") != NULL, "%s", err);
	make_module("x");
	b.modules[0].path = modpath;
	TEST_ASSERT_EQ(mb_build_info(&vm, &b, RAM_SIZE, err, sizeof(err)), -E2BIG); /* no room after the kernel */
	unlink(modpath);
	b = (struct mb_boot){ 0 };
	vm.nsegs = 1;
	vm.segs[0] = (struct vm_seg){ 0x9000, 0x9000, 0x100 }; /* a kernel over the information */
	TEST_ASSERT_EQ(mb_build_info(&vm, &b, 0x9100, err, sizeof(err)), -EINVAL);
	TEST_ASSERT(strstr(err, "overlaps the Multiboot information") != NULL, "%s", err);
	vm.nsegs = 0;
	vm.ram_size = 1 << 20;
	TEST_ASSERT_EQ(mb_build_info(&vm, &b, 0x9100, err, sizeof(err)), -E2BIG);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_header_found_aligned_in_first_8k);
	RUN_TEST(test_broken_headers_refused_with_reason);
	RUN_TEST(test_address_fields_load_and_bss);
	RUN_TEST(test_address_fields_refused);
	RUN_TEST(test_information_built);
	RUN_TEST(test_information_refusals);
	free(vm.ram);
	TEST_MAIN_END();
}
