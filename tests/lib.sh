# tests/lib.sh - helpers for the shell tests (sourced by tests/t_*.sh).
#
# Environment from tests/run.sh: VMM (the vmm binary), GUESTS (guest
# binaries), BUILD, TESTS.  Each check prints "ok NAME" or "FAIL NAME: why";
# a skip prints "skip NAME: why" loudly.  A script starts with "plan N".  Every process a test starts is ended
# by PID when the test exits.
set -u
: "${VMM:=$PWD/build/vmm}" "${GUESTS:=$PWD/build/guest}" "${BUILD:=$PWD/build}" "${TESTS:=$PWD/tests}"
# tests/rsp.py: the raw protocol client of the tests' Python parts
export PYTHONPATH="$TESTS${PYTHONPATH:+:$PYTHONPATH}"
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

# tscale SECONDS: a time limit scaled by TIME_SCALE (the nested rig sets 4:
# guest code runs at QEMU TCG speed there).
TIME_SCALE=${TIME_SCALE:-1}
tscale() { echo $(($1 * TIME_SCALE)); }

ok()   { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "skip $1: $2"; }

# plan N: this script makes N checks (its "ok", "FAIL" and "skip" lines) when
# it runs to its end, whatever the KVM: a check that cannot be made here is
# skipped, by its name, not left out.  Said first, before anything may skip.
# tests/run.sh fails a script that makes another number (so the count stays
# true) and counts the checks skip_rest skipped.
plan() { echo "plan $1"; }
# skip_rest NAME WHY: skip NAME and every check not made yet (the whole
# script, where it cannot run here), and end the script.
skip_rest() { skip "$1" "$2 (and every check after it)"; echo "skip-rest"; exit 0; }
# skip_checks WHY NAME...: skip each of the named checks, for one reason.
skip_checks() {
	local why=$1 name; shift
	for name; do skip "$name" "$why"; done
}

# check NAME CONDITION-TEXT -- COMMAND...: ok if the command succeeds.
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else fail "$name" "$*"; fi
}

# A free TCP port on loopback (the kernel picks it; racy only in theory).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_vmm OUT ERR ARGS...: run the vmm to completion (bounded), status in $RC.
run_vmm() {
	local out=$1 err=$2; shift 2
	timeout -k 2 "$(tscale "${VMM_TIMEOUT:-20}")" "$VMM" "$@" >"$out" 2>"$err"
	RC=$?
}

# start_vmm ARGS...: start the vmm in the background with stdout/stderr in
# $TMP/vmm.out and $TMP/vmm.err; sets VMM_PID.
start_vmm() {
	timeout -k 2 "$(tscale "${VMM_TIMEOUT:-60}")" "$VMM" "$@" >"$TMP/vmm.out" 2>"$TMP/vmm.err" &
	VMM_PID=$!
	PIDS+=("$VMM_PID")
}

# wait_listen: wait up to 5 s (scaled) until the vmm started by start_vmm says on
# stderr that it listens for gdb (never connects: that would attach).
wait_listen() {
	local i
	for i in $(seq "$(tscale 100)"); do
		grep -q 'waiting for gdb\|listening for gdb' "$TMP/vmm.err" 2>/dev/null && return 0
		kill -0 "$VMM_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# probe_yes KEY: does `vmm --probe` (on the KVM under test) say "KEY: yes"?
probe_yes() {
	[ -s "$TMP/probe" ] || "$VMM" --probe >"$TMP/probe" 2>&1
	grep -q "^$1: *yes" "$TMP/probe"
}
# hbreak_or_break: gdb's "hbreak" where debug-register execution breakpoints
# fire on this KVM, else "break" (for tests about something else).
hbreak_or_break() { if probe_yes 'hw execution breakpoints'; then echo hbreak; else echo break; fi; }
# fault_state_kept: does this KVM keep a vCPU's registers at a triple fault
# ('vmm --probe'; kvm_amd resets the vCPU, and the vmm then says so)?
fault_state_kept() {
	[ -s "$TMP/probe.fault" ] || "$VMM" --probe 2>&1 | grep '^state after a triple fault:' >"$TMP/probe.fault"
	grep -q ': *kept' "$TMP/probe.fault"
}
# The vmm's note where KVM reset the vCPU at a triple fault (FAULT_NOTE when
# it had the registers it last resumed the vCPU with, else FAULT_LOST).
FAULT_NOTE='vmm: KVM reset the vCPU at the fault: the registers shown are those it was last resumed with, not the faulting ones'
FAULT_LOST='vmm: KVM reset the vCPU at the fault: its faulting registers are lost (they read as the reset state)'

# have_kvm: a KVM to test on?  /dev/kvm here, or the nested rig's
# (tests/nested/rig.py sets KVM_VIA and VMM to its launcher).
have_kvm() { [ -n "${KVM_VIA:-}" ] || { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; }
