/*
 * boot16to64 - from real mode to long mode by itself, printing at each stage:
 *
 *   vmm --mode real --load 0x8000 build/guest/boot16to64.bin
 *
 *   boot16to64: real
 *   boot16to64: protected
 *   boot16to64: long
 *
 * then halts (status 0); if it finds itself not in 64-bit mode at stage_long
 * it says so and exits with code 1 (status 3).  Loaded at 0x8000 (entered with CS=0x800, IP=0, and
 * first jumps to CS=0 so offsets are link addresses).  It loads its own GDT
 * (0x08 code32, 0x10 data, 0x18 code64), enters 32-bit protected mode,
 * builds an identity map of 0-1 GiB in 2 MiB pages (boot_pml4, boot_pdpt,
 * boot_pd), sets CR4.PAE, CR3, EFER.LME and CR0.PG (at enable_paging), and
 * far-jumps to 64-bit code.  stage_real, stage_protected and stage_long mark
 * where each mode starts.  A KVM that refuses a guest entering long mode
 * triple-faults at enable_paging, after the first two lines.
 */
#include "rt16.inc"

#define CR0_PE		0x1
#define CR0_PG		0x80000000
#define CR4_PAE		0x20
#define MSR_EFER	0xc0000080
#define EFER_LME	0x100
#define EFER_LMA	0x400

	.section .text.start, "ax"
	.code16
	.globl	_start
_start:
	cli
	ljmp	$0, $stage_real

	.globl	stage_real
stage_real:
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x8000, %sp
	rt16_puts msg_real, msg_real_len
	lgdtl	gdt_desc
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $stage_protected

	.code32
	.globl	stage_protected
stage_protected:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %fs
	mov	%ax, %gs
	mov	%ax, %ss
	mov	$0x8000, %esp
	rt32_puts msg_protected, msg_protected_len

	/* Tables: zeroed here, the image may come as a flat binary. */
	mov	$boot_pml4, %edi
	mov	$3 * 4096 / 4, %ecx
	xor	%eax, %eax
	cld
	rep stosl
	movl	$boot_pdpt + 0x3, boot_pml4		/* P | RW */
	movl	$boot_pd + 0x3, boot_pdpt
	xor	%ecx, %ecx
1:	mov	%ecx, %eax
	shl	$21, %eax
	or	$0x83, %eax				/* P | RW | PS: 2 MiB */
	mov	%eax, boot_pd(,%ecx,8)
	inc	%ecx
	cmp	$512, %ecx
	jb	1b

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
	or	$CR0_PG, %eax
	.globl	enable_paging
enable_paging:
	mov	%eax, %cr0
	ljmp	$0x18, $stage_long

	.code64
	.globl	stage_long
stage_long:
	mov	$0x8000, %esp
	/* Really 64-bit?  EFER.LMA, and a 64-bit immediate only decodes so here. */
	mov	$MSR_EFER, %ecx
	rdmsr
	test	$EFER_LMA, %eax
	jz	not_long
	movabs	$0x123456789abcdef0, %rax
	shr	$32, %rax
	cmp	$0x12345678, %eax
	jne	not_long
	mov	$msg_long, %esi
	mov	$msg_long_len, %ecx
	mov	$0xe9, %dx
	rep outsb
	.globl	stage_halt
stage_halt:
	rt_halt_forever
not_long:
	mov	$msg_not_long, %esi
	mov	$msg_not_long_len, %ecx
	mov	$0xe9, %dx
	rep outsb
	rt_exit_code 1
	rt_halt_forever

	.section .rodata
	.balign	8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: code, 32-bit, flat */
	.quad	0x00cf92000000ffff	/* 0x10: data, flat */
	.quad	0x00af9a000000ffff	/* 0x18: code, 64-bit */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
	rt_string msg_real, "boot16to64: real\n"
	rt_string msg_protected, "boot16to64: protected\n"
	rt_string msg_long, "boot16to64: long\n"
	rt_string msg_not_long, "boot16to64: FAILED: not in 64-bit mode\n"

	.section .bss
	.balign	4096
	.globl	boot_pml4, boot_pdpt, boot_pd
boot_pml4: .space 4096
boot_pdpt: .space 4096
boot_pd:   .space 4096

	.section .note.GNU-stack, "", @progbits
