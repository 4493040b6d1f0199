/*
 * seg16 - real mode with CS != 0, as a boot sector runs: entered at
 * 07C0:0000 (linear 0x7C00), it writes "B", far-calls far_func at
 * 1000:0010 (linear 0x10010), which writes "F" and returns, then writes
 * "\n", stores the 32-bit value 42 at physical 0x400 and halts.
 *
 *   vmm --mode real build/guest/seg16.elf     (entry 0x7C00: CS=0x07C0, IP=0)
 *
 * Linked at linear addresses (seg16.ld), so each symbol is the linear
 * address gdb's breakpoints use in real mode, while IP counts from the
 * segment: only relative jumps and CS-relative data here.
 */
#include "rt16.inc"

	.code16
	.section .text.start, "ax"
	.globl	_start
_start:					/* 07C0:0000 */
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	movb	$'B', %al
	outb	%al, $0xe9
	.globl	seg_call
seg_call:
	lcall	$0x1000, $0x0010		/* far_func (seg16.ld checks) */
	.globl	seg_back
seg_back:
	movb	$'\n', %al
	outb	%al, $0xe9
	xor	%ax, %ax
	mov	%ax, %ds
	.globl	seg_store
seg_store:
	movl	$42, 0x400
	rt_halt_forever

	.section .text.far, "ax"
	.globl	far_func
far_func:				/* 1000:0010 */
	movb	$'F', %al
	outb	%al, $0xe9
	lret

	.section .note.GNU-stack, "", @progbits
