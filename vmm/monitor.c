/* monitor.c - the gdb target's monitor commands (qRcmd): one table of
 * commands, the help made from it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/target.h"

/* A command's handler gets what follows its name and one space, or NULL
 * when nothing does. */
typedef int (*mon_fn)(struct gdb_target *t, const char *arg, char *out, size_t cap);

static int mon_help(struct gdb_target *t, const char *arg, char *out, size_t cap);

static void format_flags(char *out, size_t cap, uint64_t v, const char *const names[64])
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < 64; i++)
		if ((v >> i & 1) && names[i] && n < cap)
			n += snprintf(out + n, cap - n, "%s%s", n ? " " : "", names[i]);
}

static int mon_regs(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	static const char *const cr0n[64] = { [0] = "PE", [1] = "MP", [2] = "EM", [3] = "TS", [4] = "ET",
		[5] = "NE", [16] = "WP", [18] = "AM", [29] = "NW", [30] = "CD", [31] = "PG" };
	static const char *const cr4n[64] = { [0] = "VME", [1] = "PVI", [2] = "TSD", [3] = "DE",
		[4] = "PSE", [5] = "PAE", [6] = "MCE", [7] = "PGE", [8] = "PCE", [9] = "OSFXSR",
		[10] = "OSXMMEXCPT", [11] = "UMIP", [12] = "LA57", [13] = "VMXE", [16] = "FSGSBASE",
		[17] = "PCIDE", [18] = "OSXSAVE", [20] = "SMEP", [21] = "SMAP", [22] = "PKE" };
	static const char *const efern[64] = { [0] = "SCE", [8] = "LME", [10] = "LMA", [11] = "NXE",
		[12] = "SVME", [14] = "FFXSR" };
	struct tcpu *tc = cpu_of(t, t->cur_tid);
	struct kvm_sregs *s = &tc->st.sregs;
	struct mmu_regs mr;
	char f0[128], f4[160], fe[64];
	size_t n;

	(void)arg;
	if (mmu_regs_of(tc, &mr))
		return -EIO;
	format_flags(f0, sizeof(f0), s->cr0, cr0n);
	format_flags(f4, sizeof(f4), s->cr4, cr4n);
	format_flags(fe, sizeof(fe), s->efer, efern);
	n = snprintf(out, cap,
		 "vCPU %d: %s mode, paging %s\n"
		 "cr0  0x%016llx  %s\n"
		 "cr2  0x%016llx\n"
		 "cr3  0x%016llx\n"
		 "cr4  0x%016llx  %s\n"
		 "cr8  0x%016llx\n"
		 "efer 0x%016llx  %s\n"
		 "gdt  base 0x%llx limit 0x%x    idt  base 0x%llx limit 0x%x\n"
		 "cs   0x%04x base 0x%llx %s\n",
		 tc->c->index, mode_name(s), mmu_mode_name(mmu_mode(&mr)),
		 (unsigned long long)s->cr0, f0, (unsigned long long)s->cr2,
		 (unsigned long long)s->cr3, (unsigned long long)s->cr4, f4,
		 (unsigned long long)s->cr8, (unsigned long long)s->efer, fe,
		 (unsigned long long)s->gdt.base, s->gdt.limit, (unsigned long long)s->idt.base,
		 s->idt.limit, s->cs.selector, (unsigned long long)s->cs.base,
		 s->cs.l ? "64-bit" : s->cs.db ? "32-bit" : "16-bit");
	if (n < cap && tc->dead_status == STATUS_SHUTDOWN)
		snprintf(out + n, cap - n, "%s", fault_note(tc));
	return 0;
}

/* The MSRs the vmm keeps with the registers (enum state_msr). */
static int mon_msrs(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	struct tcpu *tc = cpu_of(t, t->cur_tid);
	size_t n;

	(void)arg;
	if (regs_fetch(tc, DIRTY_MSRS))
		return -EIO;
	n = snprintf(out, cap, "vCPU %d:\n", tc->c->index);
	for (int i = 0; i < STATE_NMSRS && n < cap; i++) {
		if (t->msr_mask & (1U << i))
			n += snprintf(out + n, cap - n, "%-14s 0x%08x  0x%016llx\n", state_msr_name[i],
				      state_msr_index[i], (unsigned long long)tc->st.msr[i]);
		else
			n += snprintf(out + n, cap - n, "%-14s 0x%08x  (this KVM has none)\n",
				      state_msr_name[i], state_msr_index[i]);
	}
	return 0;
}

