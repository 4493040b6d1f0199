/* unit_mmu.c - the page-table walker on hand-built tables, no KVM.
 *
 * Each test builds tables in a RAM image malloc'ed at exactly its size, so
 * ASan catches any read past the end of guest RAM.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/test.h"
#include "vmm/mmu.h"
#include "vmm/x86.h"


#define P  (1ULL << 0)
#define RW (1ULL << 1)
#define US (1ULL << 2)
#define PS (1ULL << 7)
#define XD (1ULL << 63)

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

static struct mmu_ram ram;

/* A fresh zeroed RAM image of exactly size bytes (the previous one is freed). */
static void ram_new(uint64_t size)
{
	free(ram.base);
	ram.base = calloc(1, size);
	ram.size = size;
	if (!ram.base) {
		printf("FAIL %s: out of memory\n", test_name);
		exit(1);
	}
}

static void put64(uint64_t gpa, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		ram.base[gpa + i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint64_t gpa, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		ram.base[gpa + i] = (uint8_t)(v >> (8 * i));
}

static struct mmu_regs regs_32(uint64_t cr3, int pse)
{
	return (struct mmu_regs){ .cr0 = CR0_PE | CR0_PG, .cr3 = cr3, .cr4 = pse ? CR4_PSE : 0 };
}

static struct mmu_regs regs_pae(uint64_t cr3, int nxe)
{
	return (struct mmu_regs){ .cr0 = CR0_PE | CR0_PG, .cr3 = cr3, .cr4 = CR4_PAE,
				  .efer = nxe ? EFER_NXE : 0 };
}

static struct mmu_regs regs_long4(uint64_t cr3, int nxe)
{
	return (struct mmu_regs){ .cr0 = CR0_PE | CR0_PG, .cr3 = cr3, .cr4 = CR4_PAE,
				  .efer = EFER_LME | EFER_LMA | (nxe ? EFER_NXE : 0) };
}

static struct mmu_regs regs_long5(uint64_t cr3, int nxe)
{
	struct mmu_regs r = regs_long4(cr3, nxe);

	r.cr4 |= CR4_LA57;
	return r;
}

/* Translate va, expecting success. */
static struct mmu_walk walk_ok(const struct mmu_regs *r, uint64_t va)
{
	struct mmu_walk w;
	int ret = mmu_translate(&ram, r, va, &w);

	if (ret)
		TEST_FAIL("translate 0x%" PRIx64 ": %d (%s after %d steps)", va, ret,
			  mmu_fault_name(w.fault), w.nsteps);
	return w;
}

/* Translate va, expecting -EFAULT with the given fault. */
static struct mmu_walk walk_fault(const struct mmu_regs *r, uint64_t va, enum mmu_fault f)
{
	struct mmu_walk w;
	int ret = mmu_translate(&ram, r, va, &w);

	if (ret != -EFAULT || w.fault != f)
		TEST_FAIL("translate 0x%" PRIx64 ": %d, fault \"%s\", expected \"%s\" (gpa 0x%" PRIx64 ")",
			  va, ret, mmu_fault_name(w.fault), mmu_fault_name(f), w.gpa);
	return w;
}

/*
 * A 4-level map used by several tests:
 *   PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000
 *   va 0x5000 -> 0x8000 (RW), va 0x6000 -> 0xa000 (RO), va 0x7000 unmapped
 */
static struct mmu_regs long4_small_map(void)
{
	ram_new(2 * MiB);
	put64(0x1000, 0x2000 | P | RW | US);
	put64(0x2000, 0x3000 | P | RW | US);
	put64(0x3000, 0x4000 | P | RW | US);
	put64(0x4000 + 5 * 8, 0x8000 | P | RW | US);
	put64(0x4000 + 6 * 8, 0xa000 | P | US);
	return regs_long4(0x1000, 0);
}

static void test_mode_from_control_registers(void)
{
	struct mmu_regs r = { 0 };

	TEST_ASSERT_EQ(mmu_mode(&r), MMU_OFF);
	r.cr4 = CR4_PAE;
	r.efer = EFER_LME;
	TEST_ASSERT_EQ(mmu_mode(&r), MMU_OFF);
	r = regs_32(0, 1);
	TEST_ASSERT_EQ(mmu_mode(&r), MMU_32);
	r = regs_pae(0, 1);
	TEST_ASSERT_EQ(mmu_mode(&r), MMU_PAE);
	r = regs_long4(0, 0);
	TEST_ASSERT_EQ(mmu_mode(&r), MMU_LONG4);
	r.efer = EFER_LME; /* LMA not yet reported: PG with LME is long mode */
	TEST_ASSERT_EQ(mmu_mode(&r), MMU_LONG4);
	r = regs_long5(0, 0);
	TEST_ASSERT_EQ(mmu_mode(&r), MMU_LONG5);
	r = regs_pae(0, 0);
	r.cr4 |= CR4_LA57; /* LA57 means nothing outside long mode */
	TEST_ASSERT_EQ(mmu_mode(&r), MMU_PAE);

	TEST_ASSERT_STREQ(mmu_mode_name(MMU_OFF), "off");
	TEST_ASSERT_STREQ(mmu_mode_name(MMU_32), "32-bit");
	TEST_ASSERT_STREQ(mmu_mode_name(MMU_PAE), "PAE");
	TEST_ASSERT_STREQ(mmu_mode_name(MMU_LONG4), "4-level");
	TEST_ASSERT_STREQ(mmu_mode_name(MMU_LONG5), "5-level");
	TEST_ASSERT_STREQ(mmu_fault_name(MMU_NOT_PRESENT), "not present");
}

static void test_walk_paging_off_is_identity(void)
{
	struct mmu_regs r = { .cr0 = CR0_PE };

	ram_new(1 * MiB);
	struct mmu_walk w = walk_ok(&r, 0x12345);
	TEST_ASSERT_EQ(w.mode, MMU_OFF);
	TEST_ASSERT_EQ(w.gpa, 0x12345);
	TEST_ASSERT_EQ(w.page_size, 4096);
	TEST_ASSERT_EQ(w.nsteps, 0);
	TEST_ASSERT(w.writable && w.user && !w.nx);

	/* Outside RAM is still a translation; mmu_host is what refuses it. */
	w = walk_ok(&r, 0xfffff000);
	TEST_ASSERT_EQ(w.gpa, 0xfffff000);
	TEST_ASSERT(mmu_host(&ram, w.gpa, 1) == NULL);
}

static void test_walk_paging_off_va_above_4g_too_wide(void)
{
	struct mmu_regs r = { .cr0 = CR0_PE };

	ram_new(1 * MiB);
	walk_fault(&r, 0x100000000ULL, MMU_TOO_WIDE);
	walk_ok(&r, 0xffffffffULL);
}

static void test_walk_32bit_4k_page(void)
{
	ram_new(1 * MiB);
	/* va 0x00403123: PD index 1, PT index 3 */
	put32(0x1000 + 1 * 4, 0x2000 | P | RW | US);
	put32(0x2000 + 3 * 4, 0x5000 | P | US);
	struct mmu_regs r = regs_32(0x1000, 0);
	struct mmu_walk w = walk_ok(&r, 0x00403123);

	TEST_ASSERT_EQ(w.mode, MMU_32);
	TEST_ASSERT_EQ(w.gpa, 0x5123);
	TEST_ASSERT_EQ(w.page_size, 4096);
	TEST_ASSERT_EQ(w.nsteps, 2);
	TEST_ASSERT_EQ(w.steps[0].level, 2);
	TEST_ASSERT_EQ(w.steps[0].entry_gpa, 0x1004);
	TEST_ASSERT_EQ(w.steps[0].entry, 0x2000 | P | RW | US);
	TEST_ASSERT_EQ(w.steps[1].level, 1);
	TEST_ASSERT_EQ(w.steps[1].entry_gpa, 0x200c);
	TEST_ASSERT_EQ(w.writable, 0);
	TEST_ASSERT_EQ(w.user, 1);
	TEST_ASSERT_EQ(w.nx, 0);
}

static void test_walk_32bit_cr3_ignores_low_bits_and_high_half(void)
{
	ram_new(1 * MiB);
	put32(0x1000, 0x2000 | P | RW);
	put32(0x2000, 0x6000 | P | RW);
	/* CR3 bits 11:0 are flags and bits 63:32 do not exist for 32-bit paging. */
	struct mmu_regs r = regs_32(0xabcd00000000ULL | 0x1000 | 0x18, 0);

	TEST_ASSERT_EQ(walk_ok(&r, 0x10).gpa, 0x6010);
}

static void test_walk_32bit_pse_4m_page_with_pse36_high_bits(void)
{
	ram_new(1 * MiB);
	/* va 0x00c12345: PD index 3; PDE bits 20:13 = 0x05 are PA bits 39:32. */
	put32(0x1000 + 3 * 4, 0x00800000 | (0x05 << 13) | PS | P | RW | US);
	struct mmu_regs r = regs_32(0x1000, 1);
	struct mmu_walk w = walk_ok(&r, 0x00c12345);

	TEST_ASSERT_EQ(w.gpa, 0x500812345ULL);
	TEST_ASSERT_EQ(w.page_size, 4 * MiB);
	TEST_ASSERT_EQ(w.nsteps, 1);
	TEST_ASSERT_EQ(w.steps[0].level, 2);
	TEST_ASSERT(w.writable && w.user);
}

static void test_walk_32bit_pse_4m_page_pat_bit_not_address(void)
{
	ram_new(1 * MiB);
	put32(0x1000, 0x00400000 | (1 << 12) | PS | P); /* bit 12 is PAT */
	struct mmu_regs r = regs_32(0x1000, 1);

	TEST_ASSERT_EQ(walk_ok(&r, 0x1234).gpa, 0x00401234);
}

static void test_walk_32bit_ps_ignored_without_cr4_pse(void)
{
	ram_new(1 * MiB);
	put32(0x1000, 0x3000 | PS | P | RW); /* without CR4.PSE: a page table at 0x3000 */
	put32(0x3000 + 2 * 4, 0x7000 | P | RW);
	struct mmu_regs r = regs_32(0x1000, 0);
	struct mmu_walk w = walk_ok(&r, 0x2abc);

	TEST_ASSERT_EQ(w.gpa, 0x7abc);
	TEST_ASSERT_EQ(w.page_size, 4096);
	TEST_ASSERT_EQ(w.nsteps, 2);
}

static void test_walk_32bit_pse_reserved_bit21(void)
{
	ram_new(1 * MiB);
	put32(0x1000, 0x00400000 | (1 << 21) | PS | P);
	struct mmu_regs r = regs_32(0x1000, 1);

	walk_fault(&r, 0x1000, MMU_RESERVED);
}

static void test_walk_32bit_va_above_4g_too_wide(void)
{
	ram_new(1 * MiB);
	put32(0x1000, 0x00000000 | PS | P);
	struct mmu_regs r = regs_32(0x1000, 1);

	walk_ok(&r, 0x1000);
	struct mmu_walk w = walk_fault(&r, 0x100001000ULL, MMU_TOO_WIDE);
	TEST_ASSERT_EQ(w.nsteps, 0);
}

static void test_walk_32bit_not_present_records_steps(void)
{
	ram_new(1 * MiB);
	put32(0x1000, 0x2000 | P | RW);
	struct mmu_regs r = regs_32(0x1000, 0);
	struct mmu_walk w = walk_fault(&r, 0x5000, MMU_NOT_PRESENT);

	TEST_ASSERT_EQ(w.nsteps, 2);
	TEST_ASSERT_EQ(w.steps[1].level, 1);
	TEST_ASSERT_EQ(w.steps[1].entry_gpa, 0x2014);
	TEST_ASSERT_EQ(w.steps[1].entry, 0);
}

static void test_walk_pae_4k_page(void)
{
	ram_new(1 * MiB);
	/* CR3 bits 31:5 address 4 PDPTEs; va 0xc0201234: PDPTE 3, PD 1, PT 1 */
	put64(0x1020 + 3 * 8, 0x2000 | P);
	put64(0x2000 + 1 * 8, 0x3000 | P | RW | US);
	put64(0x3000 + 1 * 8, 0x5000 | P | RW);
	struct mmu_regs r = regs_pae(0x1020, 0);
	struct mmu_walk w = walk_ok(&r, 0xc0201234);

	TEST_ASSERT_EQ(w.mode, MMU_PAE);
	TEST_ASSERT_EQ(w.gpa, 0x5234);
	TEST_ASSERT_EQ(w.page_size, 4096);
	TEST_ASSERT_EQ(w.nsteps, 3);
	TEST_ASSERT_EQ(w.steps[0].level, 3);
	TEST_ASSERT_EQ(w.steps[0].entry_gpa, 0x1038);
	TEST_ASSERT_EQ(w.steps[1].level, 2);
	TEST_ASSERT_EQ(w.steps[1].entry_gpa, 0x2008);
	TEST_ASSERT_EQ(w.steps[2].level, 1);
	TEST_ASSERT_EQ(w.steps[2].entry_gpa, 0x3008);
	/* The PDPTE has no R/W or U/S: only PD and PT decide. */
	TEST_ASSERT_EQ(w.writable, 1);
	TEST_ASSERT_EQ(w.user, 0);
}

static void test_walk_pae_2m_page(void)
{
	ram_new(1 * MiB);
	/* va 0xc0412345: PDPTE 3, PD index 2 maps 2 MiB at 0x7ac00000 (above RAM) */
	put64(0x1000 + 3 * 8, 0x2000 | P);
	put64(0x2000 + 2 * 8, 0x7ac00000 | PS | P | RW | US);
	struct mmu_regs r = regs_pae(0x1000, 0);
	struct mmu_walk w = walk_ok(&r, 0xc0412345);

	TEST_ASSERT_EQ(w.gpa, 0x7ac12345);
	TEST_ASSERT_EQ(w.page_size, 2 * MiB);
	TEST_ASSERT_EQ(w.nsteps, 2);
	TEST_ASSERT(w.writable && w.user && !w.nx);
}

static void test_walk_pae_physical_address_above_4g(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | P);
	put64(0x2000, 0x3000 | P | RW);
	put64(0x3000, 0x123456789000ULL | P | RW);
	struct mmu_regs r = regs_pae(0x1000, 0);

	TEST_ASSERT_EQ(walk_ok(&r, 0xabc).gpa, 0x123456789abcULL);
}

