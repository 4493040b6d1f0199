/* main.c - the vmm command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/gdb.h"
#include "vmm/lapic.h"
#include "vmm/vm.h"

#define STR_(x) #x
#define STR(x) STR_(x) /* a number macro as a string literal */

static const char usage[] =
"usage: vmm [options] IMAGE\n"
"       vmm --probe\n"
"\n"
"Run IMAGE (a flat binary, or an ELF32/ELF64 file) in a KVM virtual machine.\n"
"A Multiboot (version 1) kernel is recognised by its header and started as\n"
"GRUB would: protected mode, EAX = 0x2BADB002, EBX = the Multiboot information;\n"
"with --cpus N the others wait for INIT/SIPI and ACPI tables (MADT) list them.\n"
"\n"
"Modes:\n"
"  -m, --mode MODE     real | protected | paged | long (default long)\n"
"  -r, -s, -p, -l      short for --mode real, protected, paged, long\n"
"Machine:\n"
"      --mem SIZE      guest RAM, with K/M/G/T suffix: 1M to 1T, a multiple of 4K\n"
"                      (default 64M)\n"
"      --load ADDR     guest-physical load address of a flat binary (default 0)\n"
"      --cpus N        number of vCPUs, 1 to " STR(VM_MAX_CPUS) " (default 1)\n"
"      --arg N         value given to the guest in RSI/ESI/SI at entry (default 0)\n"
"      --append TEXT   a Multiboot kernel's command line\n"
"      --module FILE[=STRING]\n"
"                      load FILE as a Multiboot module (with STRING as its\n"
"                      command line), page-aligned after the kernel; repeatable\n"
"      --dump-mem ADDR:LEN\n"
"                      after the guest ends, print LEN bytes of guest-physical\n"
"                      memory at ADDR on stderr as \"mem ADDR: hex bytes\"\n"
"                      (LEN from 1 to 64K)\n"
"      --quiet-ports   no warnings for I/O to ports without a device\n"
"Debugging:\n"
"      --gdb [HOST:]PORT | unix:PATH\n"
"                      serve the GDB remote protocol (HOST defaults to 127.0.0.1);\n"
"                      the guest waits at its first instruction for gdb\n"
"      --gdb-no-wait   run the guest at once; a later attach stops it\n"
"      --gdb-arch ARCH auto | i8086 | i386 | x86-64 (default auto: follow the mode)\n"
"      --record-limit SIZE\n"
"                      memory the reverse-debugging log ('monitor record on')\n"
"                      may take before its oldest entries go (default 256M)\n"
"Other:\n"
"      --probe         print what this KVM offers, found by quick probes, and exit\n"
"  -h, --help          this text\n"
"  -V, --version       the version\n"
"\n"
"The guest's devices: bytes written to port 0xE9 go to stdout (reading it gives\n"
"0xE9); so do bytes sent through the 16550A UART at 0x3F8 (COM1, IRQ 4), which\n"
"receives what the vmm reads on stdin; a byte V written to port 0xF4 ends the\n"
"vmm with status (V << 1) | 1.  The PC's 8259 PICs, 8254 PIT, a local APIC per\n"
"vCPU at 0xFEE00000 (INIT/SIPI, timer) and an I/O APIC at 0xFEC00000 are\n"
"emulated.\n"
"Other ports: one warning each, reads give all ones.\n"
"HLT: with interrupts on (IF=1), once the guest programmed the PIC, PIT or an\n"
"APIC, a vCPU waits for its next interrupt; otherwise HLT ends that vCPU, and\n"
"the guest ends when all have ended (or, without --gdb, when none can wake).\n"
"\n"
"Exit status: 0 the guest halted; odd: the guest's port-0xF4 exit; 2 usage or\n"
"image error; 4 KVM unavailable or failing; 6 triple fault; 8 KVM internal error\n"
"or failed entry; 10 access outside guest RAM; 12 this KVM refuses the mode;\n"
"14 killed from the debugger.\n"
"\n"
"Boot contract: RDI = vCPU index, RSI = --arg, RDX = number of vCPUs (DI, SI, DX\n"
"in real mode, where SP = 0xfff0 - index * 0x100), RFLAGS = 0x2, no IDT.\n"
"In protected, paged and long mode the vmm's GDT is at 0x1000 (0x08 code32,\n"
"0x10 data, 0x18 code64) and its page tables at 0x2000-0x7fff; an image may not\n"
"overlap them; RSP = top of RAM (at most 4G) - index * 64K.  See README.md\n"
"and vmm(1).\n";

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	*out = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v, mul = 1;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	case 't': case 'T': mul = 1ULL << 40; end++; break;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int fail(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));
static int fail(const char *fmt, const char *arg)
{
	fputs("vmm: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return STATUS_USAGE;
}

static void dump_mem(struct vm *vm, uint64_t addr, uint64_t len)
{
	if (addr >= vm->ram_size || len > vm->ram_size - addr) {
		fprintf(stderr, "vmm: --dump-mem range lies outside guest RAM\n");
		return;
	}
	fprintf(stderr, "mem 0x%llx:", (unsigned long long)addr);
	for (uint64_t i = 0; i < len; i++)
		fprintf(stderr, " %02x", vm->ram[addr + i]);
	fputc('\n', stderr);
}

enum { OPT_MEM = 256, OPT_LOAD, OPT_CPUS, OPT_ARG, OPT_DUMP, OPT_GDB, OPT_NOWAIT, OPT_ARCH,
       OPT_PROBE, OPT_QUIET, OPT_RECLIMIT, OPT_APPEND, OPT_MODULE };

/* Standard input, output and error opened on /dev/null where the vmm was
 * started without them: otherwise the first file it opens (/dev/kvm, gdb's
 * socket) would take fd 0 and COM1's reader would read it. */
static void std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			exit(STATUS_USAGE);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "load", required_argument, NULL, OPT_LOAD },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "arg", required_argument, NULL, OPT_ARG },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "module", required_argument, NULL, OPT_MODULE },
		{ "dump-mem", required_argument, NULL, OPT_DUMP },
		{ "gdb", required_argument, NULL, OPT_GDB },
		{ "gdb-no-wait", no_argument, NULL, OPT_NOWAIT },
		{ "gdb-arch", required_argument, NULL, OPT_ARCH },
		{ "record-limit", required_argument, NULL, OPT_RECLIMIT },
		{ "probe", no_argument, NULL, OPT_PROBE },
		{ "quiet-ports", no_argument, NULL, OPT_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct vm_config cfg = { .mode = MODE_LONG, .mem_size = 64ULL << 20, .ncpus = 1 };
	struct gdb_config gcfg = { .wait = true, .arch = "auto", .record_limit = 256ULL << 20 };
	uint64_t load = 0, dump_addr = 0, dump_len = 0, v;
	bool probe = false, quiet = false, dump = false;
	char err[512];
	struct vm *vm;
	struct mb_boot boot = { 0 };
	bool mode_set = false;
	int opt, status;

	std_fds();
	while ((opt = getopt_long(argc, argv, "m:rsplhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			mode_set = true;
			if (!strcmp(optarg, "real")) cfg.mode = MODE_REAL;
			else if (!strcmp(optarg, "protected")) cfg.mode = MODE_PROTECTED;
			else if (!strcmp(optarg, "paged")) cfg.mode = MODE_PAGED;
			else if (!strcmp(optarg, "long")) cfg.mode = MODE_LONG;
			else return fail("unknown mode '%s' (real, protected, paged or long)", optarg);
			break;
		case 'r': cfg.mode = MODE_REAL; mode_set = true; break;
		case 's': cfg.mode = MODE_PROTECTED; mode_set = true; break;
		case 'p': cfg.mode = MODE_PAGED; mode_set = true; break;
		case 'l': cfg.mode = MODE_LONG; mode_set = true; break;
		case OPT_APPEND: boot.cmdline = optarg; break;
		case OPT_MODULE: {
			char *eq = strchr(optarg, '=');

			if (boot.nmodules == MB_MAX_MODULES)
				return fail("too many --module options (at most %s)", STR(MB_MAX_MODULES));
			if (eq)
				*eq = 0;
			if (!*optarg)
				return fail("bad --module '%s': FILE or FILE=STRING", eq ? "=..." : "");
			boot.modules[boot.nmodules++] = (struct mb_module){ optarg, eq ? eq + 1 : "" };
			break;
		}
		case OPT_MEM:
			if (parse_size(optarg, &cfg.mem_size) || cfg.mem_size < (1 << 20) ||
			    cfg.mem_size % PAGE_SIZE || cfg.mem_size > (1ULL << 40))
				return fail("bad --mem '%s': a size from 1M to 1T, a multiple of 4K (e.g. 64M)", optarg);
			break;
		case OPT_LOAD:
			if (parse_u64(optarg, &load))
				return fail("bad --load '%s': a guest-physical address such as 0x8000", optarg);
			break;
		case OPT_CPUS:
			if (parse_u64(optarg, &v) || v < 1 || v > VM_MAX_CPUS)
				return fail("bad --cpus '%s': a number from 1 to " STR(VM_MAX_CPUS), optarg);
			cfg.ncpus = v;
			break;
		case OPT_ARG:
			if (parse_u64(optarg, &cfg.arg))
				return fail("bad --arg '%s': a number", optarg);
			break;
		case OPT_DUMP: {
			char *colon = strchr(optarg, ':');

			if (!colon)
				return fail("bad --dump-mem '%s': ADDR:LEN", optarg);
			*colon = 0;
			if (parse_u64(optarg, &dump_addr) || parse_size(colon + 1, &dump_len) ||
			    dump_len == 0 || dump_len > 65536)
				return fail("bad --dump-mem '%s': ADDR:LEN with LEN from 1 to 64K", optarg);
			dump = true;
			break;
		}
		case OPT_GDB: gcfg.spec = optarg; break;
		case OPT_NOWAIT: gcfg.wait = false; break;
		case OPT_ARCH:
			if (strcmp(optarg, "auto") && strcmp(optarg, "i8086") && strcmp(optarg, "i386") &&
			    strcmp(optarg, "x86-64"))
				return fail("bad --gdb-arch '%s': auto, i8086, i386 or x86-64", optarg);
			gcfg.arch = optarg;
			break;
		case OPT_RECLIMIT:
			if (parse_size(optarg, &gcfg.record_limit) || gcfg.record_limit < (64 << 10) ||
			    gcfg.record_limit > (1ULL << 40))
				return fail("bad --record-limit '%s': a size from 64K to 1T (e.g. 256M)", optarg);
			break;
		case OPT_PROBE: probe = true; break;
		case OPT_QUIET: quiet = true; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("vmm %s\n", VMM_VERSION); return 0;
		default:
			fputs("vmm: see 'vmm --help'\n", stderr);
			return STATUS_USAGE;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (probe) {
		struct kvm_features f = { 0 };
		struct vm_config pc = { .mode = MODE_LONG, .mem_size = 1 << 20, .ncpus = 1 };
		struct vm *pv = calloc(1, sizeof(*pv));

		if (!pv || vm_create(pv, &pc, err, sizeof(err))) {
			fprintf(stderr, "vmm: %s\n", pv ? err : "out of memory");
			free(pv);
			return STATUS_KVM;
		}
		kvm_probe(pv->kvm_fd, &f, PROBE_ALL);
		vm_destroy(pv);
		free(pv);
		kvm_probe_print(&f, stdout);
		return 0;
	}
	if (optind != argc - 1) {
		fputs(optind >= argc ? "vmm: no image given (see 'vmm --help')\n"
				     : "vmm: more than one image given (see 'vmm --help')\n", stderr);
		return STATUS_USAGE;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return STATUS_KVM;
	if (vm_create(vm, &cfg, err, sizeof(err))) {
		fprintf(stderr, "vmm: %s\n", err);
		free(vm);
		return STATUS_KVM;
	}
	vm->quiet_ports = quiet;
	vm->boot = boot;
	if (vm_load_image(vm, argv[optind], load, err, sizeof(err))) {
		fprintf(stderr, "vmm: %s\n", err);
		status = STATUS_USAGE;
		goto out;
	}
	if (vm->multiboot) {
		/* Multiboot says how the kernel starts: 32-bit protected mode on
		 * the boot processor; the others wait for INIT/SIPI through the
		 * local APICs, which RAM must not hide. */
		if (mode_set && cfg.mode != MODE_PROTECTED) {
			fprintf(stderr, "vmm: %s is a Multiboot kernel: it starts in protected mode, "
				"not %s mode (leave out --mode)\n", argv[optind], vm_mode_name(cfg.mode));
			status = STATUS_USAGE;
			goto out;
		}
		if (vm->ncpus > 1 && vm->ram_size > LAPIC_BASE) {
			fprintf(stderr, "vmm: %s is a Multiboot kernel with %d CPUs: its others start "
				"through the local APICs at 0x%llx, which --mem above that hides\n",
				argv[optind], vm->ncpus, (unsigned long long)LAPIC_BASE);
			status = STATUS_USAGE;
			goto out;
		}
		vm->mode = cfg.mode = MODE_PROTECTED;
	}
	if (cfg.mode == MODE_PAGED) {
		kvm_probe(vm->kvm_fd, &vm->feat, PROBE_MODES);
		if (!vm->feat.paged) {
			fprintf(stderr, "vmm: this KVM (%s) refuses 32-bit paging: a vCPU with CR0.PG set "
				"outside long mode cannot run here (see 'vmm --probe'); "
				"--mode paged needs ordinary KVM (kvm_intel or kvm_amd)\n", kvm_flavour());
			status = STATUS_REFUSED;
			goto out;
		}
	}
	if (vm_setup_cpus(vm, err, sizeof(err))) {
		fprintf(stderr, "vmm: %s\n", err);
		status = STATUS_KVM;
		goto out;
	}
	if (gcfg.spec) {
		/* gdb finds the symbols by this name (qXfer:exec-file, vFile) */
		char *image = realpath(argv[optind], NULL);

		gcfg.image = image;
		status = gdb_serve(vm, &gcfg);
		free(image);
	} else {
		status = vm_run(vm);
	}
	if (dump)
		dump_mem(vm, dump_addr, dump_len);
out:
	vm_destroy(vm);
	free(vm);
	return status;
}
