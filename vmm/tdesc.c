/* tdesc.c - register layouts, their target.xml, and register access.
 *
 * gdb cannot cope with register sizes changing within one session, so each
 * layout is fixed; a session picks one at connect (see gdb.c).  A 64-bit
 * value shown through the 32-bit layout is truncated; a write through it is
 * zero-extended.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/tdesc.h"

enum src {
	S_GPR,     /* idx: offset into struct kvm_regs (in u64 units) */
	S_RIP,
	S_RFLAGS,
	S_SEL,     /* idx: 0 cs 1 ss 2 ds 3 es 4 fs 5 gs */
	S_BASE,    /* idx: 4 fs, 5 gs */
	S_KGSBASE,
	S_CR,      /* idx: 0 2 3 4 8 */
	S_EFER,
	S_ST,      /* idx: 0..7 */
	S_FCTRL, S_FSTAT, S_FTAG, S_FISEG, S_FIOFF, S_FOSEG, S_FOOFF, S_FOP,
	S_XMM,     /* idx: 0..15 */
	S_MXCSR,
};

struct reg {
	const char *name;
	int bits;
	enum src src;
	int idx;
	const char *type;
	const char *group;
};

struct feature {
	const char *name;
	int first, count; /* range of registers in the layout */
};

/* struct kvm_regs order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags */
enum { K_RAX, K_RBX, K_RCX, K_RDX, K_RSI, K_RDI, K_RSP, K_RBP, K_R8 };

#define GPR(n, i, t) { n, 64, S_GPR, i, t, "general" }
#define GPR32(n, i, t) { n, 32, S_GPR, i, t, "general" }
#define SEL(n, i, w) { n, 32, S_SEL, i, "int32", "general" }
#define X87(w)                                                                                  \
	{ "st0", 80, S_ST, 0, "i387_ext", "float" }, { "st1", 80, S_ST, 1, "i387_ext", "float" },   \
	{ "st2", 80, S_ST, 2, "i387_ext", "float" }, { "st3", 80, S_ST, 3, "i387_ext", "float" },   \
	{ "st4", 80, S_ST, 4, "i387_ext", "float" }, { "st5", 80, S_ST, 5, "i387_ext", "float" },   \
	{ "st6", 80, S_ST, 6, "i387_ext", "float" }, { "st7", 80, S_ST, 7, "i387_ext", "float" },   \
	{ "fctrl", 32, S_FCTRL, 0, "int", "float" }, { "fstat", 32, S_FSTAT, 0, "int", "float" },   \
	{ "ftag", 32, S_FTAG, 0, "int", "float" }, { "fiseg", 32, S_FISEG, 0, "int", "float" },     \
	{ "fioff", 32, S_FIOFF, 0, "int", "float" }, { "foseg", 32, S_FOSEG, 0, "int", "float" },   \
	{ "fooff", 32, S_FOOFF, 0, "int", "float" }, { "fop", 32, S_FOP, 0, "int", "float" }
#define XMM(n) { "xmm" #n, 128, S_XMM, n, "vec128", "sse" }

