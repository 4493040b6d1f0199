/* unit_decode.c - the recorder's instruction decoders (vmm/decode.c), no KVM.
 *
 * Each test hands the decoder an instruction's bytes and a mode, as the
 * recorder does with the bytes at a vCPU's RIP.
 */
#include <stdbool.h>
#include <stdint.h>

#include "tests/test.h"
#include "vmm/decode.h"
#include "vmm/x86.h"

static const struct insn_mode M64 = { .x64 = true, .cpl = 0 };
static const struct insn_mode M32 = { .x64 = false, .cpl = 0 };
static const struct insn_mode M32_USER = { .x64 = false, .cpl = 3 };

#define BYTES(...) ((const uint8_t[]){ __VA_ARGS__ }), (long)sizeof((const uint8_t[]){ __VA_ARGS__ })

/* ---- the mode ------------------------------------------------------------ */

static void test_mode_long_64bit_code(void)
{
	struct kvm_sregs sr = { .cr0 = CR0_PE | CR0_PG, .efer = EFER_LME | EFER_LMA };

	sr.cs.l = 1;
	TEST_ASSERT(insn_mode_of(&sr).x64);
	TEST_ASSERT_EQ(insn_mode_of(&sr).cpl, 0);
}

static void test_mode_compatibility_code_is_not_64bit(void)
{
	struct kvm_sregs sr = { .cr0 = CR0_PE | CR0_PG, .efer = EFER_LME | EFER_LMA };

	TEST_ASSERT(!insn_mode_of(&sr).x64);
}

static void test_mode_cpl_is_cs_rpl_in_protected_mode(void)
{
	struct kvm_sregs sr = { .cr0 = CR0_PE };

	sr.cs.selector = 0x1b;
	TEST_ASSERT_EQ(insn_mode_of(&sr).cpl, 3);
}

static void test_mode_real_mode_is_cpl0_whatever_cs(void)
{
	struct kvm_sregs sr = { .cr0 = 0 };

	sr.cs.selector = 0xf003;
	TEST_ASSERT_EQ(insn_mode_of(&sr).cpl, 0);
	TEST_ASSERT(!insn_mode_of(&sr).x64);
}

/* ---- where the opcode starts ---------------------------------------------- */

static void test_opcode_after_legacy_prefixes(void)
{
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x90), M32), 0);
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x66, 0xf3, 0x90), M32), 2);
	/* every legacy prefix: operand and address size, lock, rep, segments */
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64,
					    0x65, 0x90), M32), 11);
}

static void test_opcode_rex_is_a_prefix_only_in_64bit_code(void)
{
	/* 48 89 c0: mov rax, rax in 64-bit code; dec eax, then mov, in 32-bit */
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x48, 0x89, 0xc0), M64), 1);
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x48, 0x89, 0xc0), M32), 0);
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x66, 0x41, 0x0f, 0x6f, 0xc0), M64), 2);
}

static void test_opcode_missing_when_bytes_end_in_prefixes(void)
{
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x66, 0xf3), M32), -1);
	TEST_ASSERT_EQ(insn_opcode_at((const uint8_t *)"", 0, M32), -1);
	TEST_ASSERT_EQ(insn_opcode_at(BYTES(0x48), M64), -1);
}

/* ---- may it touch the FPU state ------------------------------------------- */

static void test_fpu_x87_and_fwait(void)
{
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0xd9, 0xc0), M32));       /* fld st0 */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0xdf, 0xe0), M32));       /* fnstsw ax */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x9b), M32));             /* fwait */
}

static void test_fpu_vex_and_evex(void)
{
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0xc5, 0xf8, 0x77), M64)); /* vzeroupper */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0xc4, 0xe2, 0x79, 0x18, 0x00), M64));
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x62, 0xf1, 0x7c, 0x48, 0x28, 0xc1), M64));
}

static void test_fpu_sse_and_system_0f_opcodes(void)
{
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f, 0x28, 0xc1), M64));       /* movaps */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x66, 0x0f, 0x6f, 0xc1), M64)); /* movdqa */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f, 0xae, 0x00), M64));       /* fxsave [rax] */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f, 0x01, 0xf8), M64));       /* swapgs */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f, 0x01, 0xd1), M64));       /* xsetbv */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f, 0x30), M64));             /* wrmsr */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f, 0x77), M64));             /* emms */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f, 0xd4, 0xc1), M64));       /* paddq */
}

static void test_fpu_not_for_integer_instructions(void)
{
	TEST_ASSERT(!insn_may_touch_fpu(BYTES(0x89, 0xc0), M32));            /* mov eax, eax */
	TEST_ASSERT(!insn_may_touch_fpu(BYTES(0x48, 0x01, 0xd8), M64));      /* add rax, rbx */
	TEST_ASSERT(!insn_may_touch_fpu(BYTES(0x0f, 0xa2), M64));            /* cpuid */
	TEST_ASSERT(!insn_may_touch_fpu(BYTES(0x0f, 0x84, 0, 0, 0, 0), M64)); /* jz rel32 */
	TEST_ASSERT(!insn_may_touch_fpu(BYTES(0xf4), M32));                  /* hlt */
}

static void test_fpu_yes_when_the_bytes_cannot_tell(void)
{
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x66, 0x66), M32)); /* prefixes only */
	TEST_ASSERT(insn_may_touch_fpu(BYTES(0x0f), M32));       /* two-byte opcode cut off */
	TEST_ASSERT(insn_may_touch_fpu((const uint8_t *)"", 0, M32));
}

