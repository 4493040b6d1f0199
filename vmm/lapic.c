/* lapic.c - the local APIC model of lapic.h. */
#include <string.h>

#include "vmm/lapic.h"

#define LVT_TIMER_PERIODIC (1u << 17)
#define LVT_TIMER_TSC      (1u << 18) /* TSC-deadline mode: not offered, never fires */

void lapic_reset(struct lapic *a, uint32_t id)
{
	memset(a, 0, sizeof(*a));
	a->id = id;
	a->dfr = 0xffffffffu;
	a->svr = 0xff;
	for (int i = 0; i < LAPIC_NLVT; i++)
		a->lvt[i] = LAPIC_LVT_MASKED;
}

static bool bit_test(const uint32_t *v, unsigned n) { return v[n / 32] >> (n % 32) & 1; }
static void bit_set(uint32_t *v, unsigned n) { v[n / 32] |= 1u << (n % 32); }
static void bit_clear(uint32_t *v, unsigned n) { v[n / 32] &= ~(1u << (n % 32)); }

static int highest(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

/* The processor priority: the higher of TPR and the in-service class. */
static uint32_t ppr(const struct lapic *a)
{
	int isr = highest(a->isr);
	uint32_t isrv = isr < 0 ? 0 : (uint32_t)isr & 0xf0;

	return (a->tpr & 0xf0) >= isrv ? a->tpr & 0xff : isrv;
}

/* Divide configuration bits 0, 1 and 3: 0b000 → 2 ... 0b110 → 128, 0b111 → 1. */
static uint64_t divisor(const struct lapic *a)
{
	unsigned v = (a->timer_div & 3) | ((a->timer_div & 8) >> 1);

	return 1ULL << ((v + 1) & 7);
}

static bool timer_running(const struct lapic *a)
{
	return a->timer_init && !(a->lvt[0] & LVT_TIMER_TSC);
}

/* One period of the timer in ns. */
static uint64_t period_ns(const struct lapic *a)
{
	return (uint64_t)((unsigned __int128)a->timer_init * divisor(a) * 1000000000ULL / LAPIC_TIMER_HZ);
}

static uint32_t current_count(const struct lapic *a, uint64_t now_ns)
{
	uint64_t per = period_ns(a), el;

	if (!timer_running(a) || !per)
		return 0;
	el = now_ns > a->timer_start_ns ? now_ns - a->timer_start_ns : 0;
	if (!(a->lvt[0] & LVT_TIMER_PERIODIC) && el >= per)
		return 0;
	el %= per;
	return a->timer_init - (uint32_t)((unsigned __int128)el * LAPIC_TIMER_HZ / 1000000000ULL / divisor(a));
}

uint32_t lapic_read(struct lapic *a, unsigned off, uint64_t now_ns)
{
	if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x80)
		return a->isr[(off - LAPIC_ISR) / 16];
	if (off >= LAPIC_IRR && off < LAPIC_IRR + 0x80)
		return a->irr[(off - LAPIC_IRR) / 16];
	if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR)
		return a->lvt[(off - LAPIC_LVT_TIMER) / 16];
	switch (off) {
	case LAPIC_ID: return a->id << 24;
	case LAPIC_VER: return LAPIC_VERSION;
	case LAPIC_TPR: return a->tpr;
	case LAPIC_PPR: return ppr(a);
	case LAPIC_LDR: return a->ldr;
	case LAPIC_DFR: return a->dfr;
	case LAPIC_SVR: return a->svr;
	case LAPIC_ESR: return a->esr;
	case LAPIC_ICR_LO: return a->icr_lo & ~(1u << 12); /* delivery is instant: always idle */
	case LAPIC_ICR_HI: return a->icr_hi;
	case LAPIC_TIMER_INIT: return a->timer_init;
	case LAPIC_TIMER_CUR: return current_count(a, now_ns);
	case LAPIC_TIMER_DIV: return a->timer_div;
	default: return 0;
	}
}

static void eoi(struct lapic *a)
{
	int v = highest(a->isr);

	if (v >= 0)
		bit_clear(a->isr, (unsigned)v);
}

