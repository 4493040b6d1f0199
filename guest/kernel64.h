/*
 * kernel64.h - the memory layout of kernel64, shared by its boot code
 * (kernel64_boot.S), its C code (kernel64.c) and its linker script
 * (kernel64.ld.S, run through cpp).  guest/README.md has the whole map.
 *
 * Physical: the image starts at KERNEL_PHYS (1 MiB).  Its first page, .boot,
 * runs where it is loaded (VMA = LMA).  Everything else is linked in the
 * higher half: virtual = physical + KERNEL_VOFF, so that KERNEL_VIRT is
 * physical KERNEL_PHYS.
 */
#ifndef GUEST_KERNEL64_H
#define GUEST_KERNEL64_H

#define KERNEL_PHYS	0x100000
#define KERNEL_VIRT	0xffffffff80000000
#define KERNEL_VOFF	0xffffffff7ff00000	/* KERNEL_VIRT - KERNEL_PHYS */

/* Low identity map with 2 MiB pages: physical 0 .. LOW_IDENT_SIZE. */
#define LOW_IDENT_SIZE	0x400000

/* Window of special 4 KiB mappings in pt_kernel, above the image. */
#define ALIAS_B_VA	(KERNEL_VIRT + 0x100000)	/* -> the page of alias_a */
#define SPLIT_VA	(KERNEL_VIRT + 0x102000)	/* 2 pages -> split_page_lo, split_page_hi */
#define HUGE_2M_VA	(KERNEL_VIRT + 0x200000)	/* one 2 MiB page -> physical 0 */
#define HUGE_1G_VA	0xffffffffc0000000		/* one 1 GiB page -> physical 0, if offered */

#define KSTACK_SIZE	0x4000
#define MAX_CPUS	8
#define AP_STACK_SIZE	0x1000

#define COUNT_ITERATIONS 10
#define SPLIT_LO_BYTE	0xa1
#define SPLIT_HI_BYTE	0xb2

#endif