static const struct reg regs64[] = {
	GPR("rax", K_RAX, "int64"), GPR("rbx", K_RBX, "int64"), GPR("rcx", K_RCX, "int64"),
	GPR("rdx", K_RDX, "int64"), GPR("rsi", K_RSI, "int64"), GPR("rdi", K_RDI, "int64"),
	GPR("rbp", K_RBP, "data_ptr"), GPR("rsp", K_RSP, "data_ptr"),
	GPR("r8", K_R8 + 0, "int64"), GPR("r9", K_R8 + 1, "int64"), GPR("r10", K_R8 + 2, "int64"),
	GPR("r11", K_R8 + 3, "int64"), GPR("r12", K_R8 + 4, "int64"), GPR("r13", K_R8 + 5, "int64"),
	GPR("r14", K_R8 + 6, "int64"), GPR("r15", K_R8 + 7, "int64"),
	{ "rip", 64, S_RIP, 0, "code_ptr", "general" },
	{ "eflags", 32, S_RFLAGS, 0, "i386_eflags", "general" },
	SEL("cs", 0, 0), SEL("ss", 1, 0), SEL("ds", 2, 0), SEL("es", 3, 0), SEL("fs", 4, 0),
	SEL("gs", 5, 0),
	X87(0),
	/* org.gnu.gdb.i386.sse */
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
	{ "mxcsr", 32, S_MXCSR, 0, "i386_mxcsr", "vector" },
	/* org.gnu.gdb.i386.segments */
	{ "fs_base", 64, S_BASE, 4, "int64", "system" },
	{ "gs_base", 64, S_BASE, 5, "int64", "system" },
	/* org.vmm.x86.system */
	{ "k_gs_base", 64, S_KGSBASE, 0, "int64", "system" },
	{ "cr0", 64, S_CR, 0, "x86_cr0", "system" },
	{ "cr2", 64, S_CR, 2, "int64", "system" },
	{ "cr3", 64, S_CR, 3, "int64", "system" },
	{ "cr4", 64, S_CR, 4, "x86_cr4", "system" },
	{ "cr8", 64, S_CR, 8, "int64", "system" },
	{ "efer", 64, S_EFER, 0, "x86_efer", "system" },
};

static const struct feature feats64[] = {
	{ "org.gnu.gdb.i386.core", 0, 40 },
	{ "org.gnu.gdb.i386.sse", 40, 17 },
	{ "org.gnu.gdb.i386.segments", 57, 2 },
	{ "org.vmm.x86.system", 59, 7 },
};

static const struct reg regs32[] = {
	GPR32("eax", K_RAX, "int32"), GPR32("ecx", K_RCX, "int32"), GPR32("edx", K_RDX, "int32"),
	GPR32("ebx", K_RBX, "int32"), GPR32("esp", K_RSP, "data_ptr"),
	GPR32("ebp", K_RBP, "data_ptr"), GPR32("esi", K_RSI, "int32"), GPR32("edi", K_RDI, "int32"),
	{ "eip", 32, S_RIP, 0, "code_ptr", "general" },
	{ "eflags", 32, S_RFLAGS, 0, "i386_eflags", "general" },
	SEL("cs", 0, 0), SEL("ss", 1, 0), SEL("ds", 2, 0), SEL("es", 3, 0), SEL("fs", 4, 0),
	SEL("gs", 5, 0),
	X87(0),
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	{ "mxcsr", 32, S_MXCSR, 0, "i386_mxcsr", "vector" },
	/* org.vmm.x86.system (gdb 13's i386 code asserts on a 32-bit
	 * org.gnu.gdb.i386.segments feature, so the bases stay out) */
	{ "cr0", 32, S_CR, 0, "x86_cr0", "system" },
	{ "cr2", 32, S_CR, 2, "int32", "system" },
	{ "cr3", 32, S_CR, 3, "int32", "system" },
	{ "cr4", 32, S_CR, 4, "x86_cr4", "system" },
	{ "efer", 64, S_EFER, 0, "x86_efer", "system" },
};

static const struct feature feats32[] = {
	{ "org.gnu.gdb.i386.core", 0, 32 },
	{ "org.gnu.gdb.i386.sse", 32, 9 },
	{ "org.vmm.x86.system", 41, 5 },
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct reg *layout(enum tdesc_arch a, int *n)
{
	*n = a == ARCH_X86_64 ? N(regs64) : N(regs32);
	return a == ARCH_X86_64 ? regs64 : regs32;
}

const char *tdesc_arch_name(enum tdesc_arch a)
{
	return a == ARCH_X86_64 ? "i386:x86-64" : a == ARCH_I386 ? "i386" : "i8086";
}

int tdesc_nregs(enum tdesc_arch a)
{
	int n;

	layout(a, &n);
	return n;
}

const char *tdesc_reg_name(enum tdesc_arch a, int regno)
{
	int n;
	const struct reg *r = layout(a, &n);

	return regno >= 0 && regno < n ? r[regno].name : NULL;
}

int tdesc_find(enum tdesc_arch a, const char *name)
{
	int n;
	const struct reg *r = layout(a, &n);

	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].name, name))
			return i;
	return -1;
}

