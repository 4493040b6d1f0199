/*
 * mbexit.S - mbexit32, the smallest Multiboot (version 1) kernel: its first
 * instruction ends the vmm through port 0xF4 (status 33).  make bench times
 * it: the boot of a Multiboot kernel up to its first instruction.
 */
#define MB_FLAGS 0x00000003	/* page-aligned modules, memory info */
	.section .text.start, "ax"
	.code32
	.balign 4
	.long 0x1BADB002
	.long MB_FLAGS
	.long -(0x1BADB002 + MB_FLAGS)
	.globl _start
_start:
	mov $0x10, %al
	out %al, $0xf4
1:	cli
	hlt
	jmp 1b
