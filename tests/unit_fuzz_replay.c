/* unit_fuzz_replay.c - the fuzz targets' corpora, replayed without libFuzzer.
 *
 * `make fuzz` needs clang's libFuzzer; `make test` only needs to know that
 * every input in tests/fuzz/stub and tests/fuzz/walk still runs cleanly
 * (under SANITIZE=1 with ASan and UBSan too).  The targets trap on a broken
 * promise, so a bad input ends this program and the runner counts it; one
 * that hangs is cut off by an alarm naming it.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_ENTRY fuzz_stub_one
#include "tests/fuzz_stub.c" // NOLINT(bugprone-suspicious-include): the target itself
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_walk_one
#include "tests/fuzz_walk.c" // NOLINT(bugprone-suspicious-include)
#undef FUZZ_ENTRY

#define REPLAY_MAX_INPUT (1 << 20)
#define REPLAY_SECONDS 20

/* "FAIL replay: PATH ran over 20 s\n", ready before the alarm can ring. */
static char replay_msg[1200];
static size_t replay_msg_len;

static void replay_alarm(int sig)
{
	(void)sig;
	(void)!write(1, replay_msg, replay_msg_len);
	_exit(1);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every regular file in dir through fn: one "ok" line each. */
static int replay_dir(const char *corpus, const char *dir,
		      int (*fn)(const uint8_t *, size_t))
{
	static uint8_t data[REPLAY_MAX_INPUT];
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), failed = 0, done = 0;

	if (n < 0) {
		printf("FAIL %s: cannot read %s\n", corpus, dir);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char path[1024];
		FILE *f;
		size_t len;

		if (names[i]->d_name[0] == '.') {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		replay_msg_len = (size_t)snprintf(replay_msg, sizeof(replay_msg),
						  "FAIL replay: %s ran over %d s\n", path, REPLAY_SECONDS);
		free(names[i]);
		f = fopen(path, "rb");
		if (!f) {
			printf("FAIL %s: cannot open %s\n", corpus, path);
			failed++;
			continue;
		}
		len = fread(data, 1, sizeof(data), f);
		fclose(f);
		alarm(REPLAY_SECONDS);
		fn(data, len);
		alarm(0);
		printf("ok %s/%s\n", corpus, path + strlen(dir) + 1);
		fflush(stdout);
		done++;
	}
	free(names);
	if (!done) {
		printf("FAIL %s: no inputs in %s\n", corpus, dir);
		failed++;
	}
	return failed;
}

int main(void)
{
	const char *tests = getenv("TESTS");
	char dir[1024];
	int failed = 0;

	signal(SIGALRM, replay_alarm);
	if (!tests)
		tests = "tests";
	snprintf(dir, sizeof(dir), "%s/fuzz/stub", tests);
	failed += replay_dir("fuzz_stub", dir, fuzz_stub_one);
	snprintf(dir, sizeof(dir), "%s/fuzz/walk", tests);
	failed += replay_dir("fuzz_walk", dir, fuzz_walk_one);
	return failed ? 1 : 0;
}