bool lapic_write(struct lapic *a, unsigned off, uint32_t v, uint64_t now_ns, struct lapic_ipi *ipi)
{
	if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR && !(off & 0xf)) {
		unsigned i = (off - LAPIC_LVT_TIMER) / 16;

		if (!(a->svr & LAPIC_SVR_ENABLED))
			v |= LAPIC_LVT_MASKED; /* software-disabled: LVTs stay masked */
		if (i == 0 && (v ^ a->lvt[0]) & LVT_TIMER_PERIODIC) {
			a->timer_start_ns = now_ns; /* a change of mode restarts the count */
			a->timer_fired = 0;
		}
		a->lvt[i] = v & (i == 0 ? 0x700ff : 0x1f7ff);
		return false;
	}
	switch (off) {
	case LAPIC_ID: a->id = v >> 24; break;
	case LAPIC_TPR: a->tpr = v & 0xff; break;
	case LAPIC_EOI: eoi(a); break;
	case LAPIC_LDR: a->ldr = v & 0xff000000u; break;
	case LAPIC_DFR: a->dfr = v | 0x0fffffffu; break;
	case LAPIC_SVR:
		a->svr = v & 0x3ff;
		if (!(v & LAPIC_SVR_ENABLED))
			for (int i = 0; i < LAPIC_NLVT; i++)
				a->lvt[i] |= LAPIC_LVT_MASKED;
		break;
	case LAPIC_ESR: a->esr = 0; break;
	case LAPIC_ICR_HI: a->icr_hi = v & 0xff000000u; break;
	case LAPIC_ICR_LO:
		a->icr_lo = v & 0xcdfff;
		memset(ipi, 0, sizeof(*ipi));
		ipi->vector = v & 0xff;
		ipi->mode = (enum lapic_delivery)(v >> 8 & 7);
		ipi->logical = v >> 11 & 1;
		ipi->deassert = ipi->mode == IPI_INIT && !(v >> 14 & 1) && (v >> 15 & 1);
		ipi->shorthand = (enum lapic_shorthand)(v >> 18 & 3);
		ipi->dest = a->icr_hi >> 24;
		return true;
	case LAPIC_TIMER_INIT:
		a->timer_init = v;
		a->timer_start_ns = now_ns;
		a->timer_fired = 0;
		break;
	case LAPIC_TIMER_DIV: a->timer_div = v & 0xb; break;
	default: break; /* read-only or not offered */
	}
	return false;
}

bool lapic_is_dest(const struct lapic *a, const struct lapic_ipi *ipi, uint32_t from)
{
	switch (ipi->shorthand) {
	case IPI_SELF: return a->id == from;
	case IPI_ALL: return true;
	case IPI_OTHERS: return a->id != from;
	case IPI_DEST: break;
	}
	if (!ipi->logical)
		return ipi->dest == 0xff || ipi->dest == a->id;
	if (ipi->dest == 0xff)
		return true;
	if ((a->dfr >> 28) == 0xf) /* flat model: a bit per APIC */
		return (a->ldr >> 24) & ipi->dest;
	/* cluster model: high nibble the cluster, low nibble a bit per APIC */
	return (a->ldr >> 28) == (uint32_t)(ipi->dest >> 4) && (a->ldr >> 24) & ipi->dest & 0xf;
}

void lapic_accept(struct lapic *a, uint8_t vector)
{
	if (vector < 16) {
		a->esr |= 1u << 6; /* received illegal vector */
		return;
	}
	bit_set(a->irr, vector);
}

int lapic_pending(const struct lapic *a)
{
	int v = highest(a->irr);

	if (v < 0 || !(a->svr & LAPIC_SVR_ENABLED))
		return -1;
	if (((unsigned)v & 0xf0) <= (ppr(a) & 0xf0))
		return -1;
	return v;
}

uint8_t lapic_ack(struct lapic *a)
{
	int v = lapic_pending(a);

	if (v < 0)
		return (uint8_t)(a->svr & 0xff); /* the spurious vector */
	bit_clear(a->irr, (unsigned)v);
	bit_set(a->isr, (unsigned)v);
	return (uint8_t)v;
}

bool lapic_timer(struct lapic *a, uint64_t now_ns, uint64_t *next_ns)
{
	uint64_t per = period_ns(a), due;
	bool fired = false;

	*next_ns = UINT64_MAX;
	if (!timer_running(a) || !per)
		return false;
	due = now_ns >= a->timer_start_ns ? (now_ns - a->timer_start_ns) / per : 0;
	if (!(a->lvt[0] & LVT_TIMER_PERIODIC) && due > 1)
		due = 1;
	if (due > a->timer_fired) {
		a->timer_fired = due;
		if (!(a->lvt[0] & LAPIC_LVT_MASKED) && !bit_test(a->irr, a->lvt[0] & 0xff)) {
			lapic_accept(a, (uint8_t)(a->lvt[0] & 0xff));
			fired = true;
		}
	}
	if ((a->lvt[0] & LVT_TIMER_PERIODIC) || a->timer_fired == 0)
		*next_ns = a->timer_start_ns + (a->timer_fired + 1) * per;
	return fired;
}
