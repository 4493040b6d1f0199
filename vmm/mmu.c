/* mmu.c - the guest page-table walker.
 *
 * Every paging mode is described by a small table of levels (index shift and
 * width, whether the level may map a page, its reserved bits); one loop walks
 * it.  MAXPHYADDR is taken as 52, and 1 GiB pages as supported, so a walk
 * accepts what the most capable CPU would; PAE PDPTEs are read from memory at
 * each walk, not from the registers the CPU loaded at the last CR3 write.
 */
#include "vmm/mmu.h"
#include "vmm/x86.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXPHYADDR 52

/* Bits hi..lo inclusive; empty when lo > hi. */
#define BITS(hi, lo) ((lo) > (hi) ? 0ULL : (~0ULL >> (63 - (hi))) & ~((1ULL << (lo)) - 1))

enum large { LARGE_NEVER, LARGE_PS, LARGE_PS_IF_PSE };

struct mmu_level {
	int level;           /* SDM numbering: PML5=5 ... PT=1 */
	const char *name;
	unsigned shift;      /* va bits this level's index starts at */
	unsigned index_bits; /* 10, 9, or 2 for the PAE PDPT */
	enum large large;    /* may this level map a page (PS=1)? */
	int no_perm;         /* R/W, U/S do not exist here (PAE PDPTE) */
	uint64_t rsvd;       /* reserved whenever P=1 */
	uint64_t rsvd_large; /* further reserved when the entry maps a page */
};

struct mmu_format {
	int nlevels;
	unsigned entry_size; /* 4 or 8 bytes */
	unsigned va_bits;    /* 32: va >= 4 GiB is too wide; 48/57: canonical */
	uint64_t cr3_mask;
	uint64_t addr_mask;  /* address bits of an entry */
	int has_xd;          /* bit 63 is XD with EFER.NXE, reserved without */
	int pse36;           /* 4 MiB pages take PA bits 39:32 from bits 20:13 */
	struct mmu_level lv[5];
};

#define LONG_RSVD BITS(51, MAXPHYADDR)
#define PAE_RSVD  BITS(62, MAXPHYADDR)

#define LONG_LEVELS                                                              \
	{ 4, "PML4", 39, 9, LARGE_NEVER, 0, LONG_RSVD | PTE_PS, 0 },             \
	{ 3, "PDPT", 30, 9, LARGE_PS, 0, LONG_RSVD, BITS(29, 13) },              \
	{ 2, "PD", 21, 9, LARGE_PS, 0, LONG_RSVD, BITS(20, 13) },                \
	{ 1, "PT", 12, 9, LARGE_NEVER, 0, LONG_RSVD, 0 }

static const struct mmu_format formats[] = {
	[MMU_32] = {
		.nlevels = 2, .entry_size = 4, .va_bits = 32,
		.cr3_mask = BITS(31, 12), .addr_mask = BITS(31, 12), .pse36 = 1,
		.lv = {
			/* PSE-36 with MAXPHYADDR >= 40 leaves only bit 21 reserved. */
			{ 2, "PD", 22, 10, LARGE_PS_IF_PSE, 0, 0, 1ULL << 21 },
			{ 1, "PT", 12, 10, LARGE_NEVER, 0, 0, 0 },
		},
	},
	[MMU_PAE] = {
		.nlevels = 3, .entry_size = 8, .va_bits = 32,
		.cr3_mask = BITS(31, 5), .addr_mask = BITS(MAXPHYADDR - 1, 12),
		.has_xd = 1,
		.lv = {
			/* The PDPTE has no R/W, U/S, PS or XD: they are reserved. */
			{ 3, "PDPT", 30, 2, LARGE_NEVER, 1,
			  PAE_RSVD | BITS(2, 1) | BITS(8, 5) | PTE_XD, 0 },
			{ 2, "PD", 21, 9, LARGE_PS, 0, PAE_RSVD, BITS(20, 13) },
			{ 1, "PT", 12, 9, LARGE_NEVER, 0, PAE_RSVD, 0 },
		},
	},
	[MMU_LONG4] = {
		.nlevels = 4, .entry_size = 8, .va_bits = 48,
		.cr3_mask = BITS(MAXPHYADDR - 1, 12), .addr_mask = BITS(MAXPHYADDR - 1, 12),
		.has_xd = 1,
		.lv = { LONG_LEVELS },
	},
	[MMU_LONG5] = {
		.nlevels = 5, .entry_size = 8, .va_bits = 57,
		.cr3_mask = BITS(MAXPHYADDR - 1, 12), .addr_mask = BITS(MAXPHYADDR - 1, 12),
		.has_xd = 1,
		.lv = {
			{ 5, "PML5", 48, 9, LARGE_NEVER, 0, LONG_RSVD | PTE_PS, 0 },
			LONG_LEVELS,
		},
	},
};