static void test_walk_pae_pdpte_reserved_bits(void)
{
	ram_new(1 * MiB);
	put64(0x2000, 0x3000 | P | RW);
	put64(0x3000, 0x5000 | P | RW);
	struct mmu_regs r = regs_pae(0x1000, 1);
	/* R/W, U/S, PS and XD are reserved in a PAE PDPTE, even with NXE. */
	const uint64_t bad[] = { RW, US, 1 << 5, PS, 1 << 8, XD, 1ULL << 52 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put64(0x1000, 0x2000 | P | bad[i]);
		struct mmu_walk w = walk_fault(&r, 0x10, MMU_RESERVED);
		TEST_ASSERT_EQ(w.nsteps, 1);
	}
	put64(0x1000, 0x2000 | P | (1 << 3) | (1 << 4) | (7 << 9)); /* PWT, PCD, ignored */
	TEST_ASSERT_EQ(walk_ok(&r, 0x10).gpa, 0x5010);
}

static void test_walk_pae_reserved_bits_in_pde_and_pte(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | P);
	put64(0x2000, 0x3000 | P | RW);
	put64(0x3000, 0x5000 | P | RW | (1ULL << 62)); /* bits 62:52 reserved in PAE */
	put64(0x2008, 0x00200000 | (1 << 13) | PS | P); /* 2 MiB page: bits 20:13 reserved */
	struct mmu_regs r = regs_pae(0x1000, 1);

	TEST_ASSERT_EQ(walk_fault(&r, 0x10, MMU_RESERVED).nsteps, 3);
	TEST_ASSERT_EQ(walk_fault(&r, 0x200000, MMU_RESERVED).nsteps, 2);
}

static void test_walk_pae_va_above_4g_too_wide(void)
{
	ram_new(1 * MiB);
	struct mmu_regs r = regs_pae(0x1000, 0);

	walk_fault(&r, 0x100000000ULL, MMU_TOO_WIDE);
	walk_fault(&r, 0xffffffff80000000ULL, MMU_TOO_WIDE);
}

static void test_walk_long4_4k_page_higher_half(void)
{
	ram_new(1 * MiB);
	/* va 0xffffffff80001234: PML4 511, PDPT 510, PD 0, PT 1 */
	put64(0x1000 + 511 * 8, 0x2000 | P | RW | US);
	put64(0x2000 + 510 * 8, 0x3000 | P | RW | US);
	put64(0x3000 + 0 * 8, 0x4000 | P | RW | US);
	put64(0x4000 + 1 * 8, 0x9000 | P | RW | US);
	struct mmu_regs r = regs_long4(0x1000, 1);
	struct mmu_walk w = walk_ok(&r, 0xffffffff80001234ULL);

	TEST_ASSERT_EQ(w.mode, MMU_LONG4);
	TEST_ASSERT_EQ(w.gpa, 0x9234);
	TEST_ASSERT_EQ(w.page_size, 4096);
	TEST_ASSERT_EQ(w.nsteps, 4);
	const uint64_t gpas[] = { 0x1ff8, 0x2ff0, 0x3000, 0x4008 };
	for (int i = 0; i < 4; i++) {
		TEST_ASSERT_EQ(w.steps[i].level, 4 - i);
		TEST_ASSERT_EQ(w.steps[i].entry_gpa, gpas[i]);
	}
	TEST_ASSERT_EQ(w.steps[3].entry, 0x9000 | P | RW | US);
	TEST_ASSERT(w.writable && w.user && !w.nx);
}

static void test_walk_long4_2m_page_ignores_pat_bit(void)
{
	ram_new(1 * MiB);
	/* va 0x00654321: PML4 0, PDPT 0, PD 3 -> 2 MiB at 0x40000000, PAT (bit 12) set */
	put64(0x1000, 0x2000 | P | RW);
	put64(0x2000, 0x3000 | P | RW);
	put64(0x3000 + 3 * 8, 0x40000000 | (1 << 12) | PS | P | RW);
	struct mmu_regs r = regs_long4(0x1000, 0);
	struct mmu_walk w = walk_ok(&r, 0x654321);

	TEST_ASSERT_EQ(w.gpa, 0x40054321);
	TEST_ASSERT_EQ(w.page_size, 2 * MiB);
	TEST_ASSERT_EQ(w.nsteps, 3);
	TEST_ASSERT_EQ(w.user, 0);
}