static const char xml_types[] =
	"<flags id=\"i386_eflags\" size=\"4\">"
	"<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>"
	"<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>"
	"<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>"
	"<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>"
	"<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>"
	"<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>"
	"<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>"
	"<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>"
	"<field name=\"ID\" start=\"21\" end=\"21\"/></flags>";

/* Types are per feature in gdb: the SSE ones go with the SSE feature. */
static const char xml_sse_types[] =
	"<flags id=\"i386_mxcsr\" size=\"4\">"
	"<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>"
	"<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>"
	"<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>"
	"<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>"
	"<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>"
	"<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>"
	"<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/>"
	"</flags>"
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
	"<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/>"
	"<field name=\"v2_double\" type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/>"
	"<field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/>"
	"<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/></union>";

static const char xml_sys_types[] =
	"<flags id=\"x86_cr0\" size=\"%d\">"
	"<field name=\"PE\" start=\"0\" end=\"0\"/><field name=\"MP\" start=\"1\" end=\"1\"/>"
	"<field name=\"EM\" start=\"2\" end=\"2\"/><field name=\"TS\" start=\"3\" end=\"3\"/>"
	"<field name=\"ET\" start=\"4\" end=\"4\"/><field name=\"NE\" start=\"5\" end=\"5\"/>"
	"<field name=\"WP\" start=\"16\" end=\"16\"/><field name=\"AM\" start=\"18\" end=\"18\"/>"
	"<field name=\"NW\" start=\"29\" end=\"29\"/><field name=\"CD\" start=\"30\" end=\"30\"/>"
	"<field name=\"PG\" start=\"31\" end=\"31\"/></flags>"
	"<flags id=\"x86_cr4\" size=\"%d\">"
	"<field name=\"VME\" start=\"0\" end=\"0\"/><field name=\"PVI\" start=\"1\" end=\"1\"/>"
	"<field name=\"TSD\" start=\"2\" end=\"2\"/><field name=\"DE\" start=\"3\" end=\"3\"/>"
	"<field name=\"PSE\" start=\"4\" end=\"4\"/><field name=\"PAE\" start=\"5\" end=\"5\"/>"
	"<field name=\"MCE\" start=\"6\" end=\"6\"/><field name=\"PGE\" start=\"7\" end=\"7\"/>"
	"<field name=\"PCE\" start=\"8\" end=\"8\"/><field name=\"OSFXSR\" start=\"9\" end=\"9\"/>"
	"<field name=\"OSXMMEXCPT\" start=\"10\" end=\"10\"/><field name=\"UMIP\" start=\"11\" end=\"11\"/>"
	"<field name=\"LA57\" start=\"12\" end=\"12\"/><field name=\"VMXE\" start=\"13\" end=\"13\"/>"
	"<field name=\"SMXE\" start=\"14\" end=\"14\"/><field name=\"FSGSBASE\" start=\"16\" end=\"16\"/>"
	"<field name=\"PCIDE\" start=\"17\" end=\"17\"/><field name=\"OSXSAVE\" start=\"18\" end=\"18\"/>"
	"<field name=\"SMEP\" start=\"20\" end=\"20\"/><field name=\"SMAP\" start=\"21\" end=\"21\"/>"
	"<field name=\"PKE\" start=\"22\" end=\"22\"/></flags>"
	"<flags id=\"x86_efer\" size=\"8\">"
	"<field name=\"SCE\" start=\"0\" end=\"0\"/><field name=\"LME\" start=\"8\" end=\"8\"/>"
	"<field name=\"LMA\" start=\"10\" end=\"10\"/><field name=\"NXE\" start=\"11\" end=\"11\"/>"
	"<field name=\"SVME\" start=\"12\" end=\"12\"/><field name=\"FFXSR\" start=\"14\" end=\"14\"/>"
	"</flags>";

static char xml_buf[3][16384];

