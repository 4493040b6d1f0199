/* test.h - a tiny assertion kit in the style of the KVM selftests.
 *
 * Each test function runs under RUN_TEST(fn); an assertion that fails prints
 * "FAIL name: expr (file:line)" and abandons that test only.  The runner
 * (tests/run.sh) counts the "ok", "FAIL" and "skip" lines every test program
 * prints, and TEST_MAIN_END exits non-zero if anything failed.
 */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed, test_passed, test_skipped;
static jmp_buf test_jmp;
static const char *test_name;
static char test_skip_reason[256];

#define TEST_FAIL(fmt, ...)                                                        \
	do {                                                                       \
		printf("FAIL %s: " fmt " (%s:%d)\n", test_name, ##__VA_ARGS__,     \
		       __FILE__, __LINE__);                                        \
		fflush(stdout);                                                    \
		longjmp(test_jmp, 1);                                              \
	} while (0)

/* ": message" after a failed assertion's condition, if it has one. */
static inline void test_msg_(const char *fmt, ...)
{
	va_list ap;

	if (!*fmt)
		return;
	printf(": ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* TEST_ASSERT(cond) or TEST_ASSERT(cond, fmt, args...): the message follows
 * the condition's text. */
#define TEST_ASSERT(cond, ...)                                                     \
	do {                                                                       \
		if (!(cond)) {                                                     \
			printf("FAIL %s: %s", test_name, #cond);                   \
			test_msg_("" __VA_ARGS__);                                 \
			printf(" (%s:%d)\n", __FILE__, __LINE__);                  \
			fflush(stdout);                                            \
			longjmp(test_jmp, 1);                                      \
		}                                                                  \
	} while (0)

#define TEST_ASSERT_EQ(a, b)                                                       \
	do {                                                                       \
		uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);                 \
		if (__a != __b)                                                    \
			TEST_FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b,  \
				  __a, __b);                                       \
	} while (0)

#define TEST_ASSERT_STREQ(a, b)                                                    \
	do {                                                                       \
		const char *__a = (a), *__b = (b);                                 \
		if (strcmp(__a, __b))                                              \
			TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, __a, __b); \
	} while (0)

/* Skip the current test, loudly, with a reason. */
#define TEST_SKIP(...)                                                             \
	do {                                                                       \
		snprintf(test_skip_reason, sizeof(test_skip_reason), __VA_ARGS__); \
		longjmp(test_jmp, 2);                                              \
	} while (0)

#define RUN_TEST(fn)                                                               \
	do {                                                                       \
		test_name = #fn;                                                   \
		int __r = setjmp(test_jmp);                                        \
		if (__r == 0) {                                                    \
			fn();                                                      \
			printf("ok %s\n", #fn);                                    \
			test_passed++;                                             \
		} else if (__r == 1) {                                             \
			test_failed++;                                             \
		} else {                                                           \
			printf("skip %s: %s\n", #fn, test_skip_reason);            \
			test_skipped++;                                            \
		}                                                                  \
		fflush(stdout);                                                    \
	} while (0)

#define TEST_MAIN_END() return test_failed ? 1 : 0

#endif
