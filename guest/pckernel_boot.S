/*
 * pckernel_boot.S - pckernel's entry, interrupt stubs and AP trampoline.
 *
 * _start is entered as a Multiboot (v1) loader enters a kernel: 32-bit
 * protected mode, paging and interrupts off, EAX = 0x2BADB002, EBX = the
 * Multiboot information, no usable stack.  It keeps EAX/EBX for kmain (which
 * checks the magic: it can print, we cannot yet), zeroes .bss, identity-maps
 * 0-4 GiB with 2 MiB pages (the LAPIC at 0xFEE00000 included), loads its own
 * GDT and enters long mode.
 */
#include "pckernel.h"

#define MB_FLAGS	0x00010003	/* page-aligned modules, memory info, address fields */
#define CR0_PE		0x00000001
#define CR0_PG		0x80000000
#define CR4_PAE		0x00000020
#define MSR_EFER	0xc0000080
#define EFER_LME	0x00000100
#define PTE_P_RW	0x003
#define PTE_PS		0x080

	/* Unwind info for gdb only: .eh_frame is discarded by the link. */
	.cfi_sections .debug_frame

/* A backtrace ends here: there is no caller. */
.macro	outermost
	.cfi_startproc
	.cfi_undefined %rip
.endm

/* push/pop that tell gdb where the interrupted code's registers are. */
.macro	cpush reg
	push	\reg
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset \reg, 0
.endm
.macro	cpop reg
	pop	\reg
	.cfi_adjust_cfa_offset -8
	.cfi_restore \reg
.endm

	.section .text.start, "ax"
	.code32
	.balign 4
mb_header:
	.long	0x1BADB002
	.long	MB_FLAGS
	.long	-(0x1BADB002 + MB_FLAGS)
	/* Flag 16: QEMU loads an ELF64 kernel only by these. */
	.long	mb_header		/* header_addr */
	.long	__image_start		/* load_addr */
	.long	__image_end		/* load_end_addr */
	.long	_end			/* bss_end_addr */
	.long	_start			/* entry_addr */

	.globl	_start
	.type	_start, @function
_start:
	cli
	cld
	mov	%eax, %esi
	mov	%ebx, %edx

	/* The address fields' loader zeroes .bss; an ELF loader may not. */
	mov	$__bss_start, %edi
	mov	$_end, %ecx
	sub	%edi, %ecx
	shr	$2, %ecx
	xor	%eax, %eax
	rep stosl
	mov	%esi, mb_magic
	mov	%edx, mb_info
	mov	$boot_stack_top, %esp

	/* pml4[0] -> pdpt; pdpt[0..3] -> the 4 directories; 2048 2 MiB pages. */
	movl	$boot_pdpt + PTE_P_RW, boot_pml4
	mov	$boot_pd + PTE_P_RW, %eax
	xor	%ecx, %ecx
1:	mov	%eax, boot_pdpt(,%ecx,8)
	add	$0x1000, %eax
	inc	%ecx
	cmp	$4, %ecx
	jb	1b
	mov	$PTE_P_RW | PTE_PS, %eax
	xor	%ecx, %ecx
2:	mov	%eax, boot_pd(,%ecx,8)
	add	$0x200000, %eax
	inc	%ecx
	cmp	$2048, %ecx
	jb	2b

	lgdt	gdt_ptr
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$boot_pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$CR0_PG | CR0_PE, %eax
	mov	%eax, %cr0
	ljmp	$PCK_SEL_CODE64, $long_entry

	.code64
long_entry:
	outermost
	mov	$PCK_SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	mov	$boot_stack_top, %esp
	xor	%ebp, %ebp			/* frame-pointer walks end here */
	call	kmain
3:	cli
	hlt
	jmp	3b
	.cfi_endproc
	.size	_start, . - _start

/*
 * The APs come here from the trampoline, in 64-bit mode on the BSP's page
 * tables: each takes the next stack of ap_stacks (the counter, not the APIC
 * ID, so sparse IDs need no table) and calls ap_main(its APIC ID).
 */
	.text
	.type	ap_long, @function
ap_long:
	outermost
	mov	$PCK_SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	mov	$1, %eax
	lock xadd %eax, ap_next(%rip)
	cmp	$PCK_MAX_CPUS - 1, %eax
	jae	4f				/* no stack left for it */
	inc	%eax				/* the stack grows down from slot k's end */
	imul	$PCK_AP_STACK, %eax, %esp
	add	$ap_stacks, %rsp
	xor	%ebp, %ebp
	mov	lapic(%rip), %rax
	mov	0x20(%rax), %edi		/* LAPIC ID register: the ID in bits 24-31 */
	shr	$24, %edi
	call	ap_main
4:	cli
	hlt
	jmp	4b
	.cfi_endproc
	.size	ap_long, . - ap_long

