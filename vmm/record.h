/* record.h - the execution log behind reverse debugging.
 *
 * Pure code: no KVM, no threads.  The log is a list of entries, oldest
 * first; each says what one instruction of one vCPU did (REC_STEP), or what
 * the debugger changed (REC_USER):
 *   - the register state as XOR of before and after, only the words that
 *     changed, each in as few bytes as it needs (the same delta undoes and
 *     redoes it);
 *   - optionally two opaque blobs, the FPU state before and after (only for
 *     instructions that may touch it);
 *   - the guest-physical writes, each with its old and new bytes.
 * A cursor sits between two entries: undoing the one before it (rec_prev)
 * moves back in time, redoing the one after it (rec_next) forward.  New
 * entries go at the end; the cursor must be there.
 *
 * Entries live in blocks; when the log grows over its limit, whole blocks of
 * the oldest entries are dropped.
 */
#ifndef VMM_RECORD_H
#define VMM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REC_WORDS 64        /* register state words an entry can describe */
#define REC_MAX_WRITES 64   /* guest writes in one entry */
#define REC_BLOB_MAX 1024   /* bytes of an FPU blob */

enum rec_kind { REC_STEP = 1, REC_USER = 2 };

struct rec_block;

struct rec_log {
	struct rec_block *head, *tail; /* oldest and newest block */
	size_t limit;        /* bytes of blocks at most (the newest block is always kept) */
	size_t block_size;
	size_t bytes;        /* bytes of blocks allocated */
	size_t used;         /* bytes of entries */
	uint64_t entries;    /* entries held */
	uint64_t steps;      /* REC_STEP entries held */
	uint64_t dropped;    /* REC_STEP entries dropped for the limit, ever */
	/* cursor: the next entry to redo starts at cur->data + off */
	struct rec_block *cur;
	size_t off;
	uint64_t back;       /* REC_STEP entries after the cursor */
};

/* An entry under construction. */
struct rec_build {
	int cpu;
	enum rec_kind kind;
	uint64_t mask;              /* words that changed */
	uint64_t words[REC_WORDS];  /* before ^ after, by word index */
	size_t blob_len;            /* 0: no FPU blobs */
	uint8_t blob[2][REC_BLOB_MAX];
	uint32_t nwrites;
	uint8_t *wbuf;              /* encoded writes */
	size_t wlen, wcap;
};

/* One write of an entry, pointing into the log. */
struct rec_write {
	uint64_t gpa;
	uint32_t len;
	const uint8_t *old, *new_;
};

/* An entry as read back from the log. */
struct rec_view {
	int cpu;
	enum rec_kind kind;
	uint64_t mask;
	uint64_t xor[REC_WORDS];    /* popcount(mask) words, lowest index first */
	size_t blob_len;
	const uint8_t *blob_before, *blob_after;
	uint32_t nwrites;
	struct rec_write writes[REC_MAX_WRITES];
};

/* limit: bytes the log may take (at least 8 KiB; blocks of an eighth of it,
 * from 512 bytes to 1 MiB, or one entry's size if larger). */
void rec_init(struct rec_log *l, size_t limit);
void rec_free(struct rec_log *l);

bool rec_at_end(const struct rec_log *l);
bool rec_at_begin(const struct rec_log *l);

/* Building: begin, add writes and the register delta, then append. */
void rec_begin(struct rec_build *b, int cpu, enum rec_kind kind);
/* Record before ^ after for n words (n <= REC_WORDS). */
void rec_set_state(struct rec_build *b, const uint64_t *before, const uint64_t *after, int n);
/* FPU blobs (len <= REC_BLOB_MAX). */
void rec_set_blobs(struct rec_build *b, const void *before, const void *after, size_t len);
/* A write of len bytes at gpa: old and new contents.  -ENOSPC past
 * REC_MAX_WRITES, -ENOMEM. */
int rec_add_write(struct rec_build *b, uint64_t gpa, const void *old, const void *new_,
		  uint32_t len) __attribute__((warn_unused_result));
/* Nothing changed: no state word, no blob, no write. */
bool rec_build_empty(const struct rec_build *b);
void rec_build_free(struct rec_build *b);

/* Append the built entry at the end (the cursor must be at the end and
 * stays there).  Returns the number of REC_STEP entries dropped to stay
 * within the limit (>= 0), or -ENOMEM / -EINVAL. */
long rec_append(struct rec_log *l, const struct rec_build *b) __attribute__((warn_unused_result));

/* Move the cursor back over one entry (to undo it) or forward over one (to
 * redo it), filling v.  false at the beginning / end. */
bool rec_prev(struct rec_log *l, struct rec_view *v);
bool rec_next(struct rec_log *l, struct rec_view *v);

/* Forget every entry after the cursor (the debugger changed the past). */
void rec_truncate(struct rec_log *l);

/* Apply an entry's register delta to a state of n words (either way). */
void rec_apply_state(const struct rec_view *v, uint64_t *state, int n);

#endif
