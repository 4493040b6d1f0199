/*
 * pt.c - page-table builder of the guests' runtime; see rt.h.  One loop over
 * the levels of a format described by a table, for 32-bit, PAE and 4-level
 * paging.  Compiled twice: -m32 and -m64.
 */
#include "rt.h"

const struct pt_format pt_fmt_32 = {
	.name = "32-bit", .levels = 2, .entry_size = 4,
	.shift = { 22, 12 }, .bits = { 10, 10 }, .large_ok = { 1, 0 },
	.root_flags_mask = ~0ull,
};

const struct pt_format pt_fmt_pae = {
	.name = "PAE", .levels = 3, .entry_size = 8,
	.shift = { 30, 21, 12 }, .bits = { 2, 9, 9 }, .large_ok = { 0, 1, 0 },
	/* RW/US/A/... are reserved in a PDPTE: loading CR3 would #GP. */
	.root_flags_mask = PTE_P | PTE_PWT | PTE_PCD,
};

const struct pt_format pt_fmt_4level = {
	.name = "4-level", .levels = 4, .entry_size = 8,
	.shift = { 39, 30, 21, 12 }, .bits = { 9, 9, 9, 9 }, .large_ok = { 0, 1, 1, 0 },
	.root_flags_mask = ~0ull,
};

static uint64_t entry_get(const struct pt *pt, uint64_t table, unsigned idx)
{
	uintptr_t p = (uintptr_t)table + pt->virt_off;

	if (pt->fmt->entry_size == 4)
		return ((volatile uint32_t *)p)[idx];
	return ((volatile uint64_t *)p)[idx];
}

static void entry_set(const struct pt *pt, uint64_t table, unsigned idx, uint64_t e)
{
	uintptr_t p = (uintptr_t)table + pt->virt_off;

	if (pt->fmt->entry_size == 4)
		((volatile uint32_t *)p)[idx] = (uint32_t)e;
	else
		((volatile uint64_t *)p)[idx] = e;
}

static uint64_t entry_addr(const struct pt *pt, uint64_t e)
{
	return pt->fmt->entry_size == 4 ? (e & 0xfffff000ull) : (e & 0x000ffffffffff000ull);
}

/* The table at `level` that holds va's entry, creating tables on the way. */
static int walk_to(struct pt *pt, uint64_t va, int level, uint64_t *table)
{
	uint64_t t = pt->root;
	int l;

	for (l = 0; l < level; l++) {
		unsigned idx = (unsigned)(va >> pt->fmt->shift[l]) & ((1u << pt->fmt->bits[l]) - 1);
		uint64_t e = entry_get(pt, t, idx);

		if (!(e & PTE_P)) {
			if (pt->pool + PAGE_4K > pt->pool_end)
				return -2;
			e = pt->pool | ((PTE_P | PTE_RW) & (l == 0 ? pt->fmt->root_flags_mask : ~0ull));
			pt->pool += PAGE_4K;
			entry_set(pt, t, idx, e);
		} else if ((e & PTE_PS) && pt->fmt->large_ok[l]) {
			return -3;
		}
		t = entry_addr(pt, e);
	}
	*table = t;
	return 0;
}

static int level_of(const struct pt *pt, uint64_t size)
{
	int l;

	for (l = pt->fmt->levels - 1; l >= 0; l--)
		if (size == 1ull << pt->fmt->shift[l])
			return (l == pt->fmt->levels - 1 || pt->fmt->large_ok[l]) ? l : -1;
	return -1;
}

static int set_entry(struct pt *pt, uint64_t va, uint64_t size, uint64_t e)
{
	int level = level_of(pt, size);
	uint64_t table;
	unsigned idx;
	int r;

	if (level < 0 || (va & (size - 1)))
		return -1;
	r = walk_to(pt, va, level, &table);
	if (r)
		return r;
	idx = (unsigned)(va >> pt->fmt->shift[level]) & ((1u << pt->fmt->bits[level]) - 1);
	entry_set(pt, table, idx, e);
	return 0;
}

int pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags)
{
	int last = pt->fmt->levels - 1;

	if (pa & (size - 1))
		return -1;
	if (size != 1ull << pt->fmt->shift[last])
		flags |= PTE_PS;
	return set_entry(pt, va, size, pa | flags | PTE_P);
}

int pt_map_range(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		 uint64_t page_size, uint64_t flags)
{
	uint64_t off;
	int r;

	for (off = 0; off < size; off += page_size) {
		r = pt_map(pt, va + off, pa + off, page_size, flags);
		if (r)
			return r;
	}
	return 0;
}

int pt_unmap(struct pt *pt, uint64_t va, uint64_t size)
{
	return set_entry(pt, va, size, 0);
}
