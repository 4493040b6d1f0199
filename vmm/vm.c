/* vm.c - VM and vCPU setup per mode, memory slots, FPU state; the run loop
 * is vcpu_run.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/acpi.h"
#include "vmm/lapic.h"
#include "vmm/pc.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

/* A one-line reason into err.  errno is kept: vsnprintf may set it. */
static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	errno = e;
}

int kvm_ioctl_raw_(int fd, unsigned long req, unsigned long arg)
{
	int r = ioctl(fd, req, arg);

	return r < 0 ? -errno : r;
}

int kvm_ioctl_(int fd, unsigned long req, unsigned long arg, const char *name, char *err, size_t errlen)
{
	int r = kvm_ioctl_raw_(fd, req, arg);

	if (r < 0)
		seterr(err, errlen, "%s: %s", name, strerror(-r));
	return r;
}

const char *vm_mode_name(enum vm_mode m)
{
	static const char *const names[] = { "real", "protected", "paged", "long" };

	return (unsigned)m < 4 ? names[m] : "?";
}

struct kvm_cpuid2 *kvm_supported_cpuid(int kvm_fd)
{
	for (int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		int r;

		if (!c)
			return NULL;
		c->nent = n;
		r = kvm_ioctl_raw(kvm_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (r >= 0)
			return c;
		free(c);
		errno = -r;
		if (r != -E2BIG)
			return NULL;
	}
	return NULL;
}

/* reg: 0 eax, 1 ebx, 2 ecx, 3 edx */
bool cpuid_has(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, int reg, int bit)
{
	if (!c)
		return false;
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		uint32_t v;

		if (e->function != fn || e->index != idx)
			continue;
		v = reg == 0 ? e->eax : reg == 1 ? e->ebx : reg == 2 ? e->ecx : e->edx;
		return (v >> bit) & 1;
	}
	return false;
}

void cpuid_features(const struct kvm_cpuid2 *c, struct kvm_features *f)
{
	f->gb_pages = cpuid_has(c, 0x80000001, 0, 3, 26); /* pdpe1gb */
	f->la57 = cpuid_has(c, 7, 0, 2, 16);
	f->nx = cpuid_has(c, 0x80000001, 0, 3, 20);
}