static void test_walk_long4_1g_page(void)
{
	ram_new(1 * MiB);
	/* va 0x7f_c0123456: PML4 0, PDPT 511 -> 1 GiB at 0x5_0000_0000 */
	put64(0x1000, 0x2000 | P | RW | US);
	put64(0x2000 + 511 * 8, 0x500000000ULL | PS | P | US);
	struct mmu_regs r = regs_long4(0x1000, 0);
	struct mmu_walk w = walk_ok(&r, 0x7fc0123456ULL);

	TEST_ASSERT_EQ(w.gpa, 0x500123456ULL);
	TEST_ASSERT_EQ(w.page_size, 1 * GiB);
	TEST_ASSERT_EQ(w.nsteps, 2);
	TEST_ASSERT_EQ(w.steps[1].level, 3);
	TEST_ASSERT(!w.writable && w.user);
}

static void test_walk_long4_large_page_low_address_bits_reserved(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | P | RW);
	put64(0x2000, 0x40000000 | (1 << 20) | PS | P); /* 1 GiB: bits 29:13 reserved */
	put64(0x2008, 0x3000 | P | RW);
	put64(0x3000, 0x00200000 | (1 << 13) | PS | P); /* 2 MiB: bits 20:13 reserved */
	struct mmu_regs r = regs_long4(0x1000, 0);

	TEST_ASSERT_EQ(walk_fault(&r, 0x1000, MMU_RESERVED).nsteps, 2);
	TEST_ASSERT_EQ(walk_fault(&r, 0x40001000, MMU_RESERVED).nsteps, 3);
}

static void test_walk_long4_ignores_bits_52_to_62(void)
{
	ram_new(1 * MiB);
	/* Ignored (or protection keys) in 4-level entries, unlike PAE. */
	put64(0x1000, 0x2000 | P | RW | (0x7ffULL << 52));
	put64(0x2000, 0x3000 | P | RW);
	put64(0x3000, 0x4000 | P | RW);
	put64(0x4000, 0x6000 | P | RW | (0xfULL << 59));
	struct mmu_regs r = regs_long4(0x1000, 0);

	TEST_ASSERT_EQ(walk_ok(&r, 0x42).gpa, 0x6042);
}

static void test_walk_long4_ps_in_pml4e_reserved(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | PS | P | RW);
	struct mmu_regs r = regs_long4(0x1000, 0);
	struct mmu_walk w = walk_fault(&r, 0x1000, MMU_RESERVED);

	TEST_ASSERT_EQ(w.nsteps, 1);
	TEST_ASSERT_EQ(w.steps[0].level, 4);
}

static void test_walk_long5_ps_in_pml5e_reserved(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | PS | P | RW);
	struct mmu_regs r = regs_long5(0x1000, 0);
	struct mmu_walk w = walk_fault(&r, 0x1000, MMU_RESERVED);

	TEST_ASSERT_EQ(w.nsteps, 1);
	TEST_ASSERT_EQ(w.steps[0].level, 5);
}

static void test_walk_long4_permissions_and_over_levels(void)
{
	struct mmu_regs r = long4_small_map();

	put64(0x2000, 0x3000 | P | US); /* PDPT read-only */
	struct mmu_walk w = walk_ok(&r, 0x5000);
	TEST_ASSERT_EQ(w.writable, 0);
	TEST_ASSERT_EQ(w.user, 1);

	put64(0x2000, 0x3000 | P | RW | US);
	put64(0x1000, 0x2000 | P | RW); /* PML4 supervisor-only */
	w = walk_ok(&r, 0x5000);
	TEST_ASSERT_EQ(w.writable, 1);
	TEST_ASSERT_EQ(w.user, 0);
}

static void test_walk_long4_nx_with_nxe(void)
{
	struct mmu_regs r = long4_small_map();

	r.efer |= EFER_NXE;
	TEST_ASSERT_EQ(walk_ok(&r, 0x5000).nx, 0);
	put64(0x3000, 0x4000 | P | RW | US | XD); /* XD at one level is enough */
	struct mmu_walk w = walk_ok(&r, 0x5000);
	TEST_ASSERT_EQ(w.nx, 1);
	TEST_ASSERT_EQ(w.gpa, 0x8000);
}

static void test_walk_long4_xd_reserved_without_nxe(void)
{
	struct mmu_regs r = long4_small_map();

	put64(0x4000 + 5 * 8, 0x8000 | P | RW | XD);
	struct mmu_walk w = walk_fault(&r, 0x5000, MMU_RESERVED);
	TEST_ASSERT_EQ(w.nsteps, 4);

	r.efer |= EFER_NXE;
	TEST_ASSERT_EQ(walk_ok(&r, 0x5000).nx, 1);
}

static void test_walk_pae_xd_reserved_without_nxe(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | P);
	put64(0x2000, 0x3000 | P | RW | XD);
	put64(0x3000, 0x5000 | P | RW);
	struct mmu_regs r = regs_pae(0x1000, 0);

	walk_fault(&r, 0x10, MMU_RESERVED);
	r.efer |= EFER_NXE;
	struct mmu_walk w = walk_ok(&r, 0x10);
	TEST_ASSERT_EQ(w.nx, 1);
	TEST_ASSERT_EQ(w.gpa, 0x5010);
}

static void test_walk_long4_noncanonical(void)
{
	struct mmu_regs r = long4_small_map();

	TEST_ASSERT_EQ(walk_fault(&r, 0x0000800000000000ULL, MMU_NONCANONICAL).nsteps, 0);
	walk_fault(&r, 0xffff7fffffffffffULL, MMU_NONCANONICAL);
	walk_fault(&r, 0x8000000000005000ULL, MMU_NONCANONICAL);
	/* The edges of the canonical halves are walked (and here unmapped). */
	walk_fault(&r, 0x00007fffffffffffULL, MMU_NOT_PRESENT);
	walk_fault(&r, 0xffff800000000000ULL, MMU_NOT_PRESENT);
}

/*
 * 5-level map: PML5 0x1000, PML4 0x2000, PDPT 0x3000, PD 0x4000, PT 0x5000;
 * va (1 << 48) | 0x1000 (PML5 index 1) -> 0x9000.
 */
static struct mmu_regs long5_map(void)
{
	ram_new(1 * MiB);
	put64(0x1000 + 1 * 8, 0x2000 | P | RW | US);
	put64(0x2000, 0x3000 | P | RW | US);
	put64(0x3000, 0x4000 | P | RW | US);
	put64(0x4000, 0x5000 | P | RW | US);
	put64(0x5000 + 1 * 8, 0x9000 | P | RW | US);
	return regs_long5(0x1000, 0);
}

static void test_walk_long5_4k_page(void)
{
	struct mmu_regs r = long5_map();
	struct mmu_walk w = walk_ok(&r, (1ULL << 48) | 0x1abc);

	TEST_ASSERT_EQ(w.mode, MMU_LONG5);
	TEST_ASSERT_EQ(w.gpa, 0x9abc);
	TEST_ASSERT_EQ(w.page_size, 4096);
	TEST_ASSERT_EQ(w.nsteps, 5);
	for (int i = 0; i < 5; i++)
		TEST_ASSERT_EQ(w.steps[i].level, 5 - i);
	TEST_ASSERT_EQ(w.steps[0].entry_gpa, 0x1008);
	TEST_ASSERT_EQ(w.steps[4].entry_gpa, 0x5008);
}

static void test_walk_long5_noncanonical(void)
{
	struct mmu_regs r = long5_map();

	walk_fault(&r, 0x0100000000000000ULL, MMU_NONCANONICAL);
	walk_fault(&r, 0xfeffffffffffffffULL, MMU_NONCANONICAL);
	walk_fault(&r, 0xff00000000000000ULL, MMU_NOT_PRESENT);
	walk_fault(&r, 0x00ffffffffffffffULL, MMU_NOT_PRESENT);
}

static void test_walk_la57_decides_width_for_same_va(void)
{
	struct mmu_regs r = long5_map();
	const uint64_t va = (1ULL << 48) | 0x1000;

	TEST_ASSERT_EQ(walk_ok(&r, va).gpa, 0x9000);
	r.cr4 &= ~CR4_LA57;
	walk_fault(&r, va, MMU_NONCANONICAL);

	/* va 0x1000, same CR3: 4 levels read every table one level too high,
	 * so the PD's entry 1 is taken for the PTE. */
	put64(0x1000, 0x2000 | P | RW);
	put64(0x4000 + 1 * 8, 0x6000 | P | RW);
	r.cr4 |= CR4_LA57;
	TEST_ASSERT_EQ(walk_ok(&r, 0x1000).gpa, 0x9000);
	r.cr4 &= ~CR4_LA57;
	struct mmu_walk w = walk_ok(&r, 0x1000);
	TEST_ASSERT_EQ(w.nsteps, 4);
	TEST_ASSERT_EQ(w.gpa, 0x6000);
}

static void test_walk_long4_cr3_pcid_and_flag_bits_ignored(void)
{
	struct mmu_regs r = long4_small_map();

	r.cr3 |= 0xfff; /* PCID (CR4.PCIDE) or PWT/PCD: never address bits */
	TEST_ASSERT_EQ(walk_ok(&r, 0x5123).gpa, 0x8123);
	TEST_ASSERT_EQ(walk_ok(&r, 0x5123).steps[0].entry_gpa, 0x1000);
	r.cr3 |= 1ULL << 63; /* CR3 bit 63: "no flush" on a MOV to CR3 */
	TEST_ASSERT_EQ(walk_ok(&r, 0x5123).gpa, 0x8123);
}