enum mmu_mode mmu_mode(const struct mmu_regs *r)
{
	if (!(r->cr0 & CR0_PG))
		return MMU_OFF;
	if (!(r->cr4 & CR4_PAE))
		return MMU_32;
	if (!(r->efer & (EFER_LMA | EFER_LME)))
		return MMU_PAE;
	return (r->cr4 & CR4_LA57) ? MMU_LONG5 : MMU_LONG4;
}

const char *mmu_mode_name(enum mmu_mode m)
{
	switch (m) {
	case MMU_OFF:   return "off";
	case MMU_32:    return "32-bit";
	case MMU_PAE:   return "PAE";
	case MMU_LONG4: return "4-level";
	case MMU_LONG5: return "5-level";
	}
	return "?";
}

const char *mmu_fault_name(enum mmu_fault f)
{
	switch (f) {
	case MMU_OK:            return "ok";
	case MMU_NOT_PRESENT:   return "not present";
	case MMU_RESERVED:      return "reserved bits set";
	case MMU_TABLE_OUTSIDE: return "table outside RAM";
	case MMU_NONCANONICAL:  return "non-canonical address";
	case MMU_TOO_WIDE:      return "address above 4 GiB";
	}
	return "?";
}

void *mmu_host(const struct mmu_ram *ram, uint64_t gpa, uint64_t len)
{
	if (!ram->base || gpa > ram->size || len > ram->size - gpa)
		return NULL;
	return ram->base + gpa;
}

static int canonical(uint64_t va, unsigned bits)
{
	uint64_t top = va >> (bits - 1);

	return top == 0 || top == ~0ULL >> (bits - 1);
}

static uint64_t read_entry(const uint8_t *p, unsigned size)
{
	uint64_t e = 0;

	for (unsigned i = 0; i < size; i++)
		e |= (uint64_t)p[i] << (8 * i);
	return e;
}

static int maps_page(const struct mmu_level *l, const struct mmu_regs *r, uint64_t e)
{
	if (!(e & PTE_PS))
		return 0;
	return l->large == LARGE_PS || (l->large == LARGE_PS_IF_PSE && (r->cr4 & CR4_PSE));
}

/* The bits of a present entry e that are set but reserved. */
static uint64_t reserved_bits(const struct mmu_format *f, const struct mmu_level *l,
			      const struct mmu_regs *r, uint64_t e)
{
	uint64_t rsvd = l->rsvd;

	if (maps_page(l, r, e))
		rsvd |= l->rsvd_large;
	if (f->has_xd && !(r->efer & EFER_NXE))
		rsvd |= PTE_XD;
	return e & rsvd;
}

static uint64_t page_frame(const struct mmu_format *f, uint64_t e, uint64_t size)
{
	if (f->pse36 && size > PAGE_SIZE)
		return (e & BITS(31, 22)) | ((e >> 13) & 0xff) << 32;
	return e & f->addr_mask & ~(size - 1);
}

static int walk_fail(struct mmu_walk *w, enum mmu_fault f)
{
	w->fault = f;
	return -EFAULT;
}

int mmu_translate(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va,
		  struct mmu_walk *w)
{
	memset(w, 0, sizeof(*w));
	w->mode = mmu_mode(r);
	w->page_size = PAGE_SIZE;
	w->writable = w->user = 1;

	if (w->mode == MMU_OFF) {
		if ((va >> 32) && !(r->efer & EFER_LMA))
			return walk_fail(w, MMU_TOO_WIDE);
		w->gpa = va;
		return 0;
	}

	const struct mmu_format *f = &formats[w->mode];
	if (f->va_bits == 32 && (va >> 32))
		return walk_fail(w, MMU_TOO_WIDE);
	if (f->va_bits > 32 && !canonical(va, f->va_bits))
		return walk_fail(w, MMU_NONCANONICAL);

	int nxe = f->has_xd && (r->efer & EFER_NXE);
	uint64_t table = r->cr3 & f->cr3_mask;

	/* Bounded by nlevels: a cyclic or self-referencing table cannot loop. */
	for (int i = 0; i < f->nlevels; i++) {
		const struct mmu_level *l = &f->lv[i];
		uint64_t index = (va >> l->shift) & ((1ULL << l->index_bits) - 1);
		struct mmu_step *s = &w->steps[w->nsteps++];

		s->level = l->level;
		s->entry_gpa = table + index * f->entry_size;
		const uint8_t *p = mmu_host(ram, s->entry_gpa, f->entry_size);
		if (!p)
			return walk_fail(w, MMU_TABLE_OUTSIDE);
		uint64_t e = read_entry(p, f->entry_size);
		s->entry = e;

		if (!(e & PTE_P))
			return walk_fail(w, MMU_NOT_PRESENT);
		if (reserved_bits(f, l, r, e))
			return walk_fail(w, MMU_RESERVED);
		if (!l->no_perm) {
			w->writable &= !!(e & PTE_RW);
			w->user &= !!(e & PTE_US);
		}
		if (nxe && (e & PTE_XD))
			w->nx = 1;

		if (maps_page(l, r, e) || i == f->nlevels - 1) {
			w->page_size = 1ULL << l->shift;
			w->gpa = page_frame(f, e, w->page_size) | (va & (w->page_size - 1));
			return 0;
		}
		table = e & f->addr_mask;
	}
	return walk_fail(w, MMU_NOT_PRESENT); /* not reached: the last level maps */
}

