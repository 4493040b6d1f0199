/* unit_acpi: the ACPI tables (vmm/acpi.c) found as a kernel finds them: the
 * RSDP by its signature on a 16-byte boundary in 0xE0000-0xFFFFF, both
 * checksums, the XSDT and the RSDT each leading to one valid MADT that
 * lists every vCPU's local APIC, the I/O APIC and IRQ 0's override. */
#include <errno.h>
#include <stdlib.h>

#include "tests/test.h"
#include "vmm/acpi.h"
#include "vmm/ioapic.h"
#include "vmm/lapic.h"
#include "vmm/vm.h"

static struct vm vm;
static char err[256];

static uint32_t rd32(uint64_t gpa) { uint32_t v; memcpy(&v, vm.ram + gpa, 4); return v; }
static uint64_t rd64(uint64_t gpa) { uint64_t v; memcpy(&v, vm.ram + gpa, 8); return v; }

static uint8_t sum(uint64_t gpa, uint32_t len)
{
	uint8_t s = 0;

	for (uint32_t i = 0; i < len; i++)
		s += vm.ram[gpa + i];
	return s;
}

static void fresh_vm(int ncpus, uint64_t ram)
{
	free(vm.ram);
	memset(&vm, 0, sizeof(vm));
	vm.ncpus = ncpus;
	vm.ram_size = ram;
	vm.ram = calloc(1, ram);
	TEST_ASSERT(vm.ram != NULL);
}

static uint64_t find_rsdp(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp(vm.ram + a, "RSD PTR ", 8) && sum(a, 20) == 0)
			return a;
	return 0;
}

/* The MADT a system table at sdt (entries of width w) leads to. */
static uint64_t madt_of(uint64_t sdt, int w)
{
	uint32_t len = rd32(sdt + 4);

	TEST_ASSERT(sum(sdt, len) == 0, "checksum of %.4s", (char *)vm.ram + sdt);
	for (uint32_t off = 36; off + w <= len; off += w) {
		uint64_t t = w == 8 ? rd64(sdt + off) : rd32(sdt + off);

		if (!memcmp(vm.ram + t, "APIC", 4))
			return t;
	}
	return 0;
}

static void check_madt(uint64_t m, int ncpus)
{
	uint32_t len = rd32(m + 4);
	int cpus = 0, ioapics = 0, overrides = 0;

	TEST_ASSERT_EQ(sum(m, len), 0);
	TEST_ASSERT_EQ(rd32(m + 36), LAPIC_BASE);
	TEST_ASSERT_EQ(rd32(m + 40) & 1, 1); /* PCAT_COMPAT: 8259s present */
	for (uint32_t off = 44; off < len; off += vm.ram[m + off + 1]) {
		uint8_t *e = vm.ram + m + off;

		TEST_ASSERT(e[1] >= 2, "entry length %u", e[1]);
		if (e[0] == 0) {
			TEST_ASSERT_EQ(e[1], 8);
			TEST_ASSERT_EQ(e[3], cpus); /* APIC ID = vCPU index */
			TEST_ASSERT_EQ(rd32(m + off + 4) & 1, 1);
			cpus++;
		} else if (e[0] == 1) {
			TEST_ASSERT_EQ(e[1], 12);
			TEST_ASSERT_EQ(rd32(m + off + 4), IOAPIC_BASE);
			TEST_ASSERT_EQ(rd32(m + off + 8), 0);
			ioapics++;
		} else if (e[0] == 2) {
			TEST_ASSERT_EQ(e[1], 10);
			TEST_ASSERT(e[2] == 0 && e[3] == 0, "ISA IRQ 0");
			TEST_ASSERT_EQ(rd32(m + off + 4), 2);
			overrides++;
		}
	}
	TEST_ASSERT_EQ(cpus, ncpus);
	TEST_ASSERT_EQ(ioapics, 1);
	TEST_ASSERT_EQ(overrides, 1);
}

static void test_tables_for_four_cpus(void)
{
	uint64_t r;

	fresh_vm(4, 16 << 20);
	TEST_ASSERT_EQ(acpi_build(&vm, err, sizeof(err)), 0);
	r = find_rsdp();
	TEST_ASSERT(r != 0, "no RSDP in 0xE0000-0xFFFFF");
	TEST_ASSERT_EQ(vm.ram[r + 15], 2);
	TEST_ASSERT_EQ(rd32(r + 20), 36);
	TEST_ASSERT_EQ(sum(r, 36), 0); /* the extended checksum */
	check_madt(madt_of(rd64(r + 24), 8), 4);  /* through the XSDT */
	check_madt(madt_of(rd32(r + 16), 4), 4);  /* through the RSDT */
}

static void test_most_cpus_fit(void)
{
	fresh_vm(VM_MAX_CPUS, 16 << 20);
	TEST_ASSERT_EQ(acpi_build(&vm, err, sizeof(err)), 0);
	check_madt(madt_of(rd64(find_rsdp() + 24), 8), VM_MAX_CPUS);
}

static void test_small_ram_refused(void)
{
	fresh_vm(2, 0x80000);
	TEST_ASSERT_EQ(acpi_build(&vm, err, sizeof(err)), -ENOMEM);
	TEST_ASSERT(strstr(err, "cannot hold the ACPI tables") != NULL, "%s", err);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN_TEST(test_tables_for_four_cpus);
	RUN_TEST(test_most_cpus_fit);
	RUN_TEST(test_small_ram_refused);
	free(vm.ram);
	TEST_MAIN_END();
}