static void test_walk_long5_1g_and_2m_pages(void)
{
	struct mmu_regs r = long5_map();

	/* PDPT[1] maps 1 GiB at 0 and PD[1] 2 MiB at 0x200000, under PML5[1]. */
	put64(0x3000 + 1 * 8, 0 | P | RW | PS);
	put64(0x4000 + 1 * 8, 0x200000 | P | RW | PS);
	struct mmu_walk w = walk_ok(&r, (1ULL << 48) | (1ULL << 30) | 0x12345);
	TEST_ASSERT_EQ(w.gpa, 0x12345);
	TEST_ASSERT_EQ(w.page_size, 1 * GiB);
	TEST_ASSERT_EQ(w.nsteps, 3);
	w = walk_ok(&r, (1ULL << 48) | (1ULL << 21) | 0x1234);
	TEST_ASSERT_EQ(w.gpa, 0x201234);
	TEST_ASSERT_EQ(w.page_size, 2 * MiB);
	TEST_ASSERT_EQ(w.nsteps, 4);
	/* The same entries without LA57: the va is not canonical for 4 levels. */
	r.cr4 &= ~CR4_LA57;
	walk_fault(&r, (1ULL << 48) | (1ULL << 30), MMU_NONCANONICAL);
}

static void test_walk_pae_pdpte_straddling_end_of_ram(void)
{
	/* The 32-byte PDPT at 0xfffe0; RAM ends 4 bytes into PDPTE 2. */
	ram_new(0xfffe0 + 2 * 8 + 4);
	put64(0xfffe0 + 1 * 8, 0x2000 | P);
	ram.base[0xfffe0 + 2 * 8] = P;
	struct mmu_regs r = regs_pae(0xfffe0, 0);

	walk_fault(&r, 0x40000000, MMU_NOT_PRESENT); /* PDPTE 1 -> an empty PD */
	struct mmu_walk w = walk_fault(&r, 0x80000000, MMU_TABLE_OUTSIDE);
	TEST_ASSERT_EQ(w.nsteps, 1);
	TEST_ASSERT_EQ(w.steps[0].entry_gpa, 0xfffe0 + 2 * 8);
	uint8_t b;
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x80000000, &b, 1), -EFAULT);
}

static void test_walk_entry_pointing_past_end_of_ram(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x7ffff000 | P | RW);
	put64(0x1008, 0x000ffffffffff000ULL | P | RW); /* the highest table address */
	struct mmu_regs r = regs_long4(0x1000, 0);
	struct mmu_walk w = walk_fault(&r, 0x42, MMU_TABLE_OUTSIDE);

	TEST_ASSERT_EQ(w.nsteps, 2);
	TEST_ASSERT_EQ(w.steps[1].level, 3);
	TEST_ASSERT_EQ(w.steps[1].entry_gpa, 0x7ffff000);
	TEST_ASSERT_EQ(w.steps[1].entry, 0);

	w = walk_fault(&r, (1ULL << 39) | (511ULL << 30), MMU_TABLE_OUTSIDE);
	TEST_ASSERT_EQ(w.steps[1].entry_gpa, 0x000ffffffffffff8ULL);
}

static void test_walk_page_past_end_of_ram_translates_but_has_no_host(void)
{
	struct mmu_regs r = long4_small_map();

	put64(0x4000 + 5 * 8, 0x7fff0000 | P | RW);
	struct mmu_walk w = walk_ok(&r, 0x5010);
	TEST_ASSERT_EQ(w.gpa, 0x7fff0010);
	TEST_ASSERT(mmu_host(&ram, w.gpa, 1) == NULL);
}

static void test_walk_8byte_entry_straddling_end_of_ram(void)
{
	/* RAM ends 4 bytes into the PDPT at 0x200000: half an entry. */
	ram_new(2 * MiB + 4);
	put64(0x1000, 0x200000 | P | RW);
	put32(0x200000, 0x3000 | P | RW);
	struct mmu_regs r = regs_long4(0x1000, 0);
	struct mmu_walk w = walk_fault(&r, 0x42, MMU_TABLE_OUTSIDE);

	TEST_ASSERT_EQ(w.nsteps, 2);
	TEST_ASSERT_EQ(w.steps[1].entry_gpa, 0x200000);
	TEST_ASSERT_EQ(w.steps[1].entry, 0);
}

static void test_walk_4byte_entry_straddling_end_of_ram(void)
{
	ram_new(2 * MiB + 2);
	put32(0x1000, 0x200000 | P | RW);
	ram.base[0x200000] = P | RW;
	ram.base[0x200001] = 0x30;
	struct mmu_regs r = regs_32(0x1000, 0);

	TEST_ASSERT_EQ(walk_fault(&r, 0x42, MMU_TABLE_OUTSIDE).nsteps, 2);
}

static void test_walk_cr3_outside_ram(void)
{
	ram_new(1 * MiB);
	struct mmu_regs r = regs_long4(0x40000000, 0);
	struct mmu_walk w = walk_fault(&r, 0x1000, MMU_TABLE_OUTSIDE);

	TEST_ASSERT_EQ(w.nsteps, 1);
	TEST_ASSERT_EQ(w.steps[0].level, 4);
	TEST_ASSERT_EQ(w.steps[0].entry_gpa, 0x40000000);

	ram_new(1 * MiB + 16);
	r = regs_pae(1 * MiB, 0); /* PDPTEs 2 and 3 past the end */
	walk_fault(&r, 0x80000000, MMU_TABLE_OUTSIDE);
	walk_fault(&r, 0x10, MMU_NOT_PRESENT);

	r = regs_32(0xfffff000, 0);
	walk_fault(&r, 0x10, MMU_TABLE_OUTSIDE);
	r = regs_long5(0x000ffffffffff000ULL, 0);
	walk_fault(&r, 0x10, MMU_TABLE_OUTSIDE);
}

static void test_walk_self_referencing_pml4_is_a_recursive_map(void)
{
	struct mmu_regs r = long4_small_map();

	put64(0x1000 + 511 * 8, 0x1000 | P | RW); /* PML4[511] -> the PML4 itself */
	TEST_ASSERT_EQ(walk_ok(&r, 0x5000).gpa, 0x8000);

	/* Through the recursive slot once, the PT that maps va 0x5000 is data:
	 * PML4[511] -> PML4 as PDPT[0] -> PDPT as PD[0] -> PD as PT[0] -> PT. */
	struct mmu_walk w = walk_ok(&r, 0xffffff8000000000ULL + 5 * 8);
	TEST_ASSERT_EQ(w.gpa, 0x4000 + 5 * 8);
	TEST_ASSERT_EQ(w.nsteps, 4);

	/* Four times through it, the PML4 maps itself. */
	w = walk_ok(&r, 0xfffffffffffff000ULL + 511 * 8);
	TEST_ASSERT_EQ(w.gpa, 0x1ff8);
	for (int i = 0; i < 4; i++)
		TEST_ASSERT_EQ(w.steps[i].entry_gpa, 0x1ff8);

	uint64_t e = 0;
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0xfffffffffffff000ULL + 511 * 8, &e, 8), 8);
	TEST_ASSERT_EQ(e, 0x1000 | P | RW);
}

static void test_walk_cycle_between_two_tables_terminates(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | P | RW);
	put64(0x2000, 0x1000 | P | RW);

	struct mmu_regs r = regs_long4(0x1000, 0);
	struct mmu_walk w = walk_ok(&r, 0x10);
	TEST_ASSERT_EQ(w.nsteps, 4);
	TEST_ASSERT_EQ(w.gpa, 0x1010);
	TEST_ASSERT_EQ(w.steps[0].entry_gpa, 0x1000);
	TEST_ASSERT_EQ(w.steps[1].entry_gpa, 0x2000);
	TEST_ASSERT_EQ(w.steps[2].entry_gpa, 0x1000);
	TEST_ASSERT_EQ(w.steps[3].entry_gpa, 0x2000);

	r = regs_long5(0x1000, 0);
	w = walk_ok(&r, 0x10);
	TEST_ASSERT_EQ(w.nsteps, 5);
	TEST_ASSERT_EQ(w.gpa, 0x2010);

	r = regs_pae(0x1000, 0); /* a PDPTE may only hold P: 0x2000|P */
	put64(0x1000, 0x2000 | P);
	TEST_ASSERT_EQ(walk_ok(&r, 0x10).gpa, 0x2010);
}