/* ---- HLT ------------------------------------------------------------------- */

static void test_hlt_length_counts_prefixes(void)
{
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(OPC_HLT), M32), 1);
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(0x66, 0x2e, OPC_HLT), M32), 3);
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(0x48, OPC_HLT), M64), 2);
}

static void test_hlt_none_for_other_instructions(void)
{
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(0x90), M32), 0);
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(0x0f, OPC_HLT), M32), 0);
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(0x66), M32), 0);
	/* 48 f4 in 32-bit code is dec eax: no HLT yet */
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(0x48, OPC_HLT), M32), 0);
}

static void test_hlt_outside_cpl0_is_left_to_kvm(void)
{
	TEST_ASSERT_EQ(insn_hlt_len(BYTES(OPC_HLT), M32_USER), 0);
}

/* ---- near jumps ------------------------------------------------------------ */

static void test_near_jump_direct_forms(void)
{
	TEST_ASSERT(insn_near_jump(BYTES(0xeb, 0xfe), M32));                   /* jmp $ */
	TEST_ASSERT(insn_near_jump(BYTES(0xe9, 0, 0, 0, 0), M32));             /* jmp rel32 */
	TEST_ASSERT(insn_near_jump(BYTES(0x74, 0xfe), M32));                   /* jz rel8 */
	TEST_ASSERT(insn_near_jump(BYTES(0x7f, 0x00), M32));                   /* jg rel8 */
	TEST_ASSERT(insn_near_jump(BYTES(0xe2, 0xfe), M32));                   /* loop */
	TEST_ASSERT(insn_near_jump(BYTES(0xe3, 0xfe), M32));                   /* jecxz */
	TEST_ASSERT(insn_near_jump(BYTES(0x0f, 0x85, 0xfa, 0xff, 0xff, 0xff), M64)); /* jnz rel32 */
	TEST_ASSERT(insn_near_jump(BYTES(0x3e, 0x74, 0xfe), M32));             /* with a hint prefix */
}

static void test_near_jump_indirect_is_ff_slash_4_only(void)
{
	TEST_ASSERT(insn_near_jump(BYTES(0xff, 0xe0), M64));       /* jmp rax */
	TEST_ASSERT(insn_near_jump(BYTES(0x41, 0xff, 0x20), M64)); /* jmp [r8] */
	TEST_ASSERT(!insn_near_jump(BYTES(0xff, 0xd0), M64));      /* call rax (/2) */
	TEST_ASSERT(!insn_near_jump(BYTES(0xff, 0x28), M64));      /* jmp far [rax] (/5) */
	TEST_ASSERT(!insn_near_jump(BYTES(0xff, 0xc0), M64));      /* inc eax (/0) */
}

static void test_near_jump_not_for_calls_returns_and_far_jumps(void)
{
	TEST_ASSERT(!insn_near_jump(BYTES(0xe8, 0, 0, 0, 0), M32)); /* call rel32 */
	TEST_ASSERT(!insn_near_jump(BYTES(0xc3), M32));             /* ret */
	TEST_ASSERT(!insn_near_jump(BYTES(0xea, 0, 0, 0, 0, 8, 0), M32)); /* jmp far */
	TEST_ASSERT(!insn_near_jump(BYTES(0x0f, 0x90, 0xc0), M32)); /* seto al */
}

static void test_near_jump_no_when_the_bytes_end(void)
{
	TEST_ASSERT(!insn_near_jump(BYTES(0x0f), M32));
	TEST_ASSERT(!insn_near_jump(BYTES(0xff), M32));
	TEST_ASSERT(!insn_near_jump(BYTES(0x66), M32));
	TEST_ASSERT(!insn_near_jump((const uint8_t *)"", 0, M32));
}

int main(void)
{
	RUN_TEST(test_mode_long_64bit_code);
	RUN_TEST(test_mode_compatibility_code_is_not_64bit);
	RUN_TEST(test_mode_cpl_is_cs_rpl_in_protected_mode);
	RUN_TEST(test_mode_real_mode_is_cpl0_whatever_cs);
	RUN_TEST(test_opcode_after_legacy_prefixes);
	RUN_TEST(test_opcode_rex_is_a_prefix_only_in_64bit_code);
	RUN_TEST(test_opcode_missing_when_bytes_end_in_prefixes);
	RUN_TEST(test_fpu_x87_and_fwait);
	RUN_TEST(test_fpu_vex_and_evex);
	RUN_TEST(test_fpu_sse_and_system_0f_opcodes);
	RUN_TEST(test_fpu_not_for_integer_instructions);
	RUN_TEST(test_fpu_yes_when_the_bytes_cannot_tell);
	RUN_TEST(test_hlt_length_counts_prefixes);
	RUN_TEST(test_hlt_none_for_other_instructions);
	RUN_TEST(test_hlt_outside_cpl0_is_left_to_kvm);
	RUN_TEST(test_near_jump_direct_forms);
	RUN_TEST(test_near_jump_indirect_is_ff_slash_4_only);
	RUN_TEST(test_near_jump_not_for_calls_returns_and_far_jumps);
	RUN_TEST(test_near_jump_no_when_the_bytes_end);
	TEST_MAIN_END();
}
