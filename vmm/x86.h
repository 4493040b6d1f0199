/* x86.h - architectural bits the vmm, the walker and the gdb target share. */
#ifndef VMM_X86_H
#define VMM_X86_H

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)

#define CR4_PSE (1ULL << 4)
#define CR4_PAE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_LA57 (1ULL << 12)

#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

#define DR6_BS (1ULL << 14) /* single step */

#define MSR_EFER 0xc0000080
#define MSR_KERNEL_GS_BASE 0xc0000102

#endif
