/* fuzz_walk.c - libFuzzer target: arbitrary page tables for the walker.
 *
 * An input is a 17-byte header and then records that build a RAM image:
 *
 *   [0]      flags: 1 CR0.PG, 2 CR4.PAE, 4 EFER.LME+LMA, 8 CR4.LA57,
 *            16 CR4.PSE, 32 EFER.NXE, 64 CR3 bit 40 (far outside RAM)
 *   [1..4]   CR3, little-endian (low bits included: the walker masks them)
 *   [5..12]  the virtual address
 *   [13..14] a length for mmu_read / mmu_write
 *   [15]     RAM size: (1 + low nibble) pages less (high nibble) bytes, so a
 *            table entry can straddle the end of RAM
 *   [16]     the capacity of mmu_format_walk's buffer (0: NULL)
 *   then     10-byte records: a 16-bit slot and a 64-bit value stored at
 *            slot * 4 modulo the RAM size (cut at the end of RAM)
 *
 * RAM is a heap block of exactly its size, so ASan catches any read past
 * it.  Besides not crashing, the walker must keep its promises: a read
 * returns what per-byte translation finds, a failed write changes nothing,
 * a translation keeps the offset within its page, format_walk truncates.
 *
 * Built with libFuzzer by `make fuzz`; tests/unit_fuzz_replay.c includes this
 * file with FUZZ_ENTRY renamed to replay the seed corpus in `make test`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/mmu.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define FW_HEADER 17
#define FW_MAX_LEN 0x3000

#define FW_CHECK(cond)                                                             \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_walk: broken promise: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__);                        \
			abort();                                                   \
		}                                                                  \
	} while (0)

static uint64_t fw_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void fw_check_walk(const struct mmu_ram *ram, const struct mmu_walk *w, int r,
			  uint64_t va)
{
	FW_CHECK(w->nsteps >= 0 && w->nsteps <= 5);
	if (r) {
		FW_CHECK(r == -EFAULT && w->fault != MMU_OK);
		if (w->fault == MMU_TABLE_OUTSIDE)
			FW_CHECK(w->nsteps > 0 &&
				 !mmu_host(ram, w->steps[w->nsteps - 1].entry_gpa, 4 + 4 * (w->mode != MMU_32)));
		return;
	}
	FW_CHECK(w->fault == MMU_OK);
	FW_CHECK(w->page_size == 1ULL << 12 || w->page_size == 1ULL << 21 ||
		 w->page_size == 1ULL << 22 || w->page_size == 1ULL << 30);
	FW_CHECK((w->gpa & (w->page_size - 1)) == (va & (w->page_size - 1)));
	for (int i = 0; i < w->nsteps; i++)
		FW_CHECK(mmu_host(ram, w->steps[i].entry_gpa, 1) != NULL);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	static uint8_t buf[FW_MAX_LEN], before_buf[FW_MAX_LEN];
	struct mmu_regs regs = { 0 };
	struct mmu_ram ram;
	struct mmu_walk w;
	uint8_t *before;
	uint64_t va, len;
	size_t cap;
	char *text;
	long n;
	int r;

	if (size < FW_HEADER)
		return 0;
	uint8_t f = data[0];
	if (f & 1)
		regs.cr0 = 1ULL << 31 | 1;
	if (f & 2)
		regs.cr4 |= 1ULL << 5;
	if (f & 4)
		regs.efer |= 1ULL << 8 | 1ULL << 10;
	if (f & 8)
		regs.cr4 |= 1ULL << 12;
	if (f & 16)
		regs.cr4 |= 1ULL << 4;
	if (f & 32)
		regs.efer |= 1ULL << 11;
	regs.cr3 = fw_le(data + 1, 4) | (f & 64 ? 1ULL << 40 : 0);
	va = fw_le(data + 5, 8);
	len = fw_le(data + 13, 2) % (FW_MAX_LEN + 1);
	ram.size = (1 + (data[15] & 15)) * 4096ULL - (data[15] >> 4);
	cap = data[16];

	ram.base = calloc(1, ram.size);
	before = malloc(ram.size);
	text = cap ? malloc(cap) : NULL;
	if (!ram.base || !before || (cap && !text))
		goto out;
	for (size_t off = FW_HEADER; off + 10 <= size; off += 10) {
		uint64_t at = fw_le(data + off, 2) * 4 % ram.size;

		for (int i = 0; i < 8 && at + (uint64_t)i < ram.size; i++)
			ram.base[at + (uint64_t)i] = data[off + 2 + i];
	}

	r = mmu_translate(&ram, &regs, va, &w);
	fw_check_walk(&ram, &w, r, va);
	FW_CHECK(w.mode == mmu_mode(&regs));

	/* A read is what byte-by-byte translation finds, up to where it stops. */
	n = mmu_read(&ram, &regs, va, buf, (size_t)len);
	FW_CHECK(n == -EFAULT || (n >= 0 && (uint64_t)n <= len));
	FW_CHECK(len == 0 || n != 0);
	if (n == -EFAULT)
		FW_CHECK(r || !mmu_host(&ram, w.gpa, 1));
	for (long i = 0; i < n && i < 64; i++) {
		struct mmu_walk wi;

		FW_CHECK(mmu_translate(&ram, &regs, va + (uint64_t)i, &wi) == 0);
		FW_CHECK(mmu_host(&ram, wi.gpa, 1) && ram.base[wi.gpa] == buf[i]);
	}

	/* format_walk: the full length, truncated output NUL-terminated. */
	int full = mmu_format_walk(&ram, &regs, va, NULL, 0);
	if (text) {
		int m = mmu_format_walk(&ram, &regs, va, text, cap);

		FW_CHECK(m == full && m > 0);
		FW_CHECK(strlen(text) == ((size_t)m < cap ? (size_t)m : cap - 1));
	}

	/* A write is all or nothing. */
	for (uint64_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 29 + f);
	memcpy(before, ram.base, ram.size);
	memcpy(before_buf, buf, len);
	r = mmu_write(&ram, &regs, va, buf, (size_t)len);
	FW_CHECK(r == 0 || r == -EFAULT);
	if (r)
		FW_CHECK(!memcmp(before, ram.base, ram.size));
	FW_CHECK(!memcmp(before_buf, buf, len));

out:
	free(text);
	free(before);
	free(ram.base);
	return 0;
}