/* xorshift64: a fixed sequence, so a failure reproduces. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_walk_random_tables_stay_inside_ram(void)
{
	const uint64_t size = 64 * 1024 + 3; /* not a multiple of any entry size */
	const int max_steps[] = { [MMU_OFF] = 0, [MMU_32] = 2, [MMU_PAE] = 3,
				  [MMU_LONG4] = 4, [MMU_LONG5] = 5 };
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char text[1024];
	uint8_t buf[64];

	ram_new(size);
	for (int round = 0; round < 20000; round++) {
		/* Mostly present entries pointing into RAM, so walks go deep; some
		 * point just past its end or set PS, XD or PAE-reserved bits. */
		if (round % 1000 == 0) {
			for (uint64_t i = 0; i + 8 <= size; i += 8) {
				uint64_t a = rnd(&x), b = rnd(&x);
				uint64_t e = (a & 0xf000) | (a & (P | RW | US)) | ((b & 3) ? P : 0);
				if (!(b & 0x1c))
					e |= 0x10000;
				if (!(b & 0x3e0))
					e |= PS;
				if (!(b & 0x7c00))
					e |= XD;
				if (!(b & 0xf8000))
					e |= 1ULL << 62;
				put64(i, e);
			}
		}
		struct mmu_regs r = { .cr0 = CR0_PG, .cr3 = rnd(&x) & 0x1ffe0,
				      .cr4 = rnd(&x) & (CR4_PSE | CR4_PAE | CR4_LA57),
				      .efer = rnd(&x) & (EFER_LMA | EFER_NXE) };
		if (round % 7 == 0)
			r.cr0 = 0;
		uint64_t va = rnd(&x);
		if (round % 3 == 0)
			va &= 0xffffffffULL;
		else if (round % 3 == 1)
			va = (uint64_t)((int64_t)(va << 16) >> (round % 2 ? 16 : 7));
		struct mmu_walk w;
		int ret = mmu_translate(&ram, &r, va, &w);

		TEST_ASSERT(ret == 0 || ret == -EFAULT);
		TEST_ASSERT(w.nsteps <= max_steps[w.mode]);
		for (int i = 0; i + 1 < w.nsteps; i++)
			TEST_ASSERT(w.steps[i].entry_gpa < size);
		if (!ret)
			TEST_ASSERT(w.page_size == 4096 || w.page_size == 2 * MiB ||
				    w.page_size == 4 * MiB || w.page_size == GiB);
		(void)mmu_read(&ram, &r, va, buf, sizeof(buf));
		TEST_ASSERT(mmu_format_walk(&ram, &r, va, text, sizeof(text)) < (int)sizeof(text));
	}
}

static void test_host_bounds_are_overflow_safe(void)
{
	ram_new(1 * MiB);
	TEST_ASSERT(mmu_host(&ram, 0, 1 * MiB) == ram.base);
	TEST_ASSERT(mmu_host(&ram, 1 * MiB - 1, 1) == ram.base + 1 * MiB - 1);
	TEST_ASSERT(mmu_host(&ram, 0, 1 * MiB + 1) == NULL);
	TEST_ASSERT(mmu_host(&ram, 1 * MiB, 1) == NULL);
	TEST_ASSERT(mmu_host(&ram, 16, UINT64_MAX) == NULL);
	TEST_ASSERT(mmu_host(&ram, UINT64_MAX, 2) == NULL);
	TEST_ASSERT(mmu_host(&ram, UINT64_MAX - 15, 32) == NULL);
	TEST_ASSERT(mmu_host(&ram, 1 * MiB + 1, UINT64_MAX) == NULL);
}

static void test_read_across_page_boundary_joins_two_physical_pages(void)
{
	struct mmu_regs r = long4_small_map();
	uint8_t buf[8];

	for (int i = 0; i < 4; i++) {
		ram.base[0x8ffc + i] = (uint8_t)(0x10 + i);
		ram.base[0xa000 + i] = (uint8_t)(0x20 + i);
	}
	ram.base[0x6000] = 0xee; /* the physically contiguous byte must not appear */
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x5ffc, buf, 8), 8);
	const uint8_t want[8] = { 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x23 };
	TEST_ASSERT(memcmp(buf, want, 8) == 0);
}

static void test_read_stops_at_unmapped_page(void)
{
	struct mmu_regs r = long4_small_map();
	uint8_t buf[64];

	memset(ram.base + 0xaff0, 0x5a, 16);
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x6ff0, buf, sizeof(buf)), 16);
	TEST_ASSERT_EQ(buf[15], 0x5a);
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x7000, buf, 4), -EFAULT);
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x7000, buf, 0), 0);
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x0000800000000000ULL, buf, 4), -EFAULT);
}

static void test_read_stops_at_end_of_ram_inside_a_large_page(void)
{
	ram_new(3 * MiB);
	put64(0x1000, 0x2000 | P | RW);
	put64(0x2000, 0x3000 | P | RW);
	put64(0x3000, 0x200000 | PS | P | RW); /* va 0..2M -> 2M..4M, RAM ends at 3M */
	memset(ram.base + 3 * MiB - 16, 0x77, 16);
	struct mmu_regs r = regs_long4(0x1000, 0);
	uint8_t buf[32];

	TEST_ASSERT_EQ(mmu_read(&ram, &r, 1 * MiB - 16, buf, sizeof(buf)), 16);
	TEST_ASSERT_EQ(buf[0], 0x77);
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 1 * MiB, buf, sizeof(buf)), -EFAULT);
}

static void test_read_in_32bit_mode_and_paging_off(void)
{
	ram_new(1 * MiB);
	put32(0x1000, 0x2000 | P | RW);
	put32(0x2000 + 4, 0x9000 | P);
	memcpy(ram.base + 0x9100, "hello", 6);
	struct mmu_regs r = regs_32(0x1000, 0);
	char buf[6];

	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x1100, buf, 6), 6);
	TEST_ASSERT_STREQ(buf, "hello");

	r = (struct mmu_regs){ 0 };
	memset(buf, 0, sizeof(buf));
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 0x9100, buf, 6), 6);
	TEST_ASSERT_STREQ(buf, "hello");
	TEST_ASSERT_EQ(mmu_read(&ram, &r, 1 * MiB - 2, buf, 6), 2);
}

static void test_write_all_or_nothing(void)
{
	struct mmu_regs r = long4_small_map();
	uint8_t buf[32];

	memset(buf, 0x33, sizeof(buf));
	memset(ram.base + 0xa000, 0xaa, 4096);
	/* 0x6ff0..0x700f: the second page is unmapped, so nothing is written. */
	TEST_ASSERT_EQ(mmu_write(&ram, &r, 0x6ff0, buf, sizeof(buf)), -EFAULT);
	for (int i = 0; i < 4096; i++)
		TEST_ASSERT_EQ(ram.base[0xa000 + i], 0xaa);

	/* Nor when the second page lies outside RAM. */
	put64(0x4000 + 7 * 8, 0x7fff0000 | P | RW);
	TEST_ASSERT_EQ(mmu_write(&ram, &r, 0x6ff0, buf, sizeof(buf)), -EFAULT);
	TEST_ASSERT_EQ(ram.base[0xaff0], 0xaa);

	TEST_ASSERT_EQ(mmu_write(&ram, &r, 0x5ff0, buf, sizeof(buf)), 0);
	for (int i = 0; i < 16; i++) {
		TEST_ASSERT_EQ(ram.base[0x8ff0 + i], 0x33);
		TEST_ASSERT_EQ(ram.base[0xa000 + i], 0x33);
	}
	TEST_ASSERT_EQ(ram.base[0xa010], 0xaa);
	TEST_ASSERT_EQ(mmu_write(&ram, &r, 0x7000, buf, 0), 0);
}

static void test_write_to_read_only_page_succeeds(void)
{
	struct mmu_regs r = long4_small_map();
	const uint8_t int3 = 0xcc;

	TEST_ASSERT_EQ(walk_ok(&r, 0x6000).writable, 0);
	TEST_ASSERT_EQ(mmu_write(&ram, &r, 0x6123, &int3, 1), 0);
	TEST_ASSERT_EQ(ram.base[0xa123], 0xcc);
}

static void test_write_many_pages(void)
{
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | P | RW);
	put64(0x2000, 0x3000 | P | RW);
	put64(0x3000, 0x4000 | P | RW);
	/* va page i -> physical page 0x80 + (i ^ 1): no two neighbours adjacent */
	for (uint64_t i = 0; i < 64; i++)
		put64(0x4000 + i * 8, ((0x80 + (i ^ 1)) << 12) | P | RW);
	struct mmu_regs r = regs_long4(0x1000, 0);
	size_t len = 40 * 4096 + 100;
	uint8_t *src = malloc(len), *dst = malloc(len);

	TEST_ASSERT(src && dst);
	for (size_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	int ret = mmu_write(&ram, &r, 0x800, src, len);
	long got = mmu_read(&ram, &r, 0x800, dst, len);
	int same = !memcmp(src, dst, len);
	uint8_t first = ram.base[0x81800];
	free(src);
	free(dst);
	TEST_ASSERT_EQ(ret, 0);
	TEST_ASSERT_EQ(got, len);
	TEST_ASSERT(same);
	TEST_ASSERT_EQ(first, 3); /* va 0x800 is in physical page 0x81 */
}

static void test_write_over_its_own_page_table_uses_the_old_translation(void)
{
	struct mmu_regs r = long4_small_map();
	static uint8_t buf[4096];
	const uint64_t new_pte = 0xc000 | P | RW, marker = 0x1122334455667788ULL;

	/* va 0x4000 maps the PT itself.  Writing from va 0x4028 replaces PT[5]
	 * and spills into va 0x5000, which must still go where the old PT[5]
	 * said (0x8000), not where the new one says (0xc000). */
	put64(0x4000 + 4 * 8, 0x4000 | P | RW);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &new_pte, 8);
	memcpy(buf + 0x1000 - 0x28, &marker, 8);
	TEST_ASSERT_EQ(mmu_write(&ram, &r, 0x4028, buf, 0x1000 - 0x28 + 8), 0);
	uint64_t at_old, at_new, pte;
	memcpy(&at_old, ram.base + 0x8000, 8);
	memcpy(&at_new, ram.base + 0xc000, 8);
	memcpy(&pte, ram.base + 0x4028, 8);
	TEST_ASSERT_EQ(pte, new_pte);
	TEST_ASSERT_EQ(at_old, marker);
	TEST_ASSERT_EQ(at_new, 0);
	TEST_ASSERT_EQ(walk_ok(&r, 0x5000).gpa, 0xc000);
}