/*
 * An interrupt's stub: save what the C ABI lets its handler clobber.  Nine
 * pushes after the CPU's five keep RSP 16-byte aligned at the call.
 */
.macro	irq_stub name, handler
	.globl	\name
	.type	\name, @function
\name:
	/* The CPU's frame: CFA = its top, RIP at CFA-40, RSP at CFA-16. */
	.cfi_startproc simple
	.cfi_signal_frame
	.cfi_def_cfa %rsp, 40
	.cfi_offset %rip, -40
	.cfi_offset %rsp, -16
	cpush	%rax
	cpush	%rcx
	cpush	%rdx
	cpush	%rsi
	cpush	%rdi
	cpush	%r8
	cpush	%r9
	cpush	%r10
	cpush	%r11
	cld
	call	\handler
	cpop	%r11
	cpop	%r10
	cpop	%r9
	cpop	%r8
	cpop	%rdi
	cpop	%rsi
	cpop	%rdx
	cpop	%rcx
	cpop	%rax
	iretq
	.cfi_endproc
	.size	\name, . - \name
.endm

	irq_stub timer_irq, timer_tick			/* IRQ 0, the PIT's: by the PICs or the IOAPIC */
	irq_stub apic_timer_irq, apic_timer_tick	/* the BSP's local APIC timer */

/* IRQ 7 from the master is spurious when masked: no EOI, the master has
 * nothing in service. */
	.globl	spurious_master
	.type	spurious_master, @function
spurious_master:
	iretq
	.size	spurious_master, . - spurious_master

/* IRQ 15: the slave's is spurious, but the master did take IRQ 2 for it. */
	.globl	spurious_slave
	.type	spurious_slave, @function
spurious_slave:
	push	%rax
	mov	$0x20, %al
	outb	%al, $0x20
	pop	%rax
	iretq
	.size	spurious_slave, . - spurious_slave

/* The LAPIC's spurious vector takes no EOI. */
	.globl	spurious_lapic
	.type	spurious_lapic, @function
spurious_lapic:
	iretq
	.size	spurious_lapic, . - spurious_lapic

/*
 * isr_stubs: one PCK_ISR_STUB-byte stub per vector, each pushing an error
 * code where the CPU does not, then its vector, for isr_fatal: every vector
 * kmain does not give a handler of its own is an error.
 */
	.balign	PCK_ISR_STUB
	.globl	isr_stubs
isr_stubs:
	.set	vec, 0
	.rept	256
	.balign	PCK_ISR_STUB
	.if	!(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	push	$0
	.endif
	push	$vec
	jmp	isr_common
	.set	vec, vec + 1
	.endr

isr_common:
	mov	%rsp, %rdi
	and	$-16, %rsp
	call	isr_fatal
5:	cli
	hlt
	jmp	5b

/*
 * The AP trampoline, copied to PCK_TRAMP_BASE and entered there by SIPI
 * vector 0x70 (CS = 0x7000, IP = 0): real mode -> protected mode (the
 * kernel's GDT, 32-bit code) -> PAE, the BSP's CR3, EFER.LME, paging ->
 * ap_long.  Position-independent by hand: T(x) is x's address in the copy.
 */
#define T(x)	(PCK_TRAMP_BASE + (x) - tramp_start)

	.section .rodata
	.balign	16
	.globl	tramp_start, tramp_cr3, tramp_end
	.code16
tramp_start:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	tramp_gdtr - tramp_start	/* 32-bit operand: the GDT is above 1 MiB */
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0
	ljmpl	$PCK_SEL_CODE32, $T(tramp32)

	.code32
tramp32:
	mov	$PCK_SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	T(tramp_cr3), %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$CR0_PG, %eax
	mov	%eax, %cr0
	ljmp	$PCK_SEL_CODE64, $ap_long

	.balign	4
tramp_cr3:
	.long	0				/* the BSP patches its CR3 into the copy */
tramp_gdtr:
	.word	gdt_end - gdt - 1
	.long	gdt
tramp_end:
	.code64

	.data
	.balign	16
gdt:
	.quad	0
	.quad	0x00af9b000000ffff		/* 0x08: 64-bit code */
	.quad	0x00cf93000000ffff		/* 0x10: data, 4 GiB */
	.quad	0x00cf9b000000ffff		/* 0x18: 32-bit code, 4 GiB */
gdt_end:
gdt_ptr:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.bss
	.balign	4096
boot_pml4:	.skip	4096
boot_pdpt:	.skip	4096
boot_pd:	.skip	4 * 4096
	.globl	ap_stacks
ap_stacks:	.skip	(PCK_MAX_CPUS - 1) * PCK_AP_STACK	/* slot k: the k-th AP to arrive */
boot_stack:	.skip	PCK_STACK_SIZE
boot_stack_top:
	.balign	4
	.globl	mb_magic, mb_info
mb_magic:	.skip	4
mb_info:	.skip	4
ap_next:	.skip	4