static int mon_walk(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	struct mmu_regs mr;
	uint64_t va;
	char *end;

	if (!arg)
		arg = "";
	errno = 0;
	va = strtoull(arg, &end, 0);
	if (errno || end == arg || *end) {
		snprintf(out, cap, "usage: monitor walk ADDR (e.g. monitor walk 0xffffffff80001000)\n");
		return 0;
	}
	if (mmu_regs_of(cpu_of(t, t->cur_tid), &mr))
		return -EIO;
	mmu_format_walk(&t->vm->mram, &mr, va, out, cap);
	return 0;
}

/* "on", "off", or nothing to only ask: the new value into *flag.  -ENOENT
 * for anything else. */
static int on_off(const char *arg, bool *flag)
{
	if (arg && strcmp(arg, "on") && strcmp(arg, "off"))
		return -ENOENT;
	if (arg)
		*flag = !strcmp(arg, "on");
	return 0;
}

static int mon_phys(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	if (on_off(arg, &t->phys))
		return -ENOENT;
	snprintf(out, cap, "addresses are guest-%s\n", t->phys ? "physical" : "virtual");
	return 0;
}

static int mon_hold(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	if (on_off(arg, &t->hold))
		return -ENOENT;
	snprintf(out, cap, "on disconnect the guest %s\n", t->hold ? "stays stopped" : "runs on");
	return 0;
}

static int mon_console(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	const char *how = arg ? arg : "";

	if (!strcmp(how, "read")) {
		if (!ns_console_read(t, out, cap))
			snprintf(out, cap, "(no console output kept)\n");
		return 0;
	}
	if (!strcmp(how, "stdout") || !strcmp(how, "gdb") || !strcmp(how, "both")) {
		pthread_mutex_lock(&t->vm->out_lock);
		t->console_gdb = strcmp(how, "stdout") != 0;
		t->vm->console_off = !strcmp(how, "gdb");
		pthread_mutex_unlock(&t->vm->out_lock);
	} else if (*how) {
		snprintf(out, cap, "usage: monitor console stdout|gdb|both|read\n");
		return 0;
	}
	snprintf(out, cap, "guest console (port 0xE9) goes to %s%s\n",
		 t->vm->console_off ? "gdb" : t->console_gdb ? "stdout and gdb" : "stdout",
		 t->console_gdb && t->nonstop ? " (non-stop: kept for 'monitor console read')" : "");
	return 0;
}

static int mon_mem(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	size_t n = snprintf(out, cap, "guest RAM: 0x0-0x%llx (%llu MiB), %d vCPU(s)\n",
			    (unsigned long long)t->vm->ram_size - 1,
			    (unsigned long long)(t->vm->ram_size >> 20), t->vm->ncpus);

	(void)arg;
	for (int i = 0; i < t->vm->nslots && n < cap; i++)
		n += snprintf(out + n, cap - n, "slot %d: 0x%llx-0x%llx %s\n", i,
			      (unsigned long long)t->vm->slots[i].gpa,
			      (unsigned long long)(t->vm->slots[i].gpa + t->vm->slots[i].size - 1),
			      t->vm->slots[i].readonly ? "read-only (write watchpoints)" : "read-write");
	if (n < cap && t->vm->mode != MODE_REAL)
		snprintf(out + n, cap - n, "vmm boot area: GDT 0x1000, page tables 0x2000-0x7fff\n");
	return 0;
}

static int mon_record(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	const char *what = arg ? arg : "status";

	if (!strcmp(what, "on"))
		return rec_start(t, out, cap);
	if (!strcmp(what, "off")) {
		bool was = t->rec_on, past = was && !rec_at_end(&t->log);

		rec_stop(t);
		snprintf(out, cap, "%s\n", !was ? "recording was off"
			 : past ? "recording off: the log is dropped and the guest goes on from here"
			 : "recording off: the log is dropped");
	} else if (!strcmp(what, "status")) {
		rec_status(t, out, cap);
	} else {
		snprintf(out, cap, "usage: monitor record on|off|status\n");
	}
	return 0;
}

static int mon_probe(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	FILE *f = fmemopen(out, cap, "w");

	(void)arg;
	if (!f)
		return -ENOMEM;
	kvm_probe(t->vm->kvm_fd, &t->vm->feat, PROBE_ALL);
	kvm_probe_print(&t->vm->feat, f);
	fprintf(f, "software breakpoints use:      %s\n", t->vm->feat.int3_exit ? "int3" : "hlt");
	fclose(f);
	return 0;
}