/* Translate va and return a host pointer to the bytes from va to the end of
 * its page, at most want of them and only those inside RAM (*n says how many). */
static uint8_t *chunk_at(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va,
			 uint64_t want, uint64_t *n)
{
	struct mmu_walk w;

	if (mmu_translate(ram, r, va, &w) || w.gpa >= ram->size)
		return NULL;
	*n = w.page_size - (va & (w.page_size - 1));
	if (*n > want)
		*n = want;
	if (*n > ram->size - w.gpa)
		*n = ram->size - w.gpa;
	return mmu_host(ram, w.gpa, *n);
}

long mmu_read(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va, void *buf,
	      size_t len)
{
	size_t done = 0;

	if (len > LONG_MAX)
		len = LONG_MAX;
	while (done < len) {
		uint64_t n;
		const uint8_t *p = chunk_at(ram, r, va + done, len - done, &n);

		if (!p)
			break;
		memcpy((uint8_t *)buf + done, p, n);
		done += n;
	}
	if (len && !done)
		return -EFAULT;
	return (long)done;
}

struct chunk {
	uint8_t *host;
	size_t len;
};

int mmu_write(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va,
	      const void *buf, size_t len)
{
	/* Every chunk but the first and last is at least a 4 KiB page. */
	struct chunk local[16], *chunks = local;
	size_t max = len / PAGE_SIZE + 2, nchunks = 0, done = 0;
	int ret = 0;

	if (max > sizeof(local) / sizeof(local[0])) {
		chunks = calloc(max, sizeof(*chunks));
		if (!chunks)
			return -ENOMEM;
	}
	/* Translate everything before writing anything: the write may hit the
	 * page tables that map the rest of the range. */
	while (done < len) {
		uint64_t n;
		uint8_t *p = chunk_at(ram, r, va + done, len - done, &n);

		if (!p || nchunks == max) {
			ret = -EFAULT;
			goto out;
		}
		chunks[nchunks++] = (struct chunk){ p, n };
		done += n;
	}
	done = 0;
	for (size_t i = 0; i < nchunks; i++) {
		memmove(chunks[i].host, (const uint8_t *)buf + done, chunks[i].len);
		done += chunks[i].len;
	}
out:
	if (chunks != local)
		free(chunks);
	return ret;
}

struct out {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3)))
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (o->len < o->cap)
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void format_entry(struct out *o, const struct mmu_format *f, const struct mmu_level *l,
			 const struct mmu_regs *r, uint64_t e)
{
	if (f->entry_size == 4)
		out_printf(o, "0x%08llx", (unsigned long long)e);
	else
		out_printf(o, "0x%016llx", (unsigned long long)e);
	if (!(e & PTE_P)) {
		out_printf(o, " not present");
		return;
	}
	out_printf(o, " P");
	if (!l->no_perm)
		out_printf(o, "%s%s", e & PTE_RW ? " RW" : " RO", e & PTE_US ? " US" : "");
	if (e & PTE_A)
		out_printf(o, " A");
	if (maps_page(l, r, e) || l->level == 1)
		out_printf(o, "%s", e & PTE_D ? " D" : "");
	if (maps_page(l, r, e))
		out_printf(o, " PS");
	if (f->has_xd && (r->efer & EFER_NXE) && (e & PTE_XD))
		out_printf(o, " XD");
	uint64_t bad = reserved_bits(f, l, r, e);
	if (bad)
		out_printf(o, " reserved 0x%llx", (unsigned long long)bad);
}

static const char *size_name(uint64_t size)
{
	switch (size) {
	case 1ULL << 12: return "4K";
	case 1ULL << 21: return "2M";
	case 1ULL << 22: return "4M";
	case 1ULL << 30: return "1G";
	}
	return "?";
}

