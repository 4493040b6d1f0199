/* lapic.h - a local APIC (xAPIC, memory-mapped at 0xFEE00000) per vCPU, as
 * the vmm emulates it in user space (the in-kernel one would swallow HLT,
 * the vmm's software breakpoint where int3 is not intercepted: see
 * docs/boot.md).  Enough for a kernel to find its CPU's ID, take and end
 * interrupts (IRR, ISR, TPR, EOI), start its other CPUs (INIT and SIPI
 * through the ICR), send fixed IPIs, and run the APIC timer (one-shot and
 * periodic; not TSC-deadline) at LAPIC_TIMER_HZ before the divider.
 * Registers not listed read as 0 and ignore writes, as do the read-only
 * ones written.
 *
 * Pure: no KVM, no locks (the caller serialises), time given by the caller.
 */
#ifndef VMM_LAPIC_H
#define VMM_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_BASE     0xfee00000ULL
#define LAPIC_SIZE     0x1000ULL
#define LAPIC_TIMER_HZ 1000000000ULL /* the timer's clock before the divider: 1 GHz */
#define LAPIC_VERSION  0x00050014u   /* xAPIC version 0x14, six LVT entries */

/* Register offsets. */
enum {
	LAPIC_ID = 0x20, LAPIC_VER = 0x30, LAPIC_TPR = 0x80, LAPIC_PPR = 0xa0, LAPIC_EOI = 0xb0,
	LAPIC_LDR = 0xd0, LAPIC_DFR = 0xe0, LAPIC_SVR = 0xf0, LAPIC_ISR = 0x100, LAPIC_TMR = 0x180,
	LAPIC_IRR = 0x200, LAPIC_ESR = 0x280, LAPIC_ICR_LO = 0x300, LAPIC_ICR_HI = 0x310,
	LAPIC_LVT_TIMER = 0x320, LAPIC_LVT_ERROR = 0x370, LAPIC_TIMER_INIT = 0x380,
	LAPIC_TIMER_CUR = 0x390, LAPIC_TIMER_DIV = 0x3e0,
};
#define LAPIC_NLVT 6 /* timer, thermal, performance, LINT0, LINT1, error: 0x320..0x370 */
#define LAPIC_LVT_MASKED   (1u << 16)
#define LAPIC_SVR_ENABLED  (1u << 8)

/* What an ICR write sends. */
enum lapic_delivery { IPI_FIXED = 0, IPI_LOWEST = 1, IPI_SMI = 2, IPI_NMI = 4, IPI_INIT = 5, IPI_SIPI = 6 };
enum lapic_shorthand { IPI_DEST = 0, IPI_SELF = 1, IPI_ALL = 2, IPI_OTHERS = 3 };
struct lapic_ipi {
	enum lapic_delivery mode;
	enum lapic_shorthand shorthand;
	uint8_t vector;
	uint8_t dest;     /* ICR high bits 24-31 */
	bool logical;     /* destination mode */
	bool deassert;    /* an INIT level de-assert: no effect on xAPICs of this age */
};

struct lapic {
	uint32_t id;          /* APIC ID, 0-255 */
	uint32_t tpr, ldr, dfr, svr, esr;
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LAPIC_NLVT];
	uint32_t timer_init, timer_div;
	uint64_t timer_start_ns;  /* when the count was last (re)loaded */
	uint64_t timer_fired;     /* expirations handed out since timer_start_ns */
	uint32_t irr[8], isr[8];  /* 256 bits each */
};

/* The state after power-on or INIT: ID id, LVTs masked, software-disabled
 * (SVR 0xFF), DFR flat. */
void lapic_reset(struct lapic *a, uint32_t id);

/* A 32-bit register read or write at off (0..0xff0, 16-byte aligned).  A
 * write to the ICR's low half fills *ipi and returns true: the caller
 * delivers it. */
uint32_t lapic_read(struct lapic *a, unsigned off, uint64_t now_ns);
bool lapic_write(struct lapic *a, unsigned off, uint32_t v, uint64_t now_ns, struct lapic_ipi *ipi);

/* Is a the target of ipi sent by the local APIC whose ID is from? */
bool lapic_is_dest(const struct lapic *a, const struct lapic_ipi *ipi, uint32_t from);

/* A fixed interrupt arrives (vector 16-255; lower ones set the ESR). */
void lapic_accept(struct lapic *a, uint8_t vector);

/* The vector to deliver now (above the in-service and task priorities),
 * or -1. */
int lapic_pending(const struct lapic *a);
/* The CPU takes it: IRR to ISR; returns the vector. */
uint8_t lapic_ack(struct lapic *a);

/* Advance the timer to now_ns: an expiration not handed out yet sets its
 * vector in IRR (unless masked).  *next_ns: when the next one comes
 * (UINT64_MAX: none).  Returns true if one was set. */
bool lapic_timer(struct lapic *a, uint64_t now_ns, uint64_t *next_ns);

#endif
