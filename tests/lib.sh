# tests/lib.sh - helpers for the shell tests (sourced by tests/t_*.sh).
#
# Environment from tests/run.sh: VMM (the vmm binary), GUESTS (guest
# binaries), BUILD, TESTS.  Each check prints "ok NAME" or "FAIL NAME: why";
# a skip prints "skip NAME: why" loudly.  Every process a test starts is ended
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

ok()   { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "skip $1: $2"; }

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
	timeout -k 2 "${VMM_TIMEOUT:-20}" "$VMM" "$@" >"$out" 2>"$err"
	RC=$?
}

# start_vmm ARGS...: start the vmm in the background with stdout/stderr in
# $TMP/vmm.out and $TMP/vmm.err; sets VMM_PID.
start_vmm() {
	timeout -k 2 "${VMM_TIMEOUT:-60}" "$VMM" "$@" >"$TMP/vmm.out" 2>"$TMP/vmm.err" &
	VMM_PID=$!
	PIDS+=("$VMM_PID")
}

# wait_listen: wait up to 5 s until the vmm started by start_vmm says on
# stderr that it listens for gdb (never connects: that would attach).
wait_listen() {
	local i
	for i in $(seq 100); do
		grep -q 'waiting for gdb\|listening for gdb' "$TMP/vmm.err" 2>/dev/null && return 0
		kill -0 "$VMM_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# have_kvm: a KVM to test on?  /dev/kvm here, or the nested rig's
# (tests/nested/rig.py sets KVM_VIA and VMM to its launcher).
have_kvm() { [ -n "${KVM_VIA:-}" ] || { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; }