static void test_format_walk_long4_lines(void)
{
	ram_new(1 * MiB);
	put64(0x1000 + 511 * 8, 0x2000 | P | RW | US);
	put64(0x2000 + 510 * 8, 0x3000 | P | RW);
	put64(0x3000, 0x4000 | P | RW);
	put64(0x4000 + 8, 0x101000 | P | RW);
	struct mmu_regs r = regs_long4(0x1000, 1);
	char out[1024];
	int n = mmu_format_walk(&ram, &r, 0xffffffff80001000ULL, out, sizeof(out));

	TEST_ASSERT_EQ(n, strlen(out));
	TEST_ASSERT(strstr(out, "4-level paging, CR3 0x1000"), "\n%s", out);
	TEST_ASSERT(strstr(out, "\nPML4[511] @0x1ff8 = 0x0000000000002007 P RW US\n"), "\n%s", out);
	TEST_ASSERT(strstr(out, "\nPDPT[510] @0x2ff0 = 0x0000000000003003 P RW\n"), "\n%s", out);
	TEST_ASSERT(strstr(out, "\nPD[0] @0x3000 = "), "\n%s", out);
	TEST_ASSERT(strstr(out, "\nPT[1] @0x4008 = 0x0000000000101003 P RW\n"), "\n%s", out);
	TEST_ASSERT(strstr(out, "-> 0xffffffff80001000 = phys 0x101000 (outside RAM) "
				"(4K page, RW, supervisor, X)\n"), "\n%s", out);
}

static void test_format_walk_faults(void)
{
	struct mmu_regs r = long4_small_map();
	char out[1024];

	mmu_format_walk(&ram, &r, 0x7000, out, sizeof(out));
	TEST_ASSERT(strstr(out, "PT[7] @0x4038 = 0x0000000000000000 not present\n"), "\n%s", out);
	TEST_ASSERT(strstr(out, "-> 0x7000: fault: not present at PT level\n"), "\n%s", out);

	put64(0x1000, 0x2000 | PS | P | RW);
	mmu_format_walk(&ram, &r, 0x5000, out, sizeof(out));
	TEST_ASSERT(strstr(out, "reserved 0x80"), "\n%s", out);
	TEST_ASSERT(strstr(out, "fault: reserved bits set at PML4 level"), "\n%s", out);

	put64(0x1000, 0x7fff0000 | P | RW);
	mmu_format_walk(&ram, &r, 0x5000, out, sizeof(out));
	TEST_ASSERT(strstr(out, "PDPT[0] @0x7fff0000 = (outside RAM)\n"), "\n%s", out);

	mmu_format_walk(&ram, &r, 0x0000800000000000ULL, out, sizeof(out));
	TEST_ASSERT(strstr(out, "fault: non-canonical address for 4-level paging"), "\n%s", out);

	r = (struct mmu_regs){ 0 };
	mmu_format_walk(&ram, &r, 0xb8000, out, sizeof(out));
	TEST_ASSERT_STREQ(out, "paging off: linear = physical 0xb8000\n");
}

static void test_format_walk_truncates_safely(void)
{
	struct mmu_regs r = long4_small_map();
	char big[1024], small[16];

	int n = mmu_format_walk(&ram, &r, 0x5000, big, sizeof(big));
	memset(small, 'x', sizeof(small));
	TEST_ASSERT_EQ(mmu_format_walk(&ram, &r, 0x5000, small, sizeof(small)), n);
	TEST_ASSERT_EQ(strlen(small), sizeof(small) - 1);
	TEST_ASSERT(!strncmp(small, big, sizeof(small) - 1));
	TEST_ASSERT_EQ(mmu_format_walk(&ram, &r, 0x5000, NULL, 0), n);
}

/* ---- mmu_table_pages: the pages that hold the paging structures ---------- */

#define MAX_TABLE_PAGES 4096
static uint64_t tp[MAX_TABLE_PAGES];

/* mmu_table_pages with room for max pages gives exactly want[0..n). */
static void expect_tables(const struct mmu_regs *r, int max, const uint64_t *want, int n)
{
	int got = mmu_table_pages(&ram, r, tp, max);

	if (got != n)
		TEST_FAIL("mmu_table_pages: %d pages, expected %d (first 0x%" PRIx64 ")", got, n,
			  got > 0 ? tp[0] : 0);
	for (int i = 0; i < n; i++)
		if (tp[i] != want[i])
			TEST_FAIL("page %d: 0x%" PRIx64 ", expected 0x%" PRIx64, i, tp[i], want[i]);
}

#define EXPECT_TABLES(r, ...)                                                            \
	do {                                                                             \
		const uint64_t __w[] = { __VA_ARGS__ };                                  \
		expect_tables(r, MAX_TABLE_PAGES, __w, (int)(sizeof(__w) / sizeof(__w[0]))); \
	} while (0)

/*
 * A 4-level tree, tables not in address order, one PT shared by two PDs:
 *   PML4 0x5000: [0] -> PDPT 0x3000, [511] -> PDPT 0x9000
 *   PDPT 0x3000: [0] -> PD 0xb000, [1] -> PD 0x7000;  PDPT 0x9000: [5] -> PD 0x2000
 *   PD 0xb000: [0] -> PT 0x8000, [3] -> PT 0x4000;  PD 0x7000: [0] -> PT 0x4000
 *   PD 0x2000: [511] -> PT 0xc000
 * PTs map data pages 0x10000.. (not tables).
 */
static struct mmu_regs long4_tree(void)
{
	ram_new(1 * MiB);
	put64(0x5000 + 0 * 8, 0x3000 | P | RW | US);
	put64(0x5000 + 511 * 8, 0x9000 | P | RW);
	put64(0x3000 + 0 * 8, 0xb000 | P | RW | US);
	put64(0x3000 + 1 * 8, 0x7000 | P | RW | US);
	put64(0x9000 + 5 * 8, 0x2000 | P | RW);
	put64(0xb000 + 0 * 8, 0x8000 | P | RW | US);
	put64(0xb000 + 3 * 8, 0x4000 | P | RW | US);
	put64(0x7000 + 0 * 8, 0x4000 | P | RW | US);
	put64(0x2000 + 511 * 8, 0xc000 | P | RW);
	for (int i = 0; i < 512; i++) {
		put64(0x8000 + (uint64_t)i * 8, (0x10000 + (uint64_t)i * 0x1000) | P | RW);
		put64(0x4000 + (uint64_t)i * 8, 0x11000 | P);
		put64(0xc000 + (uint64_t)i * 8, 0x12000 | P | RW | XD);
	}
	return regs_long4(0x5000, 1);
}

static void test_table_pages_long4_tree(void)
{
	struct mmu_regs r = long4_tree();

	EXPECT_TABLES(&r, 0x2000, 0x3000, 0x4000, 0x5000, 0x7000, 0x8000, 0x9000, 0xb000, 0xc000);
	/* CR3's PCID / flag bits and bit 63 are not address bits. */
	r.cr3 |= 0xfff | 1ULL << 63;
	EXPECT_TABLES(&r, 0x2000, 0x3000, 0x4000, 0x5000, 0x7000, 0x8000, 0x9000, 0xb000, 0xc000);
}

static void test_table_pages_duplicate_entries_listed_once(void)
{
	struct mmu_regs r = long4_tree();

	/* Every PML4 entry -> PDPT 0x3000, every PD entry of 0xb000 -> PT 0x8000. */
	for (int i = 0; i < 512; i++) {
		put64(0x5000 + (uint64_t)i * 8, 0x3000 | P | RW);
		put64(0xb000 + (uint64_t)i * 8, 0x8000 | P | RW);
	}
	EXPECT_TABLES(&r, 0x3000, 0x4000, 0x5000, 0x7000, 0x8000, 0xb000);
}

static void test_table_pages_long5(void)
{
	struct mmu_regs r = long5_map();

	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000, 0x4000, 0x5000);
	r.cr4 &= ~CR4_LA57; /* the same tables as 4-level: the PML5 is a PML4 */
	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000, 0x4000);
}

static void test_table_pages_pae(void)
{
	ram_new(1 * MiB);
	/* CR3 0x1020: four PDPTEs at 0x1020..0x103f; the rest of the page is not
	 * part of the PDPT. */
	put64(0x1020 + 0 * 8, 0x3000 | P);
	put64(0x1020 + 3 * 8, 0x4000 | P);
	put64(0x1000, 0x7000 | P);       /* before the PDPT */
	put64(0x1040, 0x8000 | P);       /* after it */
	put64(0x3000 + 0 * 8, 0x5000 | P | RW);
	put64(0x3000 + 1 * 8, 0x200000 | P | RW | PS); /* 2 MiB page */
	put64(0x4000 + 511 * 8, 0x6000 | P | RW | XD);
	put64(0x5000, 0x9000 | P | RW);  /* a data page */
	put64(0x6000, 0xa000 | P | RW);
	struct mmu_regs r = regs_pae(0x1020, 1);

	EXPECT_TABLES(&r, 0x1000, 0x3000, 0x4000, 0x5000, 0x6000);
	/* Without NXE the XD bit is reserved: PD 0x4000's entry leads nowhere. */
	r = regs_pae(0x1020, 0);
	EXPECT_TABLES(&r, 0x1000, 0x3000, 0x4000, 0x5000);
	/* R/W is reserved in a PDPTE. */
	put64(0x1020 + 3 * 8, 0x4000 | P | RW);
	r = regs_pae(0x1020, 1);
	EXPECT_TABLES(&r, 0x1000, 0x3000, 0x5000);
}

