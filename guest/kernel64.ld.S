/*
 * kernel64.ld.S - kernel64's linker script (through cpp, for kernel64.h).
 * .boot is linked where it is loaded; the rest in the higher half with
 * AT() giving each section its physical (load) address.
 */
#include "kernel64.h"

ENTRY(_start)

PHDRS
{
	boot	PT_LOAD FLAGS(7);
	text	PT_LOAD FLAGS(5);
	rodata	PT_LOAD FLAGS(4);
	data	PT_LOAD FLAGS(6);
}

SECTIONS
{
	. = KERNEL_PHYS;
	.boot : {
		KEEP(*(.boot.text))
		*(.boot.data)
		. = ALIGN(4096);
	} :boot

	. = . + KERNEL_VOFF;
	__kernel_start = KERNEL_VIRT;
	.text : AT(ADDR(.text) - KERNEL_VOFF) {
		*(.text .text.*)
	} :text

	. = ALIGN(4096);
	.rodata : AT(ADDR(.rodata) - KERNEL_VOFF) {
		*(.rodata .rodata.*)
	} :rodata

	/* Whole pages the page tables treat one by one.  split_page_hi comes
	 * first and ro_page sits between: the two halves of split_va are
	 * physically apart and in reverse order. */
	. = ALIGN(4096);
	.pages : AT(ADDR(.pages) - KERNEL_VOFF) {
		KEEP(*(.data.split_page_hi))
		KEEP(*(.data.ro_page))
		KEEP(*(.data.split_page_lo))
		KEEP(*(.data.alias_a))
		. = ALIGN(4096);
		KEEP(*(.data.watch))
		. = ALIGN(4096);
	} :data
	.data : AT(ADDR(.data) - KERNEL_VOFF) {
		*(.data .data.*)
	} :data

	. = ALIGN(4096);
	__bss_start = .;
	.bss : AT(ADDR(.bss) - KERNEL_VOFF) {
		KEEP(*(.bss.pagetables))
		KEEP(*(.bss.stack_guard))
		KEEP(*(.bss.kstack))
		stack_top = .;
		*(.bss .bss.* COMMON)
		. = ALIGN(4096);
	} :data
	__bss_end = .;
	__kernel_end = .;

	/DISCARD/ : { *(.note .note.*) *(.comment) *(.eh_frame .eh_frame_hdr) }
}

/* The window of special mappings (kernel64.h), as symbols gdb can name. */
alias_b = ALIAS_B_VA;
split_va = SPLIT_VA;
huge_2m = HUGE_2M_VA;
huge_1g = HUGE_1G_VA;

ASSERT(_start == KERNEL_PHYS, "_start must open .boot at KERNEL_PHYS")
ASSERT(SIZEOF(.boot) == 4096, ".boot must be one page")
ASSERT(__kernel_end <= ALIAS_B_VA, "the image runs into the window of special mappings")
ASSERT(split_page_lo != split_page_hi + 4096, "split pages must not be adjacent")
ASSERT(stack_guard + 4096 == kstack, "stack_guard must sit right below the stack")
