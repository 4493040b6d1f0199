/* record.c - the execution log behind reverse debugging (see record.h).
 *
 * An entry in a block, packed byte by byte (little-endian, unaligned):
 *   u32 size, u16 cpu, u8 kind, u8 nwrites, u64 mask, u16 blob_len
 *   popcount(mask) words (before ^ after), each as u8 n and its n low bytes
 *   blob before, blob after (blob_len each)
 *   nwrites x { u64 gpa, u32 len, old[len], new[len] }
 *   u32 size (so the log can be walked backwards)
 * A typical instruction changes RIP, RFLAGS and a register by a few bits:
 * some 35 bytes with one memory write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/record.h"

#define HDR 18
#define TRAILER 4

struct rec_block {
	struct rec_block *prev, *next;
	size_t cap, used;
	uint64_t entries, steps;
	uint8_t data[];
};

void rec_init(struct rec_log *l, size_t limit)
{
	memset(l, 0, sizeof(*l));
	if (limit < 8192)
		limit = 8192;
	l->limit = limit;
	/* eight blocks to a full log: dropping one frees an eighth of it */
	l->block_size = limit / 8 > (1 << 20) ? (1 << 20) : limit / 8 < 512 ? 512 : limit / 8;
}

void rec_free(struct rec_log *l)
{
	struct rec_block *b = l->head;

	while (b) {
		struct rec_block *n = b->next;

		free(b);
		b = n;
	}
	rec_init(l, l->limit);
}

bool rec_at_end(const struct rec_log *l)
{
	return !l->cur || (l->off == l->cur->used && !l->cur->next);
}

bool rec_at_begin(const struct rec_log *l)
{
	return !l->cur || (l->off == 0 && !l->cur->prev);
}

void rec_begin(struct rec_build *b, int cpu, enum rec_kind kind)
{
	b->cpu = cpu;
	b->kind = kind;
	b->mask = 0;
	b->blob_len = 0;
	b->nwrites = 0;
	b->wlen = 0;
}

void rec_set_state(struct rec_build *b, const uint64_t *before, const uint64_t *after, int n)
{
	for (int i = 0; i < n && i < REC_WORDS; i++) {
		uint64_t x = before[i] ^ after[i];

		if (x) {
			b->mask |= 1ULL << i;
			b->words[i] = x;
		}
	}
}

void rec_set_blobs(struct rec_build *b, const void *before, const void *after, size_t len)
{
	if (len > REC_BLOB_MAX)
		len = REC_BLOB_MAX;
	memcpy(b->blob[0], before, len);
	memcpy(b->blob[1], after, len);
	b->blob_len = len;
}

int rec_add_write(struct rec_build *b, uint64_t gpa, const void *old, const void *new_, uint32_t len)
{
	size_t need = 12 + 2 * (size_t)len;
	uint8_t *p;

	if (b->nwrites == REC_MAX_WRITES)
		return -ENOSPC;
	if (b->wlen + need > b->wcap) {
		size_t cap = b->wcap ? b->wcap : 256;

		while (cap < b->wlen + need)
			cap *= 2;
		p = realloc(b->wbuf, cap);
		if (!p)
			return -ENOMEM;
		b->wbuf = p;
		b->wcap = cap;
	}
	p = b->wbuf + b->wlen;
	memcpy(p, &gpa, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, old, len);
	memcpy(p + 12 + len, new_, len);
	b->wlen += need;
	b->nwrites++;
	return 0;
}

bool rec_build_empty(const struct rec_build *b)
{
	return !b->mask && !b->blob_len && !b->nwrites;
}

void rec_build_free(struct rec_build *b)
{
	free(b->wbuf);
	b->wbuf = NULL;
	b->wlen = b->wcap = 0;
}

/* Bytes that hold a non-zero word. */
static unsigned word_bytes(uint64_t w)
{
	return (unsigned)(71 - __builtin_clzll(w)) / 8; /* (71 - clz) / 8 = ceil(bits / 8) */
}

static size_t entry_size(const struct rec_build *b)
{
	size_t n = HDR + 2 * b->blob_len + b->wlen + TRAILER;

	for (int i = 0; i < REC_WORDS; i++)
		if (b->mask >> i & 1)
			n += 1 + word_bytes(b->words[i]);
	return n;
}

static void drop_head(struct rec_log *l)
{
	struct rec_block *b = l->head;

	l->head = b->next;
	if (l->head)
		l->head->prev = NULL;
	else
		l->tail = NULL;
	if (l->cur == b) { /* (only ever at the end of the log) */
		l->cur = l->head;
		l->off = 0;
	}
	l->bytes -= sizeof(*b) + b->cap;
	l->used -= b->used;
	l->entries -= b->entries;
	l->steps -= b->steps;
	l->dropped += b->steps;
	free(b);
}