int mmu_format_walk(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t va,
		    char *out, size_t cap)
{
	struct out o = { out, out ? cap : 0, 0 };
	struct mmu_walk w;
	int ret = mmu_translate(ram, r, va, &w);
	const char *outside = "";

	if (o.cap)
		out[0] = '\0';
	if (!ret && !mmu_host(ram, w.gpa, 1))
		outside = " (outside RAM)";

	if (w.mode == MMU_OFF) {
		if (ret)
			out_printf(&o, "paging off: fault: %s: 0x%llx\n", mmu_fault_name(w.fault),
				   (unsigned long long)va);
		else
			out_printf(&o, "paging off: linear = physical 0x%llx%s\n",
				   (unsigned long long)w.gpa, outside);
		return o.len > INT_MAX ? INT_MAX : (int)o.len;
	}

	const struct mmu_format *f = &formats[w.mode];
	out_printf(&o, "%s paging, CR3 0x%llx%s\n", mmu_mode_name(w.mode),
		   (unsigned long long)r->cr3,
		   f->has_xd ? ((r->efer & EFER_NXE) ? ", NXE" : ", no NXE") : "");
	for (int i = 0; i < w.nsteps; i++) {
		const struct mmu_level *l = &f->lv[i];
		const struct mmu_step *s = &w.steps[i];
		unsigned index = (unsigned)((va >> l->shift) & ((1ULL << l->index_bits) - 1));

		out_printf(&o, "%s[%u] @0x%llx = ", l->name, index,
			   (unsigned long long)s->entry_gpa);
		if (ret && w.fault == MMU_TABLE_OUTSIDE && i == w.nsteps - 1)
			out_printf(&o, "(outside RAM)");
		else
			format_entry(&o, f, l, r, s->entry);
		out_printf(&o, "\n");
	}
	if (ret && w.nsteps)
		out_printf(&o, "-> 0x%llx: fault: %s at %s level\n", (unsigned long long)va,
			   mmu_fault_name(w.fault), f->lv[w.nsteps - 1].name);
	else if (ret)
		out_printf(&o, "-> 0x%llx: fault: %s for %s paging\n", (unsigned long long)va,
			   mmu_fault_name(w.fault), mmu_mode_name(w.mode));
	else
		out_printf(&o, "-> 0x%llx = phys 0x%llx%s (%s page, %s, %s, %s)\n",
			   (unsigned long long)va, (unsigned long long)w.gpa, outside,
			   size_name(w.page_size), w.writable ? "RW" : "RO",
			   w.user ? "user" : "supervisor", w.nx ? "NX" : "X");
	return o.len > INT_MAX ? INT_MAX : (int)o.len;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and drop duplicates; returns the new count. */
static int sort_unique(uint64_t *v, int n)
{
	int k = 0;

	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	for (int i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

int mmu_table_pages(const struct mmu_ram *ram, const struct mmu_regs *r, uint64_t *pages, int max)
{
	enum mmu_mode m = mmu_mode(r);
	const struct mmu_format *f;
	int n, lo, hi;

	if (m == MMU_OFF)
		return 0;
	if (max < 1)
		return -E2BIG;
	f = &formats[m];
	if (!mmu_host(ram, r->cr3 & f->cr3_mask, f->entry_size << f->lv[0].index_bits))
		return 0;
	/* pages[lo, hi) are the tables of level i; their children go after. */
	pages[0] = r->cr3 & f->cr3_mask;
	n = 1;
	lo = 0;
	for (int i = 0; i < f->nlevels - 1; i++) {
		const struct mmu_level *l = &f->lv[i];
		uint64_t entries = 1ULL << l->index_bits;

		hi = n;
		for (int k = lo; k < hi; k++) {
			const uint8_t *p = mmu_host(ram, pages[k], entries * f->entry_size);

			for (uint64_t e_i = 0; p && e_i < entries; e_i++) {
				uint64_t e = read_entry(p + e_i * f->entry_size, f->entry_size);

				if (!(e & PTE_P) || reserved_bits(f, l, r, e) || maps_page(l, r, e))
					continue;
				if (!mmu_host(ram, e & f->addr_mask, PAGE_SIZE))
					continue;
				if (n == max) {
					/* full: make room by dropping duplicates first */
					bool known = false;
					int kept = hi;

					n = hi + sort_unique(pages + hi, n - hi);
					for (int c = hi; c < n; c++) { /* and those listed already */
						bool dup = false;

						for (int j = 0; j < hi && !dup; j++)
							dup = pages[j] == pages[c];
						if (!dup)
							pages[kept++] = pages[c];
					}
					n = kept;
					for (int j = 0; j < n && !known; j++)
						known = pages[j] == (e & f->addr_mask);
					if (known)
						continue;
					if (n == max)
						return -E2BIG;
				}
				pages[n++] = e & f->addr_mask;
			}
		}
		n = hi + sort_unique(pages + hi, n - hi);
		lo = hi;
	}
	for (int k = 0; k < n; k++)
		pages[k] &= ~(PAGE_SIZE - 1);
	return sort_unique(pages, n);
}