static void test_table_pages_32bit(void)
{
	ram_new(1 * MiB);
	/* PD 0x2000 (4-byte entries): [0] -> PT 0x3000, [1] PS (a 4 MiB page
	 * with CR4.PSE, a PT at 0x9000 without), [1023] -> PT 0x4000. */
	put32(0x2000 + 0 * 4, 0x3000 | P | RW);
	put32(0x2000 + 1 * 4, 0x9000 | P | RW | PS);
	put32(0x2000 + 1023 * 4, 0x4000 | P);
	put32(0x3000, 0x5000 | P | RW); /* data pages */
	put32(0x4000 + 1023 * 4, 0x6000 | P);
	put32(0x9000, 0x7000 | P);
	struct mmu_regs r = regs_32(0x2000, 1);

	EXPECT_TABLES(&r, 0x2000, 0x3000, 0x4000);
	r = regs_32(0x2000, 0);
	EXPECT_TABLES(&r, 0x2000, 0x3000, 0x4000, 0x9000);
	/* CR3 bits 63:32 and 11:0 are not address bits. */
	r = regs_32(0xabcd00000000ULL | 0x2000 | 0x18, 1);
	EXPECT_TABLES(&r, 0x2000, 0x3000, 0x4000);
}

static void test_table_pages_large_pages_add_no_tables(void)
{
	ram_new(4 * MiB);
	/* PML4 0x1000 -> PDPT 0x2000: [0] 1 GiB page at 0, [1] -> PD 0x3000:
	 * [0] 2 MiB page at 0x200000, [1] 2 MiB page at 0 (RAM holds it). */
	put64(0x1000, 0x2000 | P | RW);
	put64(0x2000 + 0 * 8, 0 | P | RW | PS);
	put64(0x2000 + 1 * 8, 0x3000 | P | RW);
	put64(0x3000 + 0 * 8, 0x200000 | P | RW | PS);
	put64(0x3000 + 1 * 8, 0 | P | RW | PS);
	struct mmu_regs r = regs_long4(0x1000, 0);

	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000);
	/* PS in a PML4 entry is reserved, not a page: the entry is ignored. */
	put64(0x1000 + 8, 0x4000 | P | RW | PS);
	put64(0x4000, 0x5000 | P | RW);
	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000);
	/* A 2 MiB entry with reserved low address bits is neither a page nor a
	 * table. */
	put64(0x3000 + 2 * 8, 0x6000 | P | RW | PS);
	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000);
}

static void test_table_pages_skip_not_present_and_reserved(void)
{
	struct mmu_regs r = long4_tree();

	put64(0x5000 + 1 * 8, 0xd000 | RW | US);     /* P=0 */
	put64(0x3000 + 2 * 8, 0xe000 | RW | US);     /* P=0 */
	put64(0x5000 + 2 * 8, 0xf000 | P | RW | XD); /* XD with NXE: fine */
	EXPECT_TABLES(&r, 0x2000, 0x3000, 0x4000, 0x5000, 0x7000, 0x8000, 0x9000, 0xb000, 0xc000,
		      0xf000);
	/* Without NXE, XD is reserved: 0xf000 goes; the PT entries with XD in
	 * 0xc000 are leaves anyway. */
	r = regs_long4(0x5000, 0);
	EXPECT_TABLES(&r, 0x2000, 0x3000, 0x4000, 0x5000, 0x7000, 0x8000, 0x9000, 0xb000, 0xc000);
	/* A reserved PS bit in the PML4 entry: PDPT 0x9000 and what is under it go. */
	put64(0x5000 + 511 * 8, 0x9000 | P | RW | PS);
	EXPECT_TABLES(&r, 0x3000, 0x4000, 0x5000, 0x7000, 0x8000, 0xb000);
	/* PAE: bits 62:52 are reserved. */
	ram_new(1 * MiB);
	put64(0x1000, 0x2000 | P);
	put64(0x2000 + 0 * 8, 0x3000 | P | RW | (1ULL << 52));
	put64(0x2000 + 1 * 8, 0x4000 | P | RW);
	r = regs_pae(0x1000, 0);
	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x4000);
}

static void test_table_pages_outside_ram_left_out(void)
{
	ram_new(1 * MiB + 0x800); /* the last page only half in RAM */
	put64(0x1000 + 0 * 8, 0x2000 | P | RW);
	put64(0x1000 + 1 * 8, 0x40000000 | P | RW);         /* far outside */
	put64(0x1000 + 2 * 8, (1 * MiB) | P | RW);          /* straddles the end */
	put64(0x1000 + 3 * 8, 0x000ffffffffff000ULL | P);   /* the top of the address space */
	put64(0x2000, (1 * MiB - 0x1000) | P | RW);         /* the last whole page */
	struct mmu_regs r = regs_long4(0x1000, 0);

	EXPECT_TABLES(&r, 0x1000, 0x2000, 1 * MiB - 0x1000);
}

/* mmu.h's promise: tables outside RAM are left out; the root too. */
static void test_table_pages_root_outside_ram_left_out(void)
{
	ram_new(1 * MiB);
	struct mmu_regs r = regs_long4(0x40000000, 0);
	int n = mmu_table_pages(&ram, &r, tp, MAX_TABLE_PAGES);

	if (n == 1 && tp[0] == 0x40000000)
		TEST_FAIL("bug in vmm/mmu.c: mmu_table_pages lists CR3's page 0x40000000 "
			  "though it lies outside RAM (mmu.h: \"Tables outside RAM are left out\")");
	TEST_ASSERT_EQ(n, 0);
}

static void test_table_pages_cycles_list_each_page_once(void)
{
	ram_new(1 * MiB);
	/* PML4 0x1000: [0] -> itself, [1] -> 0x2000; 0x2000: [0] -> 0x1000,
	 * [1] -> itself, [2] -> 0x3000; 0x3000: [7] -> 0x1000. */
	put64(0x1000 + 0 * 8, 0x1000 | P | RW);
	put64(0x1000 + 1 * 8, 0x2000 | P | RW);
	put64(0x2000 + 0 * 8, 0x1000 | P | RW);
	put64(0x2000 + 1 * 8, 0x2000 | P | RW);
	put64(0x2000 + 2 * 8, 0x3000 | P | RW);
	put64(0x3000 + 7 * 8, 0x1000 | P | RW);
	struct mmu_regs r = regs_long4(0x1000, 0);

	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000);
	r = regs_long5(0x1000, 0);
	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000);
	r = regs_pae(0x1000, 0); /* PDPTE [0] -> itself (P only) */
	put64(0x1000 + 0 * 8, 0x1000 | P);
	put64(0x1000 + 1 * 8, 0x2000 | P);
	EXPECT_TABLES(&r, 0x1000, 0x2000, 0x3000);
	r = regs_32(0x1000, 0);  /* 4-byte entries: [0] -> 0x1000, [2] -> 0x2000 */
	EXPECT_TABLES(&r, 0x1000, 0x2000);

	/* Every entry of every table points at the PML4. */
	ram_new(64 * 1024);
	for (int i = 0; i < 512; i++)
		put64(0x1000 + (uint64_t)i * 8, 0x1000 | P | RW);
	r = regs_long5(0x1000, 0);
	EXPECT_TABLES(&r, 0x1000);
}

static void test_table_pages_e2big_when_max_too_small(void)
{
	struct mmu_regs r = long4_tree();
	const uint64_t want[9] = { 0x2000, 0x3000, 0x4000, 0x5000, 0x7000,
				   0x8000, 0x9000, 0xb000, 0xc000 };

	for (int max = -1; max < 9; max++)
		TEST_ASSERT_EQ(mmu_table_pages(&ram, &r, tp, max), -E2BIG);
	expect_tables(&r, 10, want, 9);
	/* Many entries to the same table need no room of their own. */
	for (int i = 0; i < 512; i++)
		put64(0x7000 + (uint64_t)i * 8, 0x4000 | P | RW);
	expect_tables(&r, 10, want, 9);
}

/* max as large as the number of distinct tables is enough, also when a table
 * is reached twice (a PT under two PDs, a recursive PML4 slot). */