static int set_slot(struct vm *vm, int slot, uint64_t gpa, uint64_t size, bool ro)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = ro ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)(vm->ram + gpa),
	};

	return kvm_ioctl_raw(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	for (int i = 0; i < VM_MAX_CPUS; i++)
		vm->cpus[i].fd = -1;
	vm->mode = cfg->mode;
	vm->ncpus = cfg->ncpus;
	vm->arg = cfg->arg;
	vm->ram_size = cfg->mem_size;
	pthread_mutex_init(&vm->out_lock, NULL);
	uart_reset(&vm->com1);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			seterr(err, errlen, "/dev/kvm does not exist: KVM is not available on this machine");
		else if (r == -EACCES)
			seterr(err, errlen, "no permission to open /dev/kvm (join the kvm group or run as root)");
		else
			seterr(err, errlen, "cannot open /dev/kvm: %s", strerror(-r));
		return r;
	}
	r = kvm_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0, err, errlen);
	if (r < 0)
		goto err_close;
	if (r != KVM_API_VERSION) {
		seterr(err, errlen, "KVM API version %d, not %d", r, KVM_API_VERSION);
		r = -EINVAL;
		goto err_close;
	}
	do
		r = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, 0, err, errlen);
	while (r == -EINTR);
	if (r < 0)
		goto err_close;
	vm->vm_fd = r;
	r = kvm_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0, err, errlen);
	if (r < 0)
		goto err_close;
	if ((size_t)r < sizeof(struct kvm_run)) {
		seterr(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %d bytes, too few for struct kvm_run", r);
		r = -EINVAL;
		goto err_close;
	}
	vm->run_size = r;
	/* Needed by Intel for real mode (KVM keeps three pages there, below
	 * 4 GiB - 12 KiB); kvm_amd and kvm_pvm accept it and do nothing. */
	r = kvm_ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL, err, errlen);
	if (r < 0)
		goto err_close;

	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		r = -errno;
		vm->ram = NULL;
		seterr(err, errlen, "cannot allocate %llu bytes of guest RAM: %s",
		       (unsigned long long)vm->ram_size, strerror(errno));
		goto err_close;
	}
	madvise(vm->ram, vm->ram_size, MADV_MERGEABLE);
	vm->mram.base = vm->ram;
	vm->mram.size = vm->ram_size;
	vm->slots[0] = (struct memslot){ 0, vm->ram_size, false };
	vm->nslots = 1;
	r = set_slot(vm, 0, 0, vm->ram_size, false);
	if (r) {
		seterr(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-r));
		goto err_close;
	}
	vm->cpuid = kvm_supported_cpuid(vm->kvm_fd);
	if (!vm->cpuid) {
		r = errno ? -errno : -EIO;
		seterr(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		goto err_close;
	}
	/* KVM_CHECK_EXTENSION: > 0 offered, 0 (or an error, from an old KVM) not. */
	r = kvm_ioctl_raw(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	vm->xsave2 = r > 0;
	if (r >= (int)sizeof(struct kvm_xsave))
		vm->xsave_size = r;
	else if (kvm_ioctl_raw(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0)
		vm->xsave_size = sizeof(struct kvm_xsave);
	cpuid_features(vm->cpuid, &vm->feat);
	return 0;

err_close:
	vm_destroy(vm);
	return r;
}

void vm_destroy(struct vm *vm)
{
	serial_in_stop(vm);
	pc_destroy(vm);
	for (int i = 0; i < VM_MAX_CPUS; i++) {
		struct vcpu *c = &vm->cpus[i];

		if (c->run)
			munmap(c->run, vm->run_size);
		if (c->fd >= 0)
			close(c->fd);
		free(c->xsave);
		c->xsave = NULL;
		c->run = NULL;
		c->fd = -1;
	}
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
	free(vm->cpuid);
	vm->cpuid = NULL;
}

/* Make KVM's slots next[0..n) instead of vm->slots, and vm->slots a copy of
 * next.  KVM cannot change a slot's flags in place: each old slot is
 * deleted, then each new one created.  If KVM refuses a step, the steps done
 * are undone and vm->slots stays as it was, still what KVM has (unless KVM
 * refuses to take back a slot it held a moment ago too). */
static int replace_slots(struct vm *vm, const struct memslot *next, int n)
{
	int deleted, added = 0, r = 0;

	for (deleted = 0; deleted < vm->nslots; deleted++) {
		r = set_slot(vm, deleted, vm->slots[deleted].gpa, 0, false);
		if (r)
			goto undo;
	}
	for (added = 0; added < n; added++) {
		r = set_slot(vm, added, next[added].gpa, next[added].size, next[added].readonly);
		if (r)
			goto undo;
	}
	if (next != vm->slots)
		memcpy(vm->slots, next, n * sizeof(next[0]));
	vm->nslots = n;
	return 0;

undo:
	/* KVM has the new slots [0, added) and the old ones [deleted, nslots). */
	for (int i = 0; i < added; i++)
		(void)set_slot(vm, i, next[i].gpa, 0, false);
	for (int i = 0; i < deleted; i++)
		(void)set_slot(vm, i, vm->slots[i].gpa, vm->slots[i].size, vm->slots[i].readonly);
	return r;
}

/* Rebuild the memory slots so that exactly the pages in [gpa, gpa+len) change
 * to ro.  Slots are kept as an ordered list of runs covering all of RAM. */
int vm_set_readonly(struct vm *vm, uint64_t gpa, uint64_t len, bool ro)
{
	struct memslot next[VM_MAX_SLOTS];
	int n = 0;
	uint64_t lo = gpa & ~(PAGE_SIZE - 1), hi;

	if (len == 0 || gpa >= vm->ram_size || len > vm->ram_size - gpa)
		return -EFAULT;
	hi = (gpa + len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	if (hi > vm->ram_size)
		hi = vm->ram_size;
	/* Split every old run at lo and hi, then set the flag inside. */
	for (int i = 0; i < vm->nslots; i++) {
		struct memslot s = vm->slots[i];
		uint64_t cuts[4] = { s.gpa, s.gpa + s.size, lo, hi };
		uint64_t pts[4];
		int np = 0;

		for (int k = 0; k < 4; k++)
			if (cuts[k] >= s.gpa && cuts[k] <= s.gpa + s.size) {
				bool dup = false;

				for (int m = 0; m < np; m++)
					dup |= pts[m] == cuts[k];
				if (!dup)
					pts[np++] = cuts[k];
			}
		for (int a = 0; a < np; a++) /* sort the few cut points */
			for (int b = a + 1; b < np; b++)
				if (pts[b] < pts[a]) {
					uint64_t t = pts[a];

					pts[a] = pts[b];
					pts[b] = t;
				}
		for (int k = 0; k + 1 < np; k++) {
			struct memslot p = { pts[k], pts[k + 1] - pts[k], s.readonly };

			if (p.gpa >= lo && p.gpa + p.size <= hi)
				p.readonly = ro;
			if (n && next[n - 1].readonly == p.readonly &&
			    next[n - 1].gpa + next[n - 1].size == p.gpa)
				next[n - 1].size += p.size;
			else if (n == VM_MAX_SLOTS)
				return -ENOSPC;
			else
				next[n++] = p;
		}
	}
	return replace_slots(vm, next, n);
}

int vm_reload_slots(struct vm *vm)
{
	return replace_slots(vm, vm->slots, vm->nslots);
}

static void build_gdt(struct vm *vm)
{
	uint64_t *gdt = (uint64_t *)(vm->ram + BOOT_GDT);

	gdt[0] = 0;
	gdt[1] = 0x00cf9a000000ffffULL; /* 0x08: code, 32-bit, flat */
	gdt[2] = 0x00cf92000000ffffULL; /* 0x10: data, flat */
	gdt[3] = 0x00af9a000000ffffULL; /* 0x18: code, 64-bit */
}

static void build_tables(struct vm *vm)
{
	uint64_t *pml4 = (uint64_t *)(vm->ram + BOOT_PML4);
	uint64_t *pdpt = (uint64_t *)(vm->ram + BOOT_PDPT);

	if (vm->mode == MODE_PAGED) {
		uint32_t *pd = (uint32_t *)(vm->ram + BOOT_PML4);

		for (uint32_t i = 0; i < 1024; i++)
			pd[i] = (i << 22) | PTE_P | PTE_RW | PTE_PS; /* 4 MiB */
		return;
	}
	memset(pml4, 0, PAGE_SIZE);
	memset(pdpt, 0, PAGE_SIZE);
	pml4[0] = BOOT_PDPT | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t *pd = (uint64_t *)(vm->ram + BOOT_PD + i * PAGE_SIZE);

		if (vm->feat.gb_pages) {
			pdpt[i] = (i << 30) | PTE_P | PTE_RW | PTE_PS; /* 1 GiB */
			continue;
		}
		pdpt[i] = (BOOT_PD + i * PAGE_SIZE) | PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = (i << 30) | (j << 21) | PTE_P | PTE_RW | PTE_PS; /* 2 MiB */
	}
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = !code64, .s = 1, .l = code64, .g = 1,
	};
}

static uint64_t stack_top(struct vm *vm, int index)
{
	uint64_t top = vm->ram_size < (4ULL << 30) ? vm->ram_size : (4ULL << 30);

	return (top - index * CPU_STACK_SIZE) & ~0xfULL;
}

/* The start of an XSAVE area in the standard format KVM_GET_XSAVE gives:
 * the legacy region (the FXSAVE layout) and the header. */
struct xsave_legacy {
	uint16_t fcw, fsw;
	uint8_t ftw, rsvd;
	uint16_t fop;
	uint64_t fip, fdp;
	uint32_t mxcsr, mxcsr_mask;
	uint8_t st[8][16];
	uint8_t xmm[16][16];
	uint8_t pad[96];
	uint64_t xstate_bv, xcomp_bv;
};
_Static_assert(offsetof(struct xsave_legacy, xmm) == 160 &&
	       offsetof(struct xsave_legacy, xstate_bv) == 512, "XSAVE layout");
#define XFEATURE_FP_SSE 3ULL /* x87 | SSE (with MXCSR) */

static int get_xsave(struct vcpu *c)
{
	if (c->vm->xsave2)
		return kvm_ioctl_raw(c->fd, KVM_GET_XSAVE2, c->xsave);
	return kvm_ioctl_raw(c->fd, KVM_GET_XSAVE, c->xsave);
}

int vcpu_get_fpu(struct vcpu *c, struct kvm_fpu *f)
{
	const struct xsave_legacy *x = c->xsave;
	int r;

	if (!x)
		return kvm_ioctl_raw(c->fd, KVM_GET_FPU, f);
	r = get_xsave(c);
	if (r)
		return r;
	memset(f, 0, sizeof(*f));
	memcpy(f->fpr, x->st, sizeof(f->fpr));
	f->fcw = x->fcw;
	f->fsw = x->fsw;
	f->ftwx = x->ftw;
	f->last_opcode = x->fop;
	f->last_ip = x->fip;
	f->last_dp = x->fdp;
	memcpy(f->xmm, x->xmm, sizeof(f->xmm));
	f->mxcsr = x->mxcsr;
	return 0;
}

int vcpu_set_fpu(struct vcpu *c, const struct kvm_fpu *f)
{
	struct xsave_legacy *x = c->xsave;
	int r;

	if (!x)
		return kvm_ioctl_raw(c->fd, KVM_SET_FPU, f);
	r = get_xsave(c); /* the other components stay */
	if (r)
		return r;
	memcpy(x->st, f->fpr, sizeof(x->st));
	x->fcw = f->fcw;
	x->fsw = f->fsw;
	x->ftw = f->ftwx;
	x->fop = f->last_opcode;
	x->fip = f->last_ip;
	x->fdp = f->last_dp;
	memcpy(x->xmm, f->xmm, sizeof(x->xmm));
	x->mxcsr = f->mxcsr;
	/* Components whose XSTATE_BV bit is clear are loaded in their initial
	 * state at entry, whatever the area holds. */
	x->xstate_bv |= XFEATURE_FP_SSE;
	return kvm_ioctl_raw(c->fd, KVM_SET_XSAVE, x);
}

static int setup_regs(struct vcpu *c, char *err, size_t errlen)
{
	struct vm *vm = c->vm;
	struct kvm_sregs sr;
	struct kvm_regs regs = { .rflags = 2, .rdi = c->index, .rsi = vm->arg, .rdx = vm->ncpus };

	if (vm->multiboot) { /* what a Multiboot boot loader hands over */
		regs.rax = MB_BOOT_MAGIC;
		regs.rbx = vm->mb_info;
	}
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int r;

	r = kvm_ioctl(c->fd, KVM_GET_SREGS, &sr, err, errlen);
	if (r < 0)
		return r;
	if (vm->mode == MODE_REAL) {
		uint16_t cs = vm->entry >> 4;

		sr.cs.selector = cs;
		sr.cs.base = (uint64_t)cs << 4;
		sr.ds.selector = sr.es.selector = sr.ss.selector = 0;
		sr.fs.selector = sr.gs.selector = 0;
		sr.ds.base = sr.es.base = sr.ss.base = sr.fs.base = sr.gs.base = 0;
		regs.rip = vm->entry & 0xf;
		regs.rsp = 0xfff0 - c->index * 0x100;
	} else {
		struct kvm_segment data;

		seg(&data, SEL_DATA, SEG_TYPE_DATA_RW, false);
		sr.ds = sr.es = sr.fs = sr.gs = sr.ss = data;
		sr.gdt.base = BOOT_GDT;
		sr.gdt.limit = 4 * 8 - 1;
		sr.idt.base = 0;
		sr.idt.limit = 0;
		sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
		sr.cr4 = 0;
		sr.efer = 0;
		regs.rip = vm->entry;
		regs.rsp = stack_top(vm, c->index);
		switch (vm->mode) {
		case MODE_PROTECTED:
			seg(&sr.cs, SEL_CODE32, SEG_TYPE_CODE_RX, false);
			break;
		case MODE_PAGED:
			seg(&sr.cs, SEL_CODE32, SEG_TYPE_CODE_RX, false);
			sr.cr3 = BOOT_PML4;
			sr.cr4 = CR4_PSE;
			sr.cr0 |= CR0_PG;
			break;
		case MODE_LONG:
			seg(&sr.cs, SEL_CODE64, SEG_TYPE_CODE_RX, true);
			sr.cr3 = BOOT_PML4;
			sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
			sr.cr0 |= CR0_PG | CR0_WP;
			sr.efer = EFER_LME | EFER_LMA | (vm->feat.nx ? EFER_NXE : 0);
			break;
		default:
			break;
		}
	}
	r = kvm_ioctl(c->fd, KVM_SET_SREGS, &sr, err, errlen);
	if (r < 0)
		return r;
	r = kvm_ioctl(c->fd, KVM_SET_REGS, &regs, err, errlen);
	if (r < 0)
		return r;
	r = vcpu_set_fpu(c, &fpu);
	if (r)
		seterr(err, errlen, "%s: %s", c->xsave ? "KVM_GET/SET_XSAVE" : "KVM_SET_FPU", strerror(-r));
	return r;
}

/* The local APIC the vmm emulates, enabled, as a BIOS leaves it (KVM keeps
 * the MSR without an in-kernel APIC, and sets CPUID's APIC bit from it).
 * Best effort: where KVM refuses, a kernel finds the APIC by the MADT. */
static void set_apic_base(struct vcpu *c)
{
	struct { struct kvm_msrs h; struct kvm_msr_entry e; } m = {
		.h.nmsrs = 1,
		.e = { .index = MSR_APIC_BASE,
		       .data = LAPIC_BASE | APIC_BASE_ENABLE | (c->index ? 0 : APIC_BASE_BSP) },
	};

	(void)!kvm_ioctl_raw(c->fd, KVM_SET_MSRS, &m); /* (see above) */
}

/* Create vCPU c->index with its kvm_run area, CPUID and boot registers. */
static int setup_vcpu(struct vcpu *c, char *err, size_t errlen)
{
	struct vm *vm = c->vm;
	int r;

	r = kvm_ioctl(vm->vm_fd, KVM_CREATE_VCPU, c->index, err, errlen);
	if (r < 0)
		return r;
	c->fd = r;
	c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		r = -errno;
		c->run = NULL;
		seterr(err, errlen, "mmap of its kvm_run area: %s", strerror(-r));
		return r;
	}
	r = kvm_ioctl(c->fd, KVM_SET_CPUID2, vm->cpuid, err, errlen);
	if (r < 0)
		return r;
	if (vm->xsave_size && !(c->xsave = calloc(1, vm->xsave_size))) {
		seterr(err, errlen, "no memory for its XSAVE area");
		return -ENOMEM;
	}
	set_apic_base(c);
	if (vm->multiboot && c->index > 0)
		return 0; /* an application processor: KVM's reset state until SIPI */
	return setup_regs(c, err, errlen);
}

int vm_setup_cpus(struct vm *vm, char *err, size_t errlen)
{
	int r;

	if (vm->mode != MODE_REAL) {
		build_gdt(vm);
		build_tables(vm);
	} else if (vm->entry >= 0x100000) {
		seterr(err, errlen, "entry point 0x%llx is beyond real mode's 1 MiB",
		       (unsigned long long)vm->entry);
		return -EINVAL;
	}
	if (vm->multiboot && (r = acpi_build(vm, err, errlen)))
		return r;
	if (!vm->pc && pc_create(vm, vm->multiboot) < 0) {
		seterr(err, errlen, "no memory for the PC devices");
		return -ENOMEM;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		char why[256];

		c->vm = vm;
		c->index = i;
		r = setup_vcpu(c, why, sizeof(why));
		if (r) {
			seterr(err, errlen, "vCPU %d (%s mode): %s", i, vm_mode_name(vm->mode), why);
			return r;
		}
	}
	return 0;
}
