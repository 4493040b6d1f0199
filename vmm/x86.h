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

/* Paging-structure entries, in every paging mode (XD: PAE and 4/5-level). */
#define PTE_P  (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_US (1ULL << 2)
#define PTE_A  (1ULL << 5)
#define PTE_D  (1ULL << 6)
#define PTE_PS (1ULL << 7)  /* a large page, above the last level */
#define PTE_XD (1ULL << 63)

/* Code and data segment types (the descriptor's type field, S = 1). */
#define SEG_TYPE_DATA_RW 3  /* read/write, accessed */
#define SEG_TYPE_CODE_RX 11 /* execute/read, accessed */

/* Exception vectors. */
#define EXC_DB 1 /* debug: single step, debug-register breakpoints */
#define EXC_BP 3 /* int3 */

#define DR6_B(i) (1ULL << (i)) /* breakpoint i (DR0-DR3) fired */
#define DR6_BS (1ULL << 14) /* single step */

/* DR7: breakpoint i enabled (local), what it watches, over how many bytes. */
#define DR7_L(i) (1ULL << (2 * (i)))
#define DR7_RW(i, rw) ((unsigned long long)(rw) << (16 + 4 * (i)))
#define DR7_LEN(i, len) ((unsigned long long)(len) << (18 + 4 * (i)))
#define DR7_RW_EXEC 0
#define DR7_RW_WRITE 1
#define DR7_RW_ACCESS 3 /* read or write */
#define DR7_LEN_1 0
#define DR7_LEN_2 1
#define DR7_LEN_8 2
#define DR7_LEN_4 3

/* One-byte opcodes the gdb target plants or looks for. */
#define OPC_INT3 0xcc
#define OPC_HLT 0xf4

#define MSR_APIC_BASE 0x1b /* IA32_APIC_BASE: base, bit 8 BSP, bit 11 enabled */
#define APIC_BASE_BSP (1ULL << 8)
#define APIC_BASE_ENABLE (1ULL << 11)
#define MSR_EFER 0xc0000080
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_PAT 0x277
#define MSR_TSC_AUX 0xc0000103

#endif
