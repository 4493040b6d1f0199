#!/usr/bin/env bash
# tests/run.sh BUILD_DIR [nested] - run every test and print one summary line.
#
# With "nested" (make test-nested): only the scripts that run the vmm
# (tests/t_*.sh), not the unit tests, each against kvm_amd in a VM of its own
# (tests/nested/rig.py: a VM per script, so that one cannot spoil the next).
#
# Every test program (build/tests/unit_*, tests/t_*.sh) prints lines
# "ok NAME", "FAIL NAME: why" and "skip NAME: why"; this counts them
# (tests/tally.sh).  A program that exits non-zero without printing a FAIL
# line counts as one failure, and so does one that runs past its time limit.
# A script says first how many checks it makes ("plan N", tests/lib.sh): a
# script skipped whole (no KVM) counts as N skipped, and one that makes
# another number of checks fails.
set -u
B=${1:-build}
cd "$(dirname "$0")/.."
. tests/tally.sh
export VMM=${VMM:-$PWD/$B/vmm} BUILD=$PWD/$B GUESTS=$PWD/build/guest TESTS=$PWD/tests
pass=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_one NAME [planned] -- COMMAND...
run_one() {
	local name=$1 planned=""; shift
	[ "$1" = planned ] && { planned=planned; shift; }
	shift
	local limit=${TEST_TIMEOUT:-${nested:+600}}
	limit=${limit:-240}
	timeout -k 5 "$limit" "$@" >"$log" 2>&1
	local rc=$?
	local p f s
	tally "$log" "$rc" "$name" "$limit" $planned
	if [ "$f" -ne 0 ] || [ -n "${VERBOSE:-}" ]; then
		sed "s/^/  [$name] /" "$log"
	else
		grep -E '^skip ' "$log" | sed "s/^/  [$name] /"
	fi
	printf '%-28s %3d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	last_p=$p last_f=$f last_s=$s
}

# ONLY: space-separated parts of test names; a test runs if its name holds one.
# SKIP_TESTS: whole test names left out, each said loudly.
# SCRIPTS: the scripts to run instead of tests/t_*.sh (make stress-watch).
only=${ONLY:-}
for t in ${SKIP_TESTS:-}; do echo "NOT RUN: $t (SKIP_TESTS)"; done
wanted() {
	local o
	for o in ${SKIP_TESTS:-}; do [ "$1" = "$o" ] && return 1; done
	[ -z "$only" ] && return 0
	for o in $only; do [[ $1 == *"$o"* ]] && return 0; done
	return 1
}
nested=${2:-}
[ -n "$nested" ] && echo "nested: each test script runs against kvm_amd in a VM of its own (tests/nested/)"
for t in "$B"/tests/unit_*; do
	[ -n "$nested" ] && break
	[ -x "$t" ] || continue
	name=$(basename "$t")
	wanted "$name" || continue
	run_one "$name" -- "$t"
done
for t in ${SCRIPTS:-tests/t_*.sh}; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	wanted "$name" || continue
	if [ -n "$nested" ]; then
		run_one "$name" planned -- python3 tests/nested/rig.py "$B" bash "$t"
		# The rig's own kernel (QEMU TCG's SVM) locks up now and then, or
		# stalls while it boots (seen twice in a row), more often on a loaded
		# machine: that script runs again in a new VM, at most twice more,
		# said loudly; a failure of ours fails every time.
		tries=1
		while [ "$tries" -lt 3 ] &&
			grep -q "the rig's VM stopped answering\|nested rig: the VM did not come up" "$log"; do
			tries=$((tries + 1))
			echo "  [$name] retry: the rig's VM locked up or did not boot (not the vmm: a user program cannot); again in a new VM (attempt $tries of 3)"
			pass=$((pass - last_p)) fail=$((fail - last_f)) skip=$((skip - last_s))
			sleep 5
			run_one "$name" planned -- python3 tests/nested/rig.py "$B" bash "$t"
		done
	else
		run_one "$name" planned -- bash "$t"
	fi
done

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
