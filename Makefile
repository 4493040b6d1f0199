# vmm - a tiny KVM virtual machine monitor with a built-in GDB stub.
#
#   make            build the vmm and every guest
#   make run        boot the default long-mode hello guest
#   make test       build everything and run every test (SANITIZE=1: ASan+UBSan)
#   make test-nested the KVM tests again on kvm_amd, nested under QEMU (tests/nested/)
#   make bench      performance figures
#   make stress-watch RUNS=50: locked writes on a watched page, again and again
#   make debug      vmm --gdb on kernel64 and gdb attached with gdbinit
#   make lint       cppcheck + clang-tidy
#   make fuzz       libFuzzer targets (clang)
#   make install    PREFIX=/usr/local
#   make clean

CC      ?= gcc
PREFIX  ?= /usr/local
VERSION := 0.1.0

CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE \
	       -DVMM_VERSION='"$(VERSION)"' -fno-omit-frame-pointer -I.
LDLIBS  := -lpthread

ifeq ($(SANITIZE),1)
B := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
else ifeq ($(SANITIZE),thread)
B := build/tsan
SANFLAGS := -fsanitize=thread
else
B := build
SANFLAGS :=
endif

CFLAGS  := $(CFLAGS_BASE) $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS)

STUB_SRC := $(wildcard stub/*.c)
VMM_SRC  := $(filter-out vmm/main.c,$(wildcard vmm/*.c))
STUB_OBJ := $(STUB_SRC:%.c=$(B)/obj/%.o)
VMM_OBJ  := $(VMM_SRC:%.c=$(B)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit_*.c)
UNIT_BIN := $(UNIT_SRC:tests/%.c=$(B)/tests/%)
TOOL_SRC := $(wildcard tests/tool_*.c)
TOOL_BIN := $(TOOL_SRC:tests/%.c=$(B)/tests/%)

.PHONY: all run test test-nested stress-watch bench debug lint fuzz install clean guests
all: $(B)/vmm $(UNIT_BIN) $(TOOL_BIN) guests

$(B)/obj/%.o: %.c $(wildcard stub/*.h vmm/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The hex codec and framing are the stub's hot loops (m and g replies).
$(B)/obj/stub/packet.o: CFLAGS += -ftree-vectorize -fvect-cost-model=dynamic

$(B)/libstub.a: $(STUB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/libvmm.a: $(VMM_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/vmm: $(B)/obj/vmm/main.o $(B)/libvmm.a $(B)/libstub.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/%.o $(B)/libvmm.a $(B)/libstub.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# unit_vm runs vm.c against a fake KVM: its open, close, ioctl and vsnprintf
# stand in for libc's.
$(B)/tests/unit_vm: LDFLAGS += -Wl,--wrap=open,--wrap=close,--wrap=ioctl,--wrap=vsnprintf
# unit_gdb_serve fails pthread_create where a test asks it to.
$(B)/tests/unit_gdb_serve: LDFLAGS += -Wl,--wrap=pthread_create
# unit_sched runs the scheduler's vCPU threads against a fake KVM: its ioctl
# stands in for libc's.
$(B)/tests/unit_sched: LDFLAGS += -Wl,--wrap=ioctl
# unit_pc runs the PC devices' glue against a fake KVM the same way.
$(B)/tests/unit_pc: LDFLAGS += -Wl,--wrap=ioctl

.SECONDARY:

# Guests are freestanding and never sanitized: always in build/guest.
include guest/guest.mk
guests: $(GUEST_BINS)

run: $(B)/vmm guests
	$(B)/vmm build/guest/hello64.bin

test: all
	@bash tests/run.sh $(B)

# Needs Debian's qemu-system-x86, linux-image-amd64 and busybox-static.
test-nested: all
	@bash tests/run.sh $(B) nested

# Long runs, not part of make test (NESTED=1: on kvm_amd in the rig).
stress-watch: all
	@SCRIPTS=tests/stress_watch.sh ONLY=stress_watch TEST_TIMEOUT=$${TEST_TIMEOUT:-3600} \
		bash tests/run.sh $(B) $(if $(NESTED),nested)

bench: all
	@bash tests/bench.sh $(B)

debug: all
	@GUEST="$(GUEST)" VMM_ARGS="$(VMM_ARGS)" bash tests/debug.sh $(B)

# make lint: cppcheck and clang-tidy, both clean (clang-tidy's warnings are
# errors).  clang-tidy runs bugprone-* and the static analyzer, less the checks
# that only flag our idioms or this clang's blind spots:
#   easily-swappable-parameters      (addr, len) pairs are everywhere
#   suspicious-string-compare        if (!strcmp(a, b))
#   implicit-widening-of-multiplication-result, narrowing-conversions,
#   misplaced-widening-cast          constant sizes, times as double, printf casts
#   security.insecureAPI.*           Annex K advice; every strcpy is length-checked
#   valist.Uninitialized             clang 14 flags every va_start'ed va_list
# Tests end a failed assertion in longjmp or die(), which the analyzer walks past.
TIDY_CHECKS := -*,bugprone-*,clang-analyzer-*,-bugprone-easily-swappable-parameters,$\
	-bugprone-suspicious-string-compare,-bugprone-implicit-widening-of-multiplication-result,$\
	-bugprone-narrowing-conversions,-bugprone-misplaced-widening-cast,$\
	-clang-analyzer-security.insecureAPI.*,-clang-analyzer-valist.Uninitialized
TIDY_TEST_CHECKS := $(TIDY_CHECKS),-clang-analyzer-core.CallAndMessage,$\
	-clang-analyzer-core.uninitialized.Assign,-clang-analyzer-core.NullDereference,$\
	-bugprone-not-null-terminated-result
# xargs -P2: two files at once; the compiler flags must follow the files.
TIDY = xargs -P2 -n4 sh -c 'clang-tidy --quiet --warnings-as-errors="*" -checks="$(1)" \
	"$$@" -- -std=gnu11 -D_GNU_SOURCE -DVMM_VERSION=\"lint\" -I.' clang-tidy

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr -I. --std=c11 -D_GNU_SOURCE \
		--suppress=autoVariables:vmm/run.c stub vmm tests
	printf '%s\n' $(STUB_SRC) $(wildcard vmm/*.c) | $(call TIDY,$(TIDY_CHECKS))
	printf '%s\n' $(wildcard tests/*.c) | $(call TIDY,$(TIDY_TEST_CHECKS))

# libFuzzer targets, each run FUZZ_SECONDS; what they find beyond the seeds
# in tests/fuzz/ grows in build/fuzz/corpus/ (make test replays the seeds).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_RUN     := -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_ARGS)

# make test replays the seed corpora through the same sources, with gcc.
$(B)/obj/tests/unit_fuzz_replay.o: tests/fuzz_stub.c tests/fuzz_walk.c

fuzz:
	@mkdir -p build/fuzz/corpus/stub build/fuzz/corpus/walk
	$(FUZZ_CC) $(FUZZ_FLAGS) -o build/fuzz/fuzz_stub tests/fuzz_stub.c $(STUB_SRC) -lpthread
	$(FUZZ_CC) $(FUZZ_FLAGS) -o build/fuzz/fuzz_walk tests/fuzz_walk.c vmm/mmu.c
	cd build/fuzz && ./fuzz_stub $(FUZZ_RUN) -max_len=4096 corpus/stub ../../tests/fuzz/stub
	cd build/fuzz && ./fuzz_walk $(FUZZ_RUN) -max_len=1024 corpus/walk ../../tests/fuzz/walk

install: $(B)/vmm
	install -D -m 0755 $(B)/vmm $(DESTDIR)$(PREFIX)/bin/vmm
	install -D -m 0644 vmm.1 $(DESTDIR)$(PREFIX)/share/man/man1/vmm.1

clean:
	rm -rf build