const char *tdesc_xml(enum tdesc_arch a)
{
	char *buf = xml_buf[a], *p = buf, *end = buf + sizeof(xml_buf[a]);
	const struct feature *f = a == ARCH_X86_64 ? feats64 : feats32;
	int nf = a == ARCH_X86_64 ? N(feats64) : N(feats32), n, regnum = 0;
	const struct reg *r = layout(a, &n);

	if (buf[0])
		return buf;
	p += snprintf(p, end - p,
		      "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
		      "<target version=\"1.0\"><architecture>%s</architecture>"
		      /* bare metal: gdb's default GNU/Linux ABI would want fewer registers */
		      "<osabi>none</osabi>",
		      tdesc_arch_name(a));
	for (int i = 0; i < nf; i++) {
		p += snprintf(p, end - p, "<feature name=\"%s\">", f[i].name);
		if (i == 0)
			p += snprintf(p, end - p, "%s", xml_types);
		if (i == 1)
			p += snprintf(p, end - p, "%s", xml_sse_types);
		if (!strcmp(f[i].name, "org.vmm.x86.system")) {
			int w = a == ARCH_X86_64 ? 8 : 4;

			p += snprintf(p, end - p, xml_sys_types, w, w);
		}
		for (int k = f[i].first; k < f[i].first + f[i].count; k++, regnum++)
			p += snprintf(p, end - p,
				      "<reg name=\"%s\" bitsize=\"%d\" type=\"%s\" group=\"%s\" regnum=\"%d\"/>",
				      r[k].name, r[k].bits, r[k].type, r[k].group, regnum);
		p += snprintf(p, end - p, "</feature>");
	}
	snprintf(p, end - p, "</target>");
	return buf;
}

unsigned tdesc_needs(enum tdesc_arch a, int regno)
{
	int n;
	const struct reg *r = layout(a, &n);

	if (regno < 0 || regno >= n)
		return 0;
	switch (r[regno].src) {
	case S_GPR: case S_RIP: case S_RFLAGS: return DIRTY_REGS;
	case S_SEL: case S_BASE: case S_CR: case S_EFER: return DIRTY_SREGS;
	case S_KGSBASE: return DIRTY_MSRS;
	default: return DIRTY_FPU;
	}
}

static struct kvm_segment *segment(struct kvm_sregs *s, int idx)
{
	struct kvm_segment *segs[] = { &s->cs, &s->ss, &s->ds, &s->es, &s->fs, &s->gs };

	return segs[idx];
}

static uint64_t *cr(struct kvm_sregs *s, int idx)
{
	switch (idx) {
	case 0: return (uint64_t *)&s->cr0;
	case 2: return (uint64_t *)&s->cr2;
	case 3: return (uint64_t *)&s->cr3;
	case 4: return (uint64_t *)&s->cr4;
	default: return (uint64_t *)&s->cr8;
	}
}

/* FXSAVE keeps an abridged tag (1 bit per register: valid or empty); gdb
 * wants the full x87 tag word (2 bits: valid, zero, special, empty). */
static uint16_t full_tag(const struct kvm_fpu *f)
{
	int top = (f->fsw >> 11) & 7;
	uint16_t tag = 0;

	for (int phys = 0; phys < 8; phys++) {
		int st = (phys - top) & 7;
		const uint8_t *v = f->fpr[st];
		uint16_t exp = (v[9] & 0x7f) << 8 | v[8];
		uint64_t mant;
		int t;

		memcpy(&mant, v, 8);
		if (!(f->ftwx & (1 << phys)))
			t = 3;
		else if (exp == 0x7fff || (exp != 0 && !(mant >> 63)) || (exp == 0 && mant))
			t = 2;
		else if (exp == 0 && mant == 0)
			t = 1;
		else
			t = 0;
		tag |= t << (2 * phys);
	}
	return tag;
}

static uint8_t abridged_tag(uint16_t full)
{
	uint8_t t = 0;

	for (int i = 0; i < 8; i++)
		if (((full >> (2 * i)) & 3) != 3)
			t |= 1 << i;
	return t;
}