static void test_table_pages_exact_max_is_enough(void)
{
	struct mmu_regs r = long4_tree();
	const uint64_t want[9] = { 0x2000, 0x3000, 0x4000, 0x5000, 0x7000,
				   0x8000, 0x9000, 0xb000, 0xc000 };
	int n = mmu_table_pages(&ram, &r, tp, 9);

	if (n == -E2BIG)
		TEST_FAIL("bug in vmm/mmu.c: mmu_table_pages returns -E2BIG with max 9 for "
			  "tables that are 9 distinct pages when one PT is under two PDs (the page "
			  "to add is not looked for among those listed before giving up); mmu.h: "
			  "\"-E2BIG if there are more than max\"");
	expect_tables(&r, 9, want, 9);

	ram_new(1 * MiB);
	put64(0x1000 + 0 * 8, 0x1000 | P | RW); /* a recursive slot */
	put64(0x1000 + 1 * 8, 0x2000 | P | RW);
	r = regs_long4(0x1000, 0);
	const uint64_t want2[2] = { 0x1000, 0x2000 };
	n = mmu_table_pages(&ram, &r, tp, 2);
	if (n == -E2BIG)
		TEST_FAIL("bug in vmm/mmu.c: mmu_table_pages returns -E2BIG with max 2 for 2 "
			  "distinct tables when the PML4 is also its own PDPT (a recursive slot)");
	expect_tables(&r, 2, want2, 2);
}

static void test_table_pages_paging_off_is_zero(void)
{
	struct mmu_regs r = long4_tree();

	r.cr0 &= ~CR0_PG;
	tp[0] = 0x1234;
	TEST_ASSERT_EQ(mmu_table_pages(&ram, &r, tp, MAX_TABLE_PAGES), 0);
	TEST_ASSERT_EQ(mmu_table_pages(&ram, &r, tp, 0), 0);
	TEST_ASSERT_EQ(tp[0], 0x1234);
}

/* On random tables: sorted, distinct, page-aligned pages inside RAM, and
 * every table a walk reads is among them. */
static void test_table_pages_cover_every_walk(void)
{
	const uint64_t size = 64 * 1024;
	uint64_t x = 0x243f6a8885a308d3ULL;
	int deep = 0;

	ram_new(size);
	for (int round = 0; round < 300; round++) {
		if (round % 30 == 0) {
			for (uint64_t i = 0; i + 8 <= size; i += 8) {
				uint64_t a = rnd(&x), b = rnd(&x);
				uint64_t e = (a & 0xf000) | (a & (P | RW | US)) | ((b & 3) ? P : 0);
				if (!(b & 0x1c))
					e |= 0x10000; /* outside RAM */
				if (!(b & 0x3e0))
					e |= PS;
				if (!(b & 0x7c00))
					e |= XD;
				if (!(b & 0xf8000))
					e |= 1ULL << 62;
				put64(i, e);
			}
		}
		struct mmu_regs r = { .cr0 = CR0_PG, .cr3 = rnd(&x) & 0xffe0,
				      .cr4 = rnd(&x) & (CR4_PSE | CR4_PAE | CR4_LA57),
				      .efer = rnd(&x) & (EFER_LMA | EFER_NXE) };
		enum mmu_mode m = mmu_mode(&r);
		int n = mmu_table_pages(&ram, &r, tp, MAX_TABLE_PAGES);

		TEST_ASSERT(n >= 1 && n <= 16);
		for (int i = 0; i < n; i++) {
			TEST_ASSERT_EQ(tp[i] & 0xfff, 0);
			TEST_ASSERT(tp[i] < size);
			TEST_ASSERT(i == 0 || tp[i - 1] < tp[i]);
		}
		for (int k = 0; k < 200; k++) {
			uint64_t va = rnd(&x);
			struct mmu_walk w;

			if (m == MMU_32 || m == MMU_PAE)
				va &= 0xffffffffULL;
			else if (m == MMU_LONG4)
				va = (uint64_t)((int64_t)(va << 16) >> 16);
			else
				va = (uint64_t)((int64_t)(va << 7) >> 7);
			int ret = mmu_translate(&ram, &r, va, &w);
			TEST_ASSERT(ret == 0 || w.fault != MMU_NONCANONICAL);
			deep += w.nsteps >= 3;
			for (int s = 0; s < w.nsteps; s++) {
				uint64_t page = w.steps[s].entry_gpa & ~0xfffULL;
				bool found = false;

				if (w.steps[s].entry_gpa >= size)
					continue; /* MMU_TABLE_OUTSIDE */
				for (int i = 0; i < n && !found; i++)
					found = tp[i] == page;
				if (!found)
					TEST_FAIL("round %d: walk of 0x%" PRIx64 " (%s) reads a table "
						  "at 0x%" PRIx64 " (level %d) not listed", round, va,
						  mmu_mode_name(m), w.steps[s].entry_gpa,
						  w.steps[s].level);
			}
		}
	}
	TEST_ASSERT(deep > 10000, "walks were too shallow to tell");
}

int main(void)
{
	RUN_TEST(test_mode_from_control_registers);
	RUN_TEST(test_walk_paging_off_is_identity);
	RUN_TEST(test_walk_paging_off_va_above_4g_too_wide);
	RUN_TEST(test_walk_32bit_4k_page);
	RUN_TEST(test_walk_32bit_cr3_ignores_low_bits_and_high_half);
	RUN_TEST(test_walk_32bit_pse_4m_page_with_pse36_high_bits);
	RUN_TEST(test_walk_32bit_pse_4m_page_pat_bit_not_address);
	RUN_TEST(test_walk_32bit_ps_ignored_without_cr4_pse);
	RUN_TEST(test_walk_32bit_pse_reserved_bit21);
	RUN_TEST(test_walk_32bit_va_above_4g_too_wide);
	RUN_TEST(test_walk_32bit_not_present_records_steps);
	RUN_TEST(test_walk_pae_4k_page);
	RUN_TEST(test_walk_pae_2m_page);
	RUN_TEST(test_walk_pae_physical_address_above_4g);
	RUN_TEST(test_walk_pae_pdpte_reserved_bits);
	RUN_TEST(test_walk_pae_reserved_bits_in_pde_and_pte);
	RUN_TEST(test_walk_pae_va_above_4g_too_wide);
	RUN_TEST(test_walk_pae_xd_reserved_without_nxe);
	RUN_TEST(test_walk_long4_4k_page_higher_half);
	RUN_TEST(test_walk_long4_2m_page_ignores_pat_bit);
	RUN_TEST(test_walk_long4_1g_page);
	RUN_TEST(test_walk_long4_large_page_low_address_bits_reserved);
	RUN_TEST(test_walk_long4_ignores_bits_52_to_62);
	RUN_TEST(test_walk_long4_ps_in_pml4e_reserved);
	RUN_TEST(test_walk_long5_ps_in_pml5e_reserved);
	RUN_TEST(test_walk_long4_permissions_and_over_levels);
	RUN_TEST(test_walk_long4_nx_with_nxe);
	RUN_TEST(test_walk_long4_xd_reserved_without_nxe);
	RUN_TEST(test_walk_long4_noncanonical);
	RUN_TEST(test_walk_long5_4k_page);
	RUN_TEST(test_walk_long5_noncanonical);
	RUN_TEST(test_walk_la57_decides_width_for_same_va);
	RUN_TEST(test_walk_long4_cr3_pcid_and_flag_bits_ignored);
	RUN_TEST(test_walk_long5_1g_and_2m_pages);
	RUN_TEST(test_walk_pae_pdpte_straddling_end_of_ram);
	RUN_TEST(test_walk_entry_pointing_past_end_of_ram);
	RUN_TEST(test_walk_page_past_end_of_ram_translates_but_has_no_host);
	RUN_TEST(test_walk_8byte_entry_straddling_end_of_ram);
	RUN_TEST(test_walk_4byte_entry_straddling_end_of_ram);
	RUN_TEST(test_walk_cr3_outside_ram);
	RUN_TEST(test_walk_self_referencing_pml4_is_a_recursive_map);
	RUN_TEST(test_walk_cycle_between_two_tables_terminates);
	RUN_TEST(test_walk_random_tables_stay_inside_ram);
	RUN_TEST(test_host_bounds_are_overflow_safe);
	RUN_TEST(test_read_across_page_boundary_joins_two_physical_pages);
	RUN_TEST(test_read_stops_at_unmapped_page);
	RUN_TEST(test_read_stops_at_end_of_ram_inside_a_large_page);
	RUN_TEST(test_read_in_32bit_mode_and_paging_off);
	RUN_TEST(test_write_all_or_nothing);
	RUN_TEST(test_write_to_read_only_page_succeeds);
	RUN_TEST(test_write_many_pages);
	RUN_TEST(test_write_over_its_own_page_table_uses_the_old_translation);
	RUN_TEST(test_format_walk_long4_lines);
	RUN_TEST(test_format_walk_faults);
	RUN_TEST(test_format_walk_truncates_safely);
	RUN_TEST(test_table_pages_long4_tree);
	RUN_TEST(test_table_pages_duplicate_entries_listed_once);
	RUN_TEST(test_table_pages_long5);
	RUN_TEST(test_table_pages_pae);
	RUN_TEST(test_table_pages_32bit);
	RUN_TEST(test_table_pages_large_pages_add_no_tables);
	RUN_TEST(test_table_pages_skip_not_present_and_reserved);
	RUN_TEST(test_table_pages_outside_ram_left_out);
	RUN_TEST(test_table_pages_root_outside_ram_left_out);
	RUN_TEST(test_table_pages_cycles_list_each_page_once);
	RUN_TEST(test_table_pages_e2big_when_max_too_small);
	RUN_TEST(test_table_pages_exact_max_is_enough);
	RUN_TEST(test_table_pages_paging_off_is_zero);
	RUN_TEST(test_table_pages_cover_every_walk);
	free(ram.base);
	TEST_MAIN_END();
}
