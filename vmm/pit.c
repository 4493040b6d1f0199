/* pit.c - the 8254 PIT of pit.h.
 *
 * A counter keeps no running count: its count and its OUT level are worked
 * out from the clocks elapsed since it (re)started from its reload value,
 * so time is only what the caller passes.  Simplifications, each a clock or
 * a period early at most:
 *   - a count written is loaded at once (the part loads it on the next clock);
 *   - a new count written in mode 2 or 3 while counting restarts the period
 *     from now (the part finishes the current period first);
 *   - a new count written in mode 1 or 5 waits for the next gate trigger.
 */
#include "vmm/pit.h"

#define NS_PER_S    1000000000ull
#define REFRESH_NS  15085 /* port 0x61 bit 4 flips with each DRAM refresh (15.085 µs) */

#define CW_READBACK     3    /* counter select 3: the read-back command */
#define RB_NO_COUNT     0x20 /* read-back bits are active low */
#define RB_NO_STATUS    0x10
#define P61_GATE2       0x01
#define P61_SPEAKER     0x02
#define P61_REFRESH     0x10
#define P61_OUT2        0x20

/* A low gate holds modes 0, 2, 3 and 4; in modes 1 and 5 it only triggers. */
static bool held(const struct pit_counter *c)
{
	return !c->gate && c->mode != 1 && c->mode != 5;
}

/* While a counter is held, start_ns keeps the ns it had counted: the
 * struct has no other room, and a held counter has no start time. */
static uint64_t elapsed_ns(const struct pit_counter *c, uint64_t now)
{
	if (held(c))
		return c->start_ns;
	return now > c->start_ns ? now - c->start_ns : 0;
}

static uint64_t clocks(const struct pit_counter *c, uint64_t now)
{
	return (uint64_t)((unsigned __int128)elapsed_ns(c, now) * PIT_HZ / NS_PER_S);
}

