/*
 * pckernel.h - what pckernel_boot.S and pckernel.c share: where the AP
 * trampoline runs, the GDT's selectors, the stacks, the interrupt stubs.
 */
#ifndef GUEST_PCKERNEL_H
#define GUEST_PCKERNEL_H

#define PCK_TRAMP_BASE  0x70000		/* SIPI vector 0x70; below the EBDA, clear of the vmm's 0x8000-0xFFFF */
#define PCK_MAX_CPUS    16
#define PCK_STACK_SIZE  16384		/* the BSP's */
#define PCK_AP_STACK    4096		/* each AP's: ap_main only prints */
#define PCK_ISR_STUB    16		/* bytes per entry of isr_stubs */

#define PCK_SEL_CODE64  0x08
#define PCK_SEL_DATA    0x10
#define PCK_SEL_CODE32  0x18		/* the trampoline's protected-mode step */

#ifndef __ASSEMBLER__
#include <stdint.h>

/* What the exception stubs leave on the stack: vector, error code (0 where
 * the CPU pushes none), then the CPU's interrupt frame. */
struct isr_frame {
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

/* pckernel_boot.S */
extern uint32_t mb_magic, mb_info;	/* EAX and EBX at entry */
extern char isr_stubs[], tramp_start[], tramp_cr3[], tramp_end[];
void timer_irq(void);
void apic_timer_irq(void);
void spurious_master(void);
void spurious_slave(void);
void spurious_lapic(void);

/* pckernel.c, called from assembly */
void kmain(void);
void ap_main(uint32_t apic_id);
void timer_tick(void);
void apic_timer_tick(void);
void isr_fatal(const struct isr_frame *f);
extern volatile uint32_t *lapic;
#endif

#endif
