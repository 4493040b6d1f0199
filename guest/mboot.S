/*
 * mboot.S - the entry of mboot32, a Multiboot (version 1) kernel: the header
 * in the first bytes of the image, then _start, entered as GRUB enters a
 * kernel (protected mode, EAX = 0x2BADB002, EBX = the Multiboot
 * information), which sets up a stack and calls mb_main(magic, info).
 * Assembled twice: as it is (the vmm loads the ELF's program headers) and
 * with ADDRESS_FIELDS (flag 16: the header says where to load the flat
 * image, mbootaf32.bin).
 */
#ifdef ADDRESS_FIELDS
#define MB_FLAGS 0x00010003	/* page-aligned modules, memory info, address fields */
#else
#define MB_FLAGS 0x00000003
#endif
	.section .text.start, "ax"
	.code32
	.balign 4
mb_header:
	.long 0x1BADB002
	.long MB_FLAGS
	.long -(0x1BADB002 + MB_FLAGS)
#ifdef ADDRESS_FIELDS
	.long mb_header		/* header_addr */
	.long __image_start	/* load_addr */
	.long __image_end	/* load_end_addr */
	.long _end		/* bss_end_addr */
	.long _start		/* entry_addr */
#endif
	.globl _start
_start:
	mov $stack_top, %esp
	push %ebx
	push %eax
	call mb_main
1:	cli
	hlt
	jmp 1b

	.bss
	.balign 16
	.skip 8192
stack_top:
