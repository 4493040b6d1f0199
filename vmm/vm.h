/* vm.h - a KVM virtual machine: guest RAM, vCPUs, the run loop, port I/O.
 *
 * No globals: everything hangs off struct vm, and each vCPU off struct vcpu,
 * so the gdb target can drive several vCPUs of one VM.
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/mmu.h"
#include "vmm/multiboot.h"
#include "vmm/uart.h"

/* One gdb thread per vCPU, and the gdb target keeps a bit per vCPU in a
 * uint64_t (its wake mask). */
#define VM_MAX_CPUS 64
_Static_assert(VM_MAX_CPUS <= 64, "a uint64_t holds one bit per vCPU");
#define VM_MAX_SLOTS 64 /* memory slots: runs of read-write and read-only pages */

enum vm_mode { MODE_REAL, MODE_PROTECTED, MODE_PAGED, MODE_LONG };

/* Guest-physical layout of what the vmm builds (protected, paged, long). */
#define BOOT_GDT   0x1000ULL /* GDT: 0x08 code32, 0x10 data, 0x18 code64 */
#define BOOT_PML4  0x2000ULL /* long: PML4; paged: the page directory */
#define BOOT_PDPT  0x3000ULL
#define BOOT_PD    0x4000ULL /* four page directories, 0x4000-0x7fff */
#define BOOT_START 0x1000ULL
#define BOOT_END   0x8000ULL
#define SEL_CODE32 0x08
#define SEL_DATA   0x10
#define SEL_CODE64 0x18
#define CPU_STACK_SIZE 0x10000ULL /* vCPU i starts with RSP = top - i * 64 KiB */

/* Exit statuses of the vmm.  Guests exiting through port 0xF4 give odd
 * statuses (V << 1) | 1, so the vmm's own are even. */
enum vm_status {
	STATUS_OK = 0,         /* guest halted */
	STATUS_USAGE = 2,      /* bad option, missing or bad image */
	STATUS_KVM = 4,        /* /dev/kvm missing, or a KVM call failed */
	STATUS_SHUTDOWN = 6,   /* triple fault */
	STATUS_INTERNAL = 8,   /* KVM internal error or failed entry */
	STATUS_MMIO = 10,      /* access outside guest RAM */
	STATUS_REFUSED = 12,   /* this KVM refuses the mode asked for */
	STATUS_KILLED = 14,    /* ended by the debugger */
};

/* What this KVM offers, found by probes (vmm/probe.c). */
struct kvm_features {
	int probed;          /* PROBE_* bits done */
	bool real, protected_, paged, paging_by_guest, long_;
	bool long_by_guest;
	bool gb_pages, la57, nx;
	bool int3_exit;      /* int3 with KVM_GUESTDBG_USE_SW_BP gives KVM_EXIT_DEBUG */
	bool hw_exec_bp;     /* DR0-DR3 execution breakpoints fire */
	bool data_bp;        /* DR0-DR3 data breakpoints fire */
	bool readonly_slot;  /* KVM_MEM_READONLY: writes exit as MMIO */
	bool single_step;
	bool step_after_rip_write; /* a step armed before a RIP write still steps (else re-arm) */
	bool shutdown_keeps_state; /* the registers after a triple fault are the faulting ones */
	bool irq_inject;     /* KVM_INTERRUPT delivers a vector through the guest's IDT (vmm/pc.h) */
	int max_vcpus;
};

/* Why vcpu_run returned. */
enum vcpu_event {
	EV_HLT,        /* HLT (regs.rip is after it) */
	EV_DEBUG,      /* KVM_EXIT_DEBUG: breakpoint, step; see run->debug */
	EV_EXIT_PORT,  /* OUT to 0xF4: status in vcpu.exit_status */
	EV_SHUTDOWN,   /* triple fault */
	EV_INTERNAL,   /* KVM internal error */
	EV_FAIL_ENTRY, /* KVM could not enter the guest */
	EV_MMIO,       /* MMIO access (outside RAM, or a write to a read-only slot) */
	EV_INTR,       /* KVM_RUN returned EINTR (a kick) */
	EV_ERROR,      /* KVM_RUN failed */
};

struct vm;

/* Per-vCPU handlers a user of the VM can install: called from the vCPU's
 * thread.  mmio returns true if it handled the access (e.g. a write to a
 * watched read-only page) and the vCPU should go on. */
struct vm_hooks {
	void (*console)(void *opaque, const char *buf, size_t len);
	void *opaque;
};

struct vcpu {
	struct vm *vm;
	int index;
	int fd;           /* -1: not created */
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	int exit_status;  /* for EV_EXIT_PORT */
	int err;          /* errno for EV_ERROR */
	void *xsave;      /* KVM_GET/SET_XSAVE buffer (vm->xsave_size bytes); NULL: FPU ioctls */
	/* The PC side (vmm/pc.h).  wait: written under the PC's lock, read
	 * atomically by the vCPU's thread before KVM_RUN. */
	int wait;         /* VCPU_RUNS, VCPU_HALTED (HLT, waits for an interrupt), VCPU_WAITS_SIPI */
	int kicked;       /* vcpu_kick was here (atomic): ends a wait in pc_idle */
	bool hold_irq;    /* single-stepping: no interrupt injected (the thread running the vCPU) */
};
enum { VCPU_RUNS, VCPU_HALTED, VCPU_WAITS_SIPI };

struct memslot {
	uint64_t gpa, size;
	bool readonly;
};

/* Where a PT_LOAD segment of the ELF put its virtual addresses: vaddr ..
 * vaddr + memsz - 1 at guest-physical paddr.  A flat image has none. */
struct vm_seg {
	uint64_t vaddr, paddr, memsz;
};
#define VM_MAX_SEGS 32

struct vm {
	int kvm_fd, vm_fd;
	uint8_t *ram;
	uint64_t ram_size;
	struct mmu_ram mram;
	size_t run_size;
	struct kvm_cpuid2 *cpuid;
	enum vm_mode mode;
	int ncpus;
	struct vcpu cpus[VM_MAX_CPUS];
	uint64_t entry;
	uint64_t arg;
	struct kvm_features feat;
	bool quiet_ports;
	bool console_off;   /* 0xE9 output not written to stdout (monitor console gdb) */
	uint64_t warned_ports[65536 / 64];
	pthread_mutex_t out_lock;   /* guards console output and com1 */
	struct uart com1;           /* the 16550A at 0x3F8 (vmm/uart.h) */
	pthread_t serial_in;        /* stdin to COM1 (vmm/serial_in.c); out_lock: */
	bool serial_in_tried, serial_in_started;
	struct pc *pc;              /* PICs, PIT, local APICs (vmm/pc.h); NULL before vm_setup_cpus */
	struct vm_hooks hooks;
	void *runner; /* state of vm_run() */
	struct memslot slots[VM_MAX_SLOTS]; /* as KVM has them: slot i is slots[i] */
	int nslots;
	struct vm_seg segs[VM_MAX_SEGS]; /* the ELF's PT_LOAD segments, as loaded */
	int nsegs;
	struct mb_boot boot;  /* --append, --module: for a Multiboot kernel */
	bool multiboot;       /* the image is one: entered per Multiboot, not the boot contract */
	uint32_t mb_info;     /* where its Multiboot information is (EBX) */
	unsigned elf_machine; /* the ELF's e_machine (EM_386, EM_X86_64); 0: a flat image */
	size_t xsave_size;  /* bytes of KVM's XSAVE area; 0 without KVM_CAP_XSAVE */
	bool xsave2;        /* KVM_GET_XSAVE2 (the area may exceed 4 KiB) */
};

struct vm_config {
	enum vm_mode mode;
	uint64_t mem_size;
	int ncpus;
	uint64_t arg;
};

const char *vm_mode_name(enum vm_mode m);

/* Open /dev/kvm, create the VM with its RAM.  On failure returns -errno and
 * writes a one-line reason into err. */
int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void vm_destroy(struct vm *vm);

/* Load an image (flat at load_addr, or ELF by PT_LOAD) into RAM and set
 * vm->entry.  -errno with a reason in err. */
int vm_load_image(struct vm *vm, const char *path, uint64_t load_addr, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Is [gpa, gpa+len) in RAM and clear of the vmm's GDT and page tables?
 * 0, or -errno with a reason naming what. */
int vm_check_range(struct vm *vm, uint64_t gpa, uint64_t len, const char *what, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Read a whole regular file (what names it in errors: "image", "module")
 * of at most max bytes into a malloc'd buffer.  -errno with a reason. */
int vm_read_file(const char *path, const char *what, uint64_t max, uint8_t **data, size_t *size, char *err,
		 size_t errlen) __attribute__((warn_unused_result));

/* Where the ELF loaded virtual address va: its segment's paddr + (va -
 * vaddr), into *gpa.  0, or -EFAULT if no PT_LOAD segment holds va (a flat
 * image has none). */
int vm_elf_paddr(const struct vm *vm, uint64_t va, uint64_t *gpa)
	__attribute__((warn_unused_result));

/* Build the GDT and page tables for the mode, create the vCPUs and set
 * their registers per the boot contract. */
int vm_setup_cpus(struct vm *vm, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Run the vCPU until something the caller must handle.  Port I/O to 0xE9
 * and unknown ports is handled inside. */
enum vcpu_event vcpu_run(struct vcpu *c);

/* The x87 and SSE state, MXCSR included.  Through KVM_GET/SET_XSAVE where
 * KVM has them: KVM_GET/SET_FPU skip MXCSR, and KVM_SET_FPU leaves the x87
 * and SSE bits of XSTATE_BV as they are, so what it writes into a vCPU that
 * has not used SSE yet is reset by the XRSTOR of the next entry.  A write
 * keeps the rest of the XSAVE area (AVX...) as it is. */
int vcpu_get_fpu(struct vcpu *c, struct kvm_fpu *f) __attribute__((warn_unused_result));
int vcpu_set_fpu(struct vcpu *c, const struct kvm_fpu *f) __attribute__((warn_unused_result));

/* stdin to COM1's receive FIFO (vmm/serial_in.c): the reader thread is
 * started at the guest's first COM1 access (vm->out_lock held), and
 * cancelled by vm_destroy. */
void serial_in_start_locked(struct vm *vm);
void serial_in_stop(struct vm *vm);

/* Run every vCPU (one thread each) without a debugger until all have
 * halted, one exits through port 0xF4, or one fails.  Returns the vmm's exit
 * status (enum vm_status, or the guest's 0xF4 status). */
int vm_run(struct vm *vm);
/* Make a vCPU leave KVM_RUN soon (EV_INTR); safe from any thread. */
void vcpu_kick(struct vcpu *c);
/* SIGUSR1 handler that interrupts KVM_RUN (install once). */
void vm_install_kick_handler(void);

/* The state KVM gives a vCPU at INIT (CS base 0xffff0000, RIP 0xfff0), which
 * no guest of ours reaches by itself: after KVM_EXIT_SHUTDOWN it means KVM
 * re-initialised the vCPU (kvm_amd does) and the faulting state is lost. */
bool vcpu_state_is_reset(const struct kvm_regs *regs, const struct kvm_sregs *sr);

/* Write a one-paragraph report of the vCPU state after an event to stderr. */
void vcpu_report(struct vcpu *c, enum vcpu_event ev);
const char *vcpu_event_name(enum vcpu_event ev);

/* Guest memory slots: RAM is mapped as runs of read-write and read-only
 * pages.  Set pages [gpa, gpa+len) read-only or back to read-write.  All or
 * nothing: on failure (-errno) KVM's slots and vm->slots are as they were. */
int vm_set_readonly(struct vm *vm, uint64_t gpa, uint64_t len, bool ro)
	__attribute__((warn_unused_result));

/* Delete and re-create every memory slot, as they are: KVM forgets what it
 * cached of guest memory (shadow page tables built from page-table pages the
 * vmm wrote behind its back).  On failure the slots are put back as well. */
int vm_reload_slots(struct vm *vm) __attribute__((warn_unused_result));

/* Probes (vmm/probe.c): fill vm->feat using throwaway VMs. */
enum {
	PROBE_MODES = 1,  /* which modes run */
	PROBE_INT3 = 2,   /* int3 interception: how software breakpoints work */
	PROBE_WATCH = 4,  /* data breakpoints, read-only slots: how watchpoints work */
	PROBE_STEPS = 8,  /* single step, execution breakpoints */
	PROBE_KEEPS = 16, /* what KVM keeps: a step across a RIP write, the state of a triple fault */
	PROBE_ALL = 31,
};
/* Probe what is asked and not probed yet.  Each probe is a throwaway VM
 * (milliseconds each here), so the gdb target asks lazily. */
int kvm_probe(int kvm_fd, struct kvm_features *f, int what);
void kvm_probe_print(const struct kvm_features *f, FILE *out);
/* "kvm_pvm", "kvm_intel", "kvm_amd" or "kvm": names the cause of a refusal. */
const char *kvm_flavour(void);

/* KVM ioctls in the two forms of the KVM selftests.  kvm_ioctl_raw gives the
 * ioctl's result (>= 0) or -errno.  kvm_ioctl does the same and on failure
 * writes a reason naming the request as written into err ("KVM_SET_SREGS:
 * Invalid argument").  arg is a pointer or a number. */
int kvm_ioctl_raw_(int fd, unsigned long req, unsigned long arg) __attribute__((warn_unused_result));
int kvm_ioctl_(int fd, unsigned long req, unsigned long arg, const char *name, char *err, size_t errlen)
	__attribute__((warn_unused_result));
#define kvm_ioctl_raw(fd, req, arg) kvm_ioctl_raw_((fd), (req), (unsigned long)(arg))
#define kvm_ioctl(fd, req, arg, err, errlen) \
	kvm_ioctl_((fd), (req), (unsigned long)(arg), #req, (err), (errlen))

/* KVM_GET_SUPPORTED_CPUID into a buffer of the size it needs (free() it);
 * NULL with errno set if it fails. */
struct kvm_cpuid2 *kvm_supported_cpuid(int kvm_fd);
bool cpuid_has(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, int reg, int bit);
/* The paging features a CPUID offers: f->gb_pages, la57, nx. */
void cpuid_features(const struct kvm_cpuid2 *c, struct kvm_features *f);

#endif
