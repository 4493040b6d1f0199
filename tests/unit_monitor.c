/* unit_monitor.c - the monitor command table (vmm/monitor.c), no KVM.
 *
 * The commands tested here touch no vCPU: the help, the parsing of names
 * and arguments, and the settings (phys, hold, console, record's usage).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "tests/test.h"
#include "vmm/target.h"

static struct vm vm;
static struct gdb_target t;
static char out[CON_RING + 256];

static void target_reset(void)
{
	memset(&t, 0, sizeof(t));
	memset(&vm, 0, sizeof(vm));
	pthread_mutex_init(&vm.out_lock, NULL);
	t.vm = &vm;
	out[0] = 0;
}

static int run(const char *cmd)
{
	out[0] = 0;
	return monitor_run(&t, cmd, out, sizeof(out));
}

static void test_help_is_made_from_the_table(void)
{
	target_reset();
	TEST_ASSERT_EQ(run("help"), 0);
	TEST_ASSERT(!strncmp(out, "vmm monitor commands:\n", 22), "%s", out);
	/* short usages share a line with their help, in one column */
	TEST_ASSERT(strstr(out, "\n  help            this list\n"), "%s", out);
	TEST_ASSERT(strstr(out, "\n  walk ADDR       the page walk of a virtual address"), "%s", out);
	/* long ones put it below, and help of several lines keeps the column */
	TEST_ASSERT(strstr(out, "\n  record on|off|status\n                  log every instruction"),
		    "%s", out);
	TEST_ASSERT(strstr(out, "reverse-stepi,\n                  reverse-continue"), "%s", out);
	TEST_ASSERT_EQ(out[strlen(out) - 1], '\n');
}

static void test_empty_command_is_help(void)
{
	char help[sizeof(out)];

	target_reset();
	TEST_ASSERT_EQ(run("help"), 0);
	strcpy(help, out);
	TEST_ASSERT_EQ(run(""), 0);
	TEST_ASSERT_STREQ(out, help);
	TEST_ASSERT_EQ(run("   "), 0);
	TEST_ASSERT_STREQ(out, help);
}

static void test_unknown_commands_are_enoent(void)
{
	target_reset();
	TEST_ASSERT_EQ(run("frob"), -ENOENT);
	TEST_ASSERT_EQ(run("helpx"), -ENOENT);
	TEST_ASSERT_EQ(run("hel"), -ENOENT);
	/* a command that takes nothing, given something */
	TEST_ASSERT_EQ(run("regs x"), -ENOENT);
	TEST_ASSERT_EQ(run("mem "), -ENOENT);
	TEST_ASSERT_EQ(run("help me"), -ENOENT);
}

static void test_phys_sets_and_tells(void)
{
	target_reset();
	TEST_ASSERT_EQ(run("phys"), 0);
	TEST_ASSERT_STREQ(out, "addresses are guest-virtual\n");
	TEST_ASSERT_EQ(run("  phys on"), 0);
	TEST_ASSERT(t.phys);
	TEST_ASSERT_STREQ(out, "addresses are guest-physical\n");
	TEST_ASSERT_EQ(run("phys off"), 0);
	TEST_ASSERT(!t.phys);
	TEST_ASSERT_EQ(run("phys maybe"), -ENOENT);
	TEST_ASSERT_EQ(run("phys  on"), -ENOENT); /* one space between name and argument */
	TEST_ASSERT(!t.phys);
}

static void test_hold_sets_and_tells(void)
{
	target_reset();
	TEST_ASSERT_EQ(run("hold on"), 0);
	TEST_ASSERT(t.hold);
	TEST_ASSERT_STREQ(out, "on disconnect the guest stays stopped\n");
	TEST_ASSERT_EQ(run("hold"), 0);
	TEST_ASSERT(t.hold);
	TEST_ASSERT_EQ(run("hold off"), 0);
	TEST_ASSERT_STREQ(out, "on disconnect the guest runs on\n");
}

static void test_console_routes_output(void)
{
	target_reset();
	TEST_ASSERT_EQ(run("console"), 0);
	TEST_ASSERT_STREQ(out, "guest console (port 0xE9) goes to stdout\n");
	TEST_ASSERT_EQ(run("console gdb"), 0);
	TEST_ASSERT(t.console_gdb && vm.console_off);
	TEST_ASSERT_STREQ(out, "guest console (port 0xE9) goes to gdb\n");
	TEST_ASSERT_EQ(run("console both"), 0);
	TEST_ASSERT(t.console_gdb && !vm.console_off);
	TEST_ASSERT_EQ(run("console nowhere"), 0);
	TEST_ASSERT_STREQ(out, "usage: monitor console stdout|gdb|both|read\n");
	TEST_ASSERT(t.console_gdb && !vm.console_off);
}

/* Non-stop: output for gdb is kept (no O packets there) until read, the
 * oldest bytes dropped, and said so, when more came than the ring holds. */
static void test_console_kept_in_nonstop(void)
{
	static char big[CON_RING + 100];

	target_reset();
	t.nonstop = true;
	TEST_ASSERT_EQ(run("console read"), 0);
	TEST_ASSERT_STREQ(out, "(no console output kept)\n");
	TEST_ASSERT_EQ(run("console gdb"), 0);
	TEST_ASSERT_STREQ(out, "guest console (port 0xE9) goes to gdb (non-stop: kept for 'monitor console read')\n");
	ns_console_put(&t, "hello ", 6);
	ns_console_put(&t, "there\n", 6);
	TEST_ASSERT_EQ(run("console read"), 0);
	TEST_ASSERT_STREQ(out, "hello there\n");
	TEST_ASSERT_EQ(run("console read"), 0);
	TEST_ASSERT_STREQ(out, "(no console output kept)\n");
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 4, "end\n", 4);
	ns_console_put(&t, big, sizeof(big));
	TEST_ASSERT_EQ(run("console read"), 0);
	TEST_ASSERT(!strncmp(out, "(100 bytes lost: more than 65536 came between reads)\naaa", 56), "%.80s", out);
	TEST_ASSERT_EQ(strlen(out), 53 + (size_t)CON_RING);
	TEST_ASSERT_STREQ(out + strlen(out) - 4, "end\n");
}

static void test_walk_and_record_say_their_usage(void)
{
	target_reset();
	TEST_ASSERT_EQ(run("walk"), 0);
	TEST_ASSERT(!strncmp(out, "usage: monitor walk ADDR", 24), "%s", out);
	TEST_ASSERT_EQ(run("walk 0x10zz"), 0);
	TEST_ASSERT(!strncmp(out, "usage: monitor walk ADDR", 24), "%s", out);
	TEST_ASSERT_EQ(run("record bogus"), 0);
	TEST_ASSERT_STREQ(out, "usage: monitor record on|off|status\n");
	TEST_ASSERT_EQ(run("record off"), 0);
	TEST_ASSERT_STREQ(out, "recording was off\n");
}

int main(void)
{
	RUN_TEST(test_help_is_made_from_the_table);
	RUN_TEST(test_empty_command_is_help);
	RUN_TEST(test_unknown_commands_are_enoent);
	RUN_TEST(test_phys_sets_and_tells);
	RUN_TEST(test_hold_sets_and_tells);
	RUN_TEST(test_console_routes_output);
	RUN_TEST(test_console_kept_in_nonstop);
	RUN_TEST(test_walk_and_record_say_their_usage);
	TEST_MAIN_END();
}