/* The value of a register as up to 128 bits. */
static void get(const struct reg *r, const struct cpu_state *s, uint8_t *out)
{
	uint64_t v = 0;
	struct kvm_sregs *sr = (struct kvm_sregs *)&s->sregs;

	memset(out, 0, 16);
	switch (r->src) {
	case S_GPR: v = ((const uint64_t *)&s->regs)[r->idx]; break;
	case S_RIP: v = s->regs.rip; break;
	case S_RFLAGS: v = s->regs.rflags; break;
	case S_SEL: v = segment(sr, r->idx)->selector; break;
	case S_BASE: v = segment(sr, r->idx)->base; break;
	case S_KGSBASE: v = s->msr[SM_KERNEL_GS_BASE]; break;
	case S_CR: v = *cr(sr, r->idx); break;
	case S_EFER: v = s->sregs.efer; break;
	case S_ST: memcpy(out, s->fpu.fpr[r->idx], 10); return;
	case S_FCTRL: v = s->fpu.fcw; break;
	case S_FSTAT: v = s->fpu.fsw; break;
	case S_FTAG: v = full_tag(&s->fpu); break;
	case S_FISEG: case S_FOSEG: v = 0; break;
	case S_FIOFF: v = s->fpu.last_ip; break;
	case S_FOOFF: v = s->fpu.last_dp; break;
	case S_FOP: v = s->fpu.last_opcode; break;
	case S_XMM: memcpy(out, s->fpu.xmm[r->idx], 16); return;
	case S_MXCSR: v = s->fpu.mxcsr; break;
	}
	memcpy(out, &v, 8);
}

int tdesc_read(enum tdesc_arch a, const struct cpu_state *s, int regno, uint8_t *buf)
{
	int n;
	const struct reg *r = layout(a, &n);
	uint8_t v[16];

	if (regno < 0 || regno >= n)
		return -EINVAL;
	get(&r[regno], s, v);
	memcpy(buf, v, r[regno].bits / 8);
	return r[regno].bits / 8;
}

int tdesc_write(enum tdesc_arch a, struct cpu_state *s, int regno, const uint8_t *buf, size_t len,
		unsigned *dirty)
{
	int n;
	const struct reg *reg = layout(a, &n);
	const struct reg *r;
	uint64_t v = 0;

	if (regno < 0 || regno >= n)
		return -EINVAL;
	r = &reg[regno];
	if (len != (size_t)r->bits / 8)
		return -EINVAL;
	if (r->bits <= 64)
		memcpy(&v, buf, len); /* zero-extended */
	*dirty |= tdesc_needs(a, regno);
	switch (r->src) {
	case S_GPR: ((uint64_t *)&s->regs)[r->idx] = v; break;
	case S_RIP: s->regs.rip = v; break;
	case S_RFLAGS: s->regs.rflags = v | 2; break;
	case S_SEL: {
		struct kvm_segment *sg = segment(&s->sregs, r->idx);

		sg->selector = v;
		if (!(s->sregs.cr0 & 1)) /* real mode: the base follows the selector */
			sg->base = (v & 0xffff) << 4;
		break;
	}
	case S_BASE: segment(&s->sregs, r->idx)->base = v; break;
	case S_KGSBASE: s->msr[SM_KERNEL_GS_BASE] = v; break;
	case S_CR: *cr(&s->sregs, r->idx) = v; break;
	case S_EFER: s->sregs.efer = v; break;
	case S_ST: memcpy(s->fpu.fpr[r->idx], buf, 10); break;
	case S_FCTRL: s->fpu.fcw = v; break;
	case S_FSTAT: s->fpu.fsw = v; break;
	case S_FTAG: s->fpu.ftwx = abridged_tag(v); break;
	case S_FISEG: case S_FOSEG: break;
	case S_FIOFF: s->fpu.last_ip = v; break;
	case S_FOOFF: s->fpu.last_dp = v; break;
	case S_FOP: s->fpu.last_opcode = v; break;
	case S_XMM: memcpy(s->fpu.xmm[r->idx], buf, 16); break;
	case S_MXCSR: s->fpu.mxcsr = v; break;
	}
	return 0;
}

int tdesc_expedite(enum tdesc_arch a, int *regnos, int max)
{
	static const char *const n64[] = { "rbp", "rsp", "rip" };
	static const char *const n32[] = { "ebp", "esp", "eip" };
	int k = 0;

	for (int i = 0; i < 3 && k < max; i++)
		regnos[k++] = tdesc_find(a, a == ARCH_X86_64 ? n64[i] : n32[i]);
	return k;
}