static int mon_arch(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	size_t n = snprintf(out, cap, "session layout: %s%s\n", tdesc_arch_name(t->arch),
			    t->arch_fixed ? " (fixed by --gdb-arch)" : "");

	(void)arg;
	for (int i = 0; i < t->vm->ncpus && n < cap; i++)
		if (regs_fetch(&t->cpus[i], DIRTY_SREGS) == 0)
			n += snprintf(out + n, cap - n, "vCPU %d: %s mode (%s)\n", i,
				      mode_name(&t->cpus[i].st.sregs),
				      tdesc_arch_name(arch_of_mode(t->vm, &t->cpus[i].st.sregs)));
	return 0;
}

/* In the order of the help.  args: what the command takes, as the help
 * shows it (NULL: nothing, and a command given more is unknown); help: one
 * or more lines. */
static const struct {
	const char *name, *args, *help;
	mon_fn fn;
} mon_cmds[] = {
	{ "help", NULL, "this list", mon_help },
	{ "regs", NULL, "control registers decoded: mode, paging, CR0/CR4/EFER flags", mon_regs },
	{ "msrs", NULL, "the MSRs kept with the registers (STAR, LSTAR, SYSENTER_*, PAT ...)", mon_msrs },
	{ "walk", "ADDR", "the page walk of a virtual address, level by level", mon_walk },
	{ "phys", "on|off", "addresses are guest-physical (on) or virtual (off, default)", mon_phys },
	{ "mem", NULL, "guest RAM layout and memory slots", mon_mem },
	{ "probe", NULL, "what this KVM offers and which mechanisms are in use", mon_probe },
	{ "hold", "on|off", "keep the guest stopped when gdb disconnects (for a reconnect)", mon_hold },
	{ "arch", NULL, "the register layout of this session and of each vCPU's mode", mon_arch },
	{ "console", "stdout|gdb|both|read",
	  "where the guest's port-0xE9 output goes (default stdout);\n"
	  "read: what non-stop mode kept for gdb (no O packets there)",
	  mon_console },
	{ "record", "on|off|status",
	  "log every instruction and memory write, for reverse-stepi,\n"
	  "reverse-continue, reverse-finish; off drops the log", mon_record },
};

#define HELP_COLUMN 18 /* where the help text starts: "  NAME ARGS" fits in 15 */

static int mon_help(struct gdb_target *t, const char *arg, char *out, size_t cap)
{
	size_t n = snprintf(out, cap, "vmm monitor commands:\n");

	(void)t;
	(void)arg;
	for (size_t i = 0; i < sizeof(mon_cmds) / sizeof(mon_cmds[0]) && n < cap; i++) {
		char usage[64];
		int col;

		snprintf(usage, sizeof(usage), "%s%s%s", mon_cmds[i].name, mon_cmds[i].args ? " " : "",
			 mon_cmds[i].args ? mon_cmds[i].args : "");
		n += snprintf(out + n, cap - n, "  %s", usage);
		col = 2 + (int)strlen(usage);
		for (const char *h = mon_cmds[i].help; *h && n < cap;) {
			int len = (int)strcspn(h, "\n");

			if (col >= HELP_COLUMN) /* no room: the help goes below */
				n += snprintf(out + n, cap - n, "\n%*s", HELP_COLUMN, "");
			else
				n += snprintf(out + n, cap - n, "%*s", HELP_COLUMN - col, "");
			if (n < cap)
				n += snprintf(out + n, cap - n, "%.*s", len, h);
			col = HELP_COLUMN + len;
			h += len + (h[len] == '\n');
		}
		if (n < cap)
			n += snprintf(out + n, cap - n, "\n");
	}
	return 0;
}

/* A command is its name, then nothing or one space and its arguments. */
int monitor_run(struct gdb_target *t, const char *cmd, char *out, size_t cap)
{
	size_t len;

	while (*cmd == ' ')
		cmd++;
	if (!*cmd)
		return mon_help(t, NULL, out, cap);
	len = strcspn(cmd, " ");
	for (size_t i = 0; i < sizeof(mon_cmds) / sizeof(mon_cmds[0]); i++) {
		const char *arg = cmd[len] ? cmd + len + 1 : NULL;

		if (strlen(mon_cmds[i].name) != len || strncmp(cmd, mon_cmds[i].name, len))
			continue;
		if (arg && !mon_cmds[i].args)
			return -ENOENT;
		return mon_cmds[i].fn(t, arg, out, cap);
	}
	return -ENOENT;
}