/* The first ns at which clocks() reaches n (UINT64_MAX past the end of time). */
static uint64_t clock_time(const struct pit_counter *c, uint64_t n)
{
	unsigned __int128 t = c->start_ns + ((unsigned __int128)n * NS_PER_S + PIT_HZ - 1) / PIT_HZ;

	return t >= UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

static uint16_t count_at(const struct pit_counter *c, uint64_t now)
{
	uint64_t n = c->reload, d, phase, high;

	if (!c->armed || !n)
		return (uint16_t)n;
	d = clocks(c, now);
	switch (c->mode) {
	case 2: /* N, N-1 .. 1, N .. */
		return (uint16_t)(n - d % n);
	case 3: /* by twos, through each half period */
		phase = d % n;
		high = (n + 1) / 2;
		return (uint16_t)(n - 2 * (phase < high ? phase : phase - high));
	default: /* down through 0, wrapping to 0xFFFF */
		return (uint16_t)(n - d);
	}
}

static bool out_at(const struct pit_counter *c, uint64_t now)
{
	uint64_t n = c->reload, d;

	if (!c->armed || !n)
		return c->mode != 0; /* the level a control word sets */
	if (held(c) && (c->mode == 2 || c->mode == 3))
		return true;
	d = clocks(c, now);
	switch (c->mode) {
	case 0:
	case 1: /* high at terminal count, and stays */
		return d >= n;
	case 2: /* low for the one clock the count is 1 */
		return d % n != n - 1;
	case 3: /* high for the first (longer, when N is odd) half */
		return d % n < (n + 1) / 2;
	default: /* modes 4 and 5: a one-clock low strobe at 0 */
		return d != n;
	}
}

/* OUT's rising edges in the first d clocks of an armed counter, and in
 * *next the clock of the one after (UINT64_MAX: none). */
static uint64_t rises(const struct pit_counter *c, uint64_t d, uint64_t *next)
{
	uint64_t n = c->reload, at;

	switch (c->mode) {
	case 2:
	case 3:
		*next = (d / n + 1) * n;
		return d / n;
	case 4:
	case 5: /* the end of the strobe */
		at = n + 1;
		break;
	default:
		at = n;
		break;
	}
	*next = d < at ? at : UINT64_MAX;
	return d >= at;
}

/* Counter 0's rising edges since it started, and *next_ns. */
static uint64_t irq0_total(const struct pit *p, uint64_t now, uint64_t *next_ns)
{
	const struct pit_counter *c = &p->c[0];
	uint64_t total, next;

	*next_ns = UINT64_MAX;
	if (!c->armed || !c->reload)
		return 0;
	total = rises(c, clocks(c, now), &next);
	if (next != UINT64_MAX)
		*next_ns = clock_time(c, next);
	return total;
}

void pit_reset(struct pit *p)
{
	*p = (struct pit){ 0 };
	for (int i = 0; i < 3; i++)
		p->c[i] = (struct pit_counter){ .access = 3, .gate = i < 2, .null_count = true };
}

bool pit_port(uint16_t port)
{
	return (port >= PIT_PORT && port <= PIT_PORT + 3) || port == PIT_PORT61;
}

static uint8_t status_of(const struct pit_counter *c, uint64_t now)
{
	return (uint8_t)(out_at(c, now) << 7 | c->null_count << 6 | c->access << 4 | c->mode << 1 | c->bcd);
}

/* The first latch holds until it is read: later ones are ignored. */
static void latch_count(struct pit_counter *c, uint64_t now)
{
	if (c->count_latched)
		return;
	c->latch = count_at(c, now);
	c->count_latched = true;
	c->latch_bytes = c->access == 3 ? 2 : 1;
}

static uint8_t read_counter(struct pit_counter *c, uint64_t now)
{
	uint16_t v;
	bool hi;

	if (c->status_latched) { /* read-back with both: status first */
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched) {
		v = c->latch;
		hi = c->access == 2 || (c->access == 3 && c->latch_bytes == 1);
		if (c->latch_bytes > 1) {
			c->latch_bytes--;
		} else {
			c->latch_bytes = 0;
			c->count_latched = false;
		}
	} else {
		v = count_at(c, now);
		hi = c->access == 2 || (c->access == 3 && c->read_hi_next);
		if (c->access == 3)
			c->read_hi_next = !c->read_hi_next;
	}
	return (uint8_t)(hi ? v >> 8 : v);
}

uint8_t pit_read(struct pit *p, uint16_t port, uint64_t now_ns)
{
	if (port == PIT_PORT61)
		return (uint8_t)((p->port61 & (P61_GATE2 | P61_SPEAKER)) |
				 (now_ns / REFRESH_NS & 1 ? P61_REFRESH : 0) |
				 (out_at(&p->c[2], now_ns) ? P61_OUT2 : 0));
	if (port < PIT_PORT || port > PIT_PORT + 2)
		return 0xff; /* the control word register cannot be read */
	return read_counter(&p->c[port - PIT_PORT], now_ns);
}

/* A count (0: 65536; BCD counted as binary) is loaded: counting starts, at
 * once unless the mode waits for a gate trigger. */
static void load(struct pit_counter *c, uint32_t v, uint64_t now)
{
	c->reload = v ? v : 65536;
	if (c->mode == 1 || c->mode == 5) {
		c->armed = false;
		c->null_count = true;
		return;
	}
	c->armed = true;
	c->null_count = false;
	c->start_ns = held(c) ? 0 : now;
}

static void write_counter(struct pit_counter *c, uint8_t v, uint64_t now)
{
	switch (c->access) {
	case 1:
		load(c, v, now);
		break;
	case 2:
		load(c, (uint32_t)v << 8, now);
		break;
	default:
		if (c->write_hi_next) {
			c->write_hi_next = false;
			load(c, c->write_lo | (uint32_t)v << 8, now);
			break;
		}
		c->write_lo = v;
		c->write_hi_next = true;
		if (c->mode == 0) /* the datasheet: the first byte stops it, OUT low */
			c->armed = false;
		break;
	}
}

static void set_gate(struct pit_counter *c, bool gate, uint64_t now)
{
	uint64_t el;

	if (gate == c->gate)
		return;
	el = elapsed_ns(c, now);
	c->gate = gate;
	if (!gate) {
		if (held(c))
			c->start_ns = el;
	} else if (c->mode == 1 || c->mode == 5) {
		/* the trigger: (re)start from the reload value */
		if (c->reload) {
			c->armed = true;
			c->null_count = false;
			c->start_ns = now;
		}
	} else if (c->mode == 2 || c->mode == 3) {
		c->start_ns = now; /* reloads and starts a new period */
	} else {
		c->start_ns = now >= el ? now - el : 0; /* counting resumes */
	}
}

static void control(struct pit *p, uint8_t v, uint64_t now)
{
	unsigned sel = v >> 6, rw = v >> 4 & 3, mode = v >> 1 & 7;
	struct pit_counter *c;

	if (sel == CW_READBACK) {
		for (int i = 0; i < 3; i++) {
			c = &p->c[i];
			if (!(v & 2 << i))
				continue;
			if (!(v & RB_NO_COUNT))
				latch_count(c, now);
			if (!(v & RB_NO_STATUS) && !c->status_latched) {
				c->status = status_of(c, now);
				c->status_latched = true;
			}
		}
		return;
	}
	c = &p->c[sel];
	if (!rw) {
		latch_count(c, now);
		return;
	}
	/* a control word resets the counter: no count until one is written */
	c->access = (uint8_t)rw;
	c->mode = (uint8_t)(mode > 5 ? mode - 4 : mode); /* 6, 7 are 2, 3 */
	c->bcd = v & 1;
	c->armed = false;
	c->null_count = true;
	c->write_hi_next = false;
	c->read_hi_next = false;
	c->count_latched = false;
	c->status_latched = false;
}

void pit_write(struct pit *p, uint16_t port, uint8_t v, uint64_t now_ns)
{
	uint64_t next, pending = irq0_total(p, now_ns, &next) - p->irq0_seen;

	if (port == PIT_PORT61) {
		p->port61 = v & (P61_GATE2 | P61_SPEAKER);
		set_gate(&p->c[2], v & P61_GATE2, now_ns);
	} else if (port == PIT_PORT + 3) {
		control(p, v, now_ns);
	} else if (port >= PIT_PORT && port < PIT_PORT + 3) {
		write_counter(&p->c[port - PIT_PORT], v, now_ns);
	}
	/* Counter 0 may have restarted: the edges it made that pit_irq0 has
	 * not handed out yet are still due (the count is modulo 2^64). */
	p->irq0_seen = irq0_total(p, now_ns, &next) - pending;
}

uint64_t pit_irq0(struct pit *p, uint64_t now_ns, uint64_t *next_ns)
{
	uint64_t total = irq0_total(p, now_ns, next_ns), fresh = total - p->irq0_seen;

	p->irq0_seen = total;
	return fresh;
}

bool pit_irq0_armed(const struct pit *p)
{
	const struct pit_counter *c = &p->c[0];

	/* a one-shot whose edge was handed out raises no more */
	return c->armed && (c->mode == 2 || c->mode == 3 || p->irq0_seen != 1);
}
