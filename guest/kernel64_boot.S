/*
 * kernel64_boot.S - kernel64's entry, linked where it is loaded (physical
 * KERNEL_PHYS, section .boot) and entered by the vmm in long mode with its
 * identity map of 0-4 GiB.
 *
 * The boot CPU (RDI = 0) zeroes .bss and builds kernel64's own 4-level
 * tables: the low identity map (0 .. LOW_IDENT_SIZE, 2 MiB pages) and the
 * higher-half image (4 KiB pages, virtual = physical + KERNEL_VOFF).  It then
 * switches CR3, takes its own stack and calls kmain(cpu, arg, ncpus) in the higher
 * half; kmain adds the special mappings.  Other vCPUs wait for the tables,
 * switch to them and run ap_main(cpu) on a small stack each.
 */
#include "kernel64.h"

#define PTE_P	0x1
#define PTE_RW	0x2
#define PTE_PS	0x80

/* phys reg, sym: reg = physical address of higher-half sym (R15 = KERNEL_VOFF). */
.macro phys reg, sym
	movabs	$\sym, \reg
	sub	%r15, \reg
.endm

/* link table_reg, index, next_reg: table[index] = next | P | RW. */
.macro link table, index, next
	lea	PTE_P|PTE_RW(\next), %rax
	mov	%rax, 8*\index(\table)
.endm

	.code64
	.section .boot.text, "ax"
	.globl	_start
	.type	_start, @function
_start:
	cli
	movabs	$KERNEL_VOFF, %r15
	test	%rdi, %rdi
	jnz	ap_start
	mov	%rdi, %r12			/* cpu */
	mov	%rsi, %r13			/* --arg */
	mov	%rdx, %r14			/* the number of vCPUs */

	/* .bss holds the tables and the stack; an ELF load zeroes it, a flat
	 * image does not know. */
	phys	%rdi, __bss_start
	phys	%rcx, __bss_end
	sub	%rdi, %rcx
	shr	$3, %rcx
	xor	%eax, %eax
	cld
	rep stosq

	phys	%r8, pml4
	phys	%r9, pdpt_low
	phys	%r10, pd_low
	phys	%r11, pdpt_high
	phys	%rbx, pd_high
	phys	%rdx, pt_kernel

	link	%r8, 0, %r9			/* pml4[0]: 0 .. 512 GiB */
	link	%r9, 0, %r10			/* pdpt_low[0]: 0 .. 1 GiB */
	xor	%ecx, %ecx			/* pd_low: 2 MiB identity pages */
1:	mov	%rcx, %rax
	shl	$21, %rax
	or	$PTE_P|PTE_RW|PTE_PS, %rax
	mov	%rax, (%r10,%rcx,8)
	inc	%rcx
	cmp	$LOW_IDENT_SIZE >> 21, %rcx
	jb	1b

	link	%r8, 511, %r11			/* pml4[511]: top 512 GiB */
	link	%r11, 510, %rbx			/* pdpt_high[510]: KERNEL_VIRT .. +1 GiB */
	link	%rbx, 0, %rdx			/* pd_high[0]: KERNEL_VIRT .. +2 MiB */
	movabs	$KERNEL_VIRT, %rsi		/* pt_kernel: the image, 4 KiB pages */
	movabs	$__kernel_end, %rdi
2:	mov	%rsi, %rax
	shr	$12, %rax
	and	$511, %eax
	lea	PTE_P|PTE_RW(%rsi), %rcx
	sub	%r15, %rcx
	mov	%rcx, (%rdx,%rax,8)
	add	$4096, %rsi
	cmp	%rdi, %rsi
	jb	2b

	mov	%r8, %cr3
	mov	%r8, boot_cr3			/* releases the other vCPUs */
	movabs	$stack_top, %rsp
	xor	%ebp, %ebp			/* the end of every backtrace */
	mov	%r12, %rdi
	mov	%r13, %rsi
	mov	%r14, %rdx
	movabs	$kmain, %rax
	call	*%rax
	jmp	park

	/* Another vCPU: wait for the boot CPU's tables, then ap_main(cpu). */
ap_start:
	cmp	$MAX_CPUS, %rdi
	jae	park
3:	pause
	mov	boot_cr3, %rax
	test	%rax, %rax
	jz	3b
	mov	%rax, %cr3
	movabs	$ap_stacks, %rsp
	mov	%rdi, %rax
	inc	%rax
	shl	$12, %rax			/* AP_STACK_SIZE */
	add	%rax, %rsp
	xor	%ebp, %ebp
	movabs	$ap_main, %rax
	call	*%rax
park:
	cli
	hlt
	jmp	park
	.size	_start, . - _start

	.section .boot.data, "aw"
	.balign	8
	.globl	boot_cr3
boot_cr3:
	.quad	0

	.section .note.GNU-stack, "", @progbits
