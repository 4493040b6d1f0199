/*
 * hello16 - real mode: prints "Hello, world!\n" on port 0xE9, stores the
 * 32-bit value 42 at physical 0x400 and halts.
 *
 *   vmm --mode real build/guest/hello16.bin        (loaded at 0: CS=0, IP=0)
 *
 * The whole image stays below 0x400 (checked by flat.ld).
 */
#include "rt16.inc"

	.code16
	.section .text.start, "ax"
	.globl	_start
_start:
	cli
	rt16_puts hello_msg, hello_msg_len
	.globl	hello_store
hello_store:
	movl	$42, 0x400		/* DS = 0 */
	.globl	hello_halt
hello_halt:
	rt_halt_forever

	.section .rodata
	rt_string hello_msg, "Hello, world!\n"

	.section .note.GNU-stack, "", @progbits
