/* pit.h - the PC's 8254 programmable interval timer: counters 0-2 at
 * 0x40-0x42, the control word at 0x43, and port 0x61's timer bits (bit 0
 * gate of counter 2, bit 1 speaker data, bit 5 counter 2's output, bit 4
 * the refresh toggle that delay loops poll).
 *
 * Counter 0 drives IRQ 0.  The counters count at PIT_HZ (1.193182 MHz) in
 * host time given by the caller (now_ns, a monotonic clock), so the model
 * itself has no clock and no thread.  Kept: modes 0-5 (1 and 5 start on a
 * rising gate edge: only counter 2's gate is wired, counters 0 and 1 have
 * their gate high), binary counting (BCD accepted, counted as binary),
 * access lobyte / hibyte / lobyte-then-hibyte, the counter latch command and
 * the read-back command (count and status latches), a reload of 0 meaning
 * 65536.
 *
 * Pure: no KVM, no locks (the caller serialises).
 */
#ifndef VMM_PIT_H
#define VMM_PIT_H

#include <stdbool.h>
#include <stdint.h>

#define PIT_HZ       1193182u
#define PIT_PORT     0x40 /* 0x40-0x42 counters, 0x43 control */
#define PIT_PORT61   0x61

struct pit_counter {
	uint32_t reload;      /* 1..65536 once written; 0: never written */
	uint8_t mode;         /* 0-5 */
	uint8_t access;       /* 1 lobyte, 2 hibyte, 3 lobyte then hibyte */
	bool bcd;
	bool armed;           /* a count was written (and, modes 1/5, the gate rose) */
	uint64_t start_ns;    /* when counting (re)started from reload */
	bool gate;
	/* the write and read byte sequencing of access 3 */
	bool write_hi_next;
	uint8_t write_lo;
	bool read_hi_next;
	/* latches: a count latched by the latch or read-back command, a status
	 * latched by read-back; each is read once */
	bool count_latched;
	uint16_t latch;
	uint8_t latch_bytes;  /* bytes of the latched count still to read */
	bool status_latched;
	uint8_t status;
	bool null_count;      /* status bit 6: the count written is not loaded yet */
};

struct pit {
	struct pit_counter c[3];
	uint8_t port61;       /* bits 0 and 1 as written */
	uint64_t irq0_seen;   /* counter 0 output rising edges already handed out */
};

/* Power-on state: nothing armed (no IRQ 0 until the guest programs counter
 * 0), gates of counters 0 and 1 high, counter 2's low. */
void pit_reset(struct pit *p);

/* Is port one of the PIT's (0x40-0x43, 0x61)? */
bool pit_port(uint16_t port);
uint8_t pit_read(struct pit *p, uint16_t port, uint64_t now_ns);
void pit_write(struct pit *p, uint16_t port, uint8_t v, uint64_t now_ns);

/* Counter 0's output as IRQ 0: how many rising edges it made up to now_ns
 * that were not handed out yet (mode 0: the one at terminal count; modes 2
 * and 3: one per period), and in *next_ns when the next one comes
 * (UINT64_MAX: none will without a new count). */
uint64_t pit_irq0(struct pit *p, uint64_t now_ns, uint64_t *next_ns);

/* Has the guest armed counter 0 (an interrupt source)?  A one-shot (modes 0
 * and 4) stops being one once pit_irq0 handed its edge out. */
bool pit_irq0_armed(const struct pit *p);

#endif