long rec_append(struct rec_log *l, const struct rec_build *b)
{
	size_t size = entry_size(b);
	uint64_t dropped = l->dropped;
	struct rec_block *blk = l->tail;
	uint8_t *p;

	if (!rec_at_end(l))
		return -EINVAL;
	if (blk && !blk->used && blk->cap < size) { /* an emptied block too small: away with it */
		l->tail = blk->prev;
		if (l->tail)
			l->tail->next = NULL;
		else
			l->head = NULL;
		l->bytes -= sizeof(*blk) + blk->cap;
		free(blk);
		blk = l->tail;
		l->cur = blk;
		l->off = blk ? blk->used : 0;
	}
	if (!blk || blk->used + size > blk->cap) {
		size_t cap = size > l->block_size ? size : l->block_size;

		while (l->head && l->bytes + sizeof(*blk) + cap > l->limit)
			drop_head(l);
		blk = malloc(sizeof(*blk) + cap);
		if (!blk)
			return -ENOMEM;
		memset(blk, 0, sizeof(*blk));
		blk->cap = cap;
		blk->prev = l->tail;
		if (l->tail)
			l->tail->next = blk;
		else
			l->head = blk;
		l->tail = blk;
		l->bytes += sizeof(*blk) + cap;
	}
	p = blk->data + blk->used;
	{
		uint32_t sz = (uint32_t)size;
		uint16_t cpu = (uint16_t)b->cpu, bl = (uint16_t)b->blob_len;

		memcpy(p, &sz, 4);
		memcpy(p + 4, &cpu, 2);
		p[6] = (uint8_t)b->kind;
		p[7] = (uint8_t)b->nwrites;
		memcpy(p + 8, &b->mask, 8);
		memcpy(p + 16, &bl, 2);
		p += HDR;
		for (int i = 0; i < REC_WORDS; i++)
			if (b->mask >> i & 1) {
				unsigned n = word_bytes(b->words[i]);

				*p++ = (uint8_t)n;
				memcpy(p, &b->words[i], n); /* (little-endian: the low bytes) */
				p += n;
			}
		if (b->blob_len) {
			memcpy(p, b->blob[0], b->blob_len);
			memcpy(p + b->blob_len, b->blob[1], b->blob_len);
			p += 2 * b->blob_len;
		}
		if (b->wlen)
			memcpy(p, b->wbuf, b->wlen);
		p += b->wlen;
		memcpy(p, &sz, 4);
	}
	blk->used += size;
	blk->entries++;
	blk->steps += b->kind == REC_STEP;
	l->used += size;
	l->entries++;
	l->steps += b->kind == REC_STEP;
	l->cur = blk;
	l->off = blk->used;
	return (long)(l->dropped - dropped);
}

/* Decode the entry at p (written by rec_append, so trusted). */
static void parse(const uint8_t *p, struct rec_view *v)
{
	uint16_t cpu, bl;
	const uint8_t *q;
	int k = 0;

	memcpy(&cpu, p + 4, 2);
	v->cpu = cpu;
	v->kind = (enum rec_kind)p[6];
	v->nwrites = p[7];
	memcpy(&v->mask, p + 8, 8);
	memcpy(&bl, p + 16, 2);
	q = p + HDR;
	for (uint64_t m = v->mask; m; m &= m - 1) {
		unsigned n = *q++;

		v->xor[k] = 0;
		memcpy(&v->xor[k++], q, n);
		q += n;
	}
	v->blob_len = bl;
	v->blob_before = bl ? q : NULL;
	v->blob_after = bl ? q + bl : NULL;
	q += 2 * (size_t)bl;
	for (uint32_t i = 0; i < v->nwrites && i < REC_MAX_WRITES; i++) {
		struct rec_write *w = &v->writes[i];

		memcpy(&w->gpa, q, 8);
		memcpy(&w->len, q + 8, 4);
		w->old = q + 12;
		w->new_ = q + 12 + w->len;
		q += 12 + 2 * (size_t)w->len;
	}
}

bool rec_prev(struct rec_log *l, struct rec_view *v)
{
	uint32_t size;

	while (l->cur && l->off == 0 && l->cur->prev) {
		l->cur = l->cur->prev;
		l->off = l->cur->used;
	}
	if (!l->cur || l->off == 0)
		return false;
	memcpy(&size, l->cur->data + l->off - TRAILER, 4);
	l->off -= size;
	parse(l->cur->data + l->off, v);
	l->back += v->kind == REC_STEP;
	return true;
}

bool rec_next(struct rec_log *l, struct rec_view *v)
{
	uint32_t size;

	while (l->cur && l->off == l->cur->used && l->cur->next) {
		l->cur = l->cur->next;
		l->off = 0;
	}
	if (!l->cur || l->off == l->cur->used)
		return false;
	memcpy(&size, l->cur->data + l->off, 4);
	parse(l->cur->data + l->off, v);
	l->off += size;
	l->back -= v->kind == REC_STEP;
	return true;
}

void rec_truncate(struct rec_log *l)
{
	struct rec_block *b;
	struct rec_view v;
	size_t off;

	if (!l->cur)
		return;
	/* Count what goes in the cursor's block, then free the later blocks. */
	b = l->cur;
	for (off = l->off; off < b->used;) {
		uint32_t size;

		memcpy(&size, b->data + off, 4);
		parse(b->data + off, &v);
		b->entries--;
		b->steps -= v.kind == REC_STEP;
		l->entries--;
		l->steps -= v.kind == REC_STEP;
		l->used -= size;
		off += size;
	}
	b->used = l->off;
	while (b->next) {
		struct rec_block *n = b->next;

		b->next = n->next;
		l->bytes -= sizeof(*n) + n->cap;
		l->used -= n->used;
		l->entries -= n->entries;
		l->steps -= n->steps;
		free(n);
	}
	if (!b->used && b->prev) { /* no empty block behind the last entry */
		l->cur = b->prev;
		l->off = l->cur->used;
		l->cur->next = NULL;
		l->bytes -= sizeof(*b) + b->cap;
		free(b);
		b = l->cur;
	}
	l->tail = b;
	l->back = 0;
}

void rec_apply_state(const struct rec_view *v, uint64_t *state, int n)
{
	int k = 0;

	for (uint64_t m = v->mask; m; m &= m - 1) {
		int i = __builtin_ctzll(m);

		if (i < n)
			state[i] ^= v->xor[k];
		k++;
	}
}
