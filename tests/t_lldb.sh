#!/usr/bin/env bash
# lldb against the vmm's stub (gdb-remote): registers, memory, breakpoints,
# a backtrace, expressions (qMemoryRegionInfo), a watchpoint, stepping, and
# a session with no target file at all.
. "$(dirname "$0")/lib.sh"
plan 30
if ! have_kvm; then skip_rest lldb_all "no usable /dev/kvm on this machine"; fi
if ! command -v lldb >/dev/null; then
	if [ -n "${LLDB_INSTALL_FAILED:-}" ]; then skip_rest lldb_all "lldb could not be installed"
	else skip_rest lldb_all "lldb is not installed (apt-get install lldb)"; fi
fi

# session NAME ELF VMM-ARGS... <<< lldb commands after the connect:
# output in $TMP/NAME.out, the vmm's status in $TMP/NAME.rc.
session() {
	local name=$1 elf=$2; shift 2
	local port; port=$(free_port)
	start_vmm --gdb "$port" "$@"
	wait_listen || { fail "$name" "vmm did not listen: $(cat "$TMP/vmm.err")"; return 1; }
	{
		[ -n "$elf" ] && echo "target create $elf"
		echo "gdb-remote 127.0.0.1:$port"
		cat
	} >"$TMP/$name.lldb"
	timeout "$(tscale 60)" lldb --batch --no-lldbinit -s "$TMP/$name.lldb" </dev/null >"$TMP/$name.out" 2>&1
	# lldb's `process kill` ends the vmm; give it a moment, then make sure.
	for _ in $(seq 40); do kill -0 "$VMM_PID" 2>/dev/null || break; sleep 0.05; done
	kill "$VMM_PID" 2>/dev/null; wait "$VMM_PID" 2>/dev/null
	echo $? >"$TMP/$name.rc"
}
has() { # NAME FILE LINE: an exact line (leading blanks ignored)
	if sed 's/^[[:space:]]*//' "$TMP/$2.out" | grep -qxF -- "$3"; then ok "$1"
	else fail "$1" "no line '$3' in: $(head -c 2500 "$TMP/$2.out")"; fi
}
has_re() {
	if grep -qE -- "$3" "$TMP/$2.out"; then ok "$1"; else fail "$1" "no /$3/ in: $(head -c 2500 "$TMP/$2.out")"; fi
}
addr_of() { nm "$GUESTS/kernel64.elf" | awk -v s="$1" '$3 == s { print $1 }'; }

banner=$(addr_of banner) watched=$(addr_of watched)
session k64 "$GUESTS/kernel64.elf" "$GUESTS/kernel64.elf" <<'EOF'
register read rip
breakpoint set -n level3
continue
register read rdi
bt
memory read -c 16 &banner
p watched
p/x read_me
memory region 0x400000
watchpoint set variable watched
continue
watchpoint delete 1
thread step-over
finish
process kill
EOF
has lldb_rip_at_entry k64 'rip = 0x0000000000100000  kernel64.elf`_start'
has_re lldb_breakpoint_set k64 '^Breakpoint 1: where = kernel64\.elf`level3 at kernel64\.c:[0-9]+:[0-9]+, address = 0xffffffff8[0-9a-f]+$'
has lldb_breakpoint_hit k64 "* thread #1, name = 'vCPU 0', stop reason = breakpoint 1.1"
has_re lldb_stopped_in_level3 k64 '^ +frame #0: 0xffffffff8[0-9a-f]+ kernel64\.elf`level3\(x=4\) at kernel64\.c:[0-9]+:[0-9]+$'
has lldb_register_value k64 'rdi = 0x0000000000000004'
has_re lldb_bt_level2 k64 '^ +frame #1: 0x[0-9a-f]+ kernel64\.elf`level2\(x=2\) at kernel64\.c'
has_re lldb_bt_level1 k64 '^ +frame #2: 0x[0-9a-f]+ kernel64\.elf`level1\(x=1\) at kernel64\.c'
has_re lldb_bt_kmain k64 '^ +frame #3: 0x[0-9a-f]+ kernel64\.elf`kmain\('
has lldb_memory_at_banner k64 "0x$banner: 6b 65 72 6e 65 6c 36 34 3a 20 68 65 6c 6c 6f 20  kernel64: hello "
has_re lldb_expression_variable k64 '^\(volatile uint64_t\) \$[0-9]+ = 1$'
has_re lldb_expression_hex k64 '^\(volatile uint64_t\) \$[0-9]+ = 0x000000001234abcd$'
if grep -q 'Assertion failed' "$TMP/k64.out"; then fail lldb_no_assertion "$(grep -A1 'Assertion failed' "$TMP/k64.out")"
else ok lldb_no_assertion; fi
has lldb_memory_region_unmapped k64 '[0x0000000000400000-0x0000000004400000) ---'
has lldb_watchpoint_set k64 "Watchpoint created: Watchpoint 1: addr = 0x$watched size = 8 state = enabled type = w"
has lldb_watchpoint_hit k64 "* thread #1, name = 'vCPU 0', stop reason = watchpoint 1"
has lldb_watchpoint_new_value k64 'new value: 2'
has lldb_step_over k64 "* thread #1, name = 'vCPU 0', stop reason = step over"
has_re lldb_finish_return_value k64 '^Return value: \(unsigned long\) \$[0-9]+ = 305441753$'
has_re lldb_finish_in_level2 k64 '^ +frame #0: 0x[0-9a-f]+ kernel64\.elf`level2\(x=2\) at kernel64\.c'
# k is answered (X09): lldb says the process ended by signal 9, no error.
has_re lldb_kill_answered k64 '^Process 1 exited with status = 9 \(0x00000009\) *$'
if [ "$(cat "$TMP/k64.rc")" = 14 ]; then ok lldb_kill_ends_vmm
else fail lldb_kill_ends_vmm "vmm status $(cat "$TMP/k64.rc"), not 14"; fi

# No target file: lldb takes the machine from qHostInfo and qProcessInfo, the
# registers from target.xml.  Two vCPUs.
entry=$(objdump -s --start-address=0x100000 --stop-address=0x100004 "$GUESTS/kernel64.elf" |
	awk '/^ 100000/ {print $2}' | sed 's/../& /g; s/ $//')
session notarget "" --cpus 2 "$GUESTS/kernel64.elf" <<'EOF'
target list
register read rip cr0
memory read -c 4 0x100000
disassemble -c 1 -s 0x100000
thread list
stepi
register read rip
process plugin packet monitor regs
process kill
EOF
# qHostInfo / qProcessInfo: the machine, with no OS.
has_re notarget_triple notarget '^\* target #0: <none> \( arch=x86_64-unknown-none, platform=host, pid=1, state=stopped \)$'
has notarget_rip notarget 'rip = 0x0000000000100000'
has notarget_cr0 notarget 'cr0 = 0x0000000080010033'
has_re notarget_memory notarget "^0x00100000: $entry "
has_re notarget_disassembly notarget '^(->)? +0x100000: +cli *$'
has notarget_second_thread notarget "thread #2: tid = 0x0002, 0x0000000000100000, name = 'vCPU 1'"
has notarget_stepi notarget 'rip = 0x0000000000100001'
has notarget_monitor_command notarget 'cr0  0x0000000080010033  PE MP ET NE WP PG'
has_re notarget_kill_answered notarget '^Process 1 exited with status = 9 \(0x00000009\) *$'
