#!/usr/bin/env bash
# gdb against the vmm: reverse debugging ("monitor record on"), on kernel64:
# stepi through the counting loop, then reverse-stepi back to the start and
# stepi forward again (replay), the whole state matching at every
# instruction; reverse-continue to a breakpoint and to a write watchpoint
# (stopped at the writer), reverse-finish, reverse-next, reverse-step; the
# guest's port-0xE9 output not printed again by a replay; going back without
# a record; changing the past (the log after it dropped, the guest going on
# with the new value); --record-limit dropping the oldest instructions (the
# new start of the log is the state the guest had there); two vCPUs; a
# triple fault while recording; "monitor hold on" keeping the log across a
# detach, and a detach otherwise stopping the recording.
. "$(dirname "$0")/gdb/lib.sh"
plan 74
gdb_preflight gdb_reverse
: "${GDB_TIMEOUT:=20}" "${VMM_TIMEOUT:=30}"	# a hang costs one session, not the whole run

# insn_at FUNC ERE: the address of the first instruction of kernel64's FUNC
# that matches ERE (in objdump's disassembly)
insn_at() {
	objdump -d --no-show-raw-insn --disassemble="$1" "$KERNEL" |
		awk -v re="$2" '/^ *[0-9a-f]+:\t/ && $0 ~ re { sub(":", "", $1); print "0x" $1; exit }'
}

# same_vout NAME FILE: the vmm's stdout is exactly FILE (each guest line once)
same_vout() {
	if cmp -s "$VOUT" "$2"; then ok "$1"
	else fail "$1" "stdout $(tr '\n' '|' <"$VOUT"), want $(tr '\n' '|' <"$2")"; fi
}

# status_num SECTION WHAT: the number on the first "WHAT: N ..." line of SECTION
status_num() { sed -n "s/^$2: \\([0-9]*\\) .*/\\1/p" "$(section "$1")" | head -1; }

l_tick=$(line_of kernel64.c 'last_tick = i;')
l_loop=$(($(line_of kernel64.c 'void count_loop(void)') + 1))
l_count=$(line_of kernel64.c 'counter = counter + 1;')
l_call=$(line_of kernel64.c '	tick(i);')
l_level3=$(line_of kernel64.c 'watched = 2;')
l_fault=$(line_of kernel64.c '(void)*(volatile uint8_t *)stack_guard;')
count_loop=$(sym count_loop) tick=$(sym tick) kmain=$(sym kmain)
w_counter=$(insn_at count_loop 'mov +%rax,.*<counter>$')	# counter = counter + 1: the store
call_tick=$(insn_at count_loop 'call.*<tick>$')
call_count=$(insn_at kmain 'call.*<count_loop>$')
call_level3=$(insn_at level2 'call.*<level3>$')
fault_insn=$(insn_at fault '<stack_guard>$')
say_ret=$(insn_at say 'ret$')

# What the guest prints on its own, without gdb: every session's stdout must
# be this, each line once, however often the record log is replayed.
run_vmm "$TMP/ref1.out" "$TMP/ref1.err" "$KERNEL"
run_vmm "$TMP/ref2.out" "$TMP/ref2.err" --cpus 2 "$KERNEL"
grep -qx 'kernel64: count 10' "$TMP/ref1.out" && grep -qx 'kernel64: done' "$TMP/ref2.out" ||
	fail reference_run "kernel64 alone: $(tr '\n' '|' <"$TMP/ref1.out") $(tr '\n' '|' <"$TMP/ref1.err")"

# --- stepi 60 times through count_loop recording, back one at a time, forward again --------
# state(): every general register, RIP, EFLAGS, CR3, counter, last_tick and the
# 64 bytes of stack count_loop and tick write (the pushes and the return address)
gdb_session steps "$KERNEL" "$KERNEL" <<'EOF2'
break count_loop
continue
delete
echo @@ start\n
monitor record on
monitor record status
echo @@ forward\n
python
NAMES = ["pc", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
         "r12", "r13", "r14", "r15", "eflags", "cr3", "counter", "last_tick", "stack"]
def state():
    s = [int(gdb.parse_and_eval("$" + r)) & (2**64 - 1) for r in NAMES[:19]]
    s += [int(gdb.parse_and_eval("counter")), int(gdb.parse_and_eval("last_tick"))]
    s.append(bytes(gdb.selected_inferior().read_memory(stack0 - 48, 64)).hex())
    return s
def differ(got, want):
    f = lambda v: v if isinstance(v, str) else "%#x" % v
    return ["%s %s, want %s" % (n, f(g), f(w)) for n, g, w in zip(NAMES, got, want) if g != w]
def walk(what, cmd, indexes):
    same = 0
    for k in indexes:
        gdb.execute(cmd, to_string=True)
        d = differ(state(), fwd[k])
        if d:
            print("%s: after %d instructions: %s" % (what, k, "; ".join(d)))
        else:
            same += 1
    print("%s: %d of %d states match the forward run" % (what, same, len(indexes)))
stack0 = int(gdb.parse_and_eval("$rsp"))
fwd = [state()]
for _ in range(60):
    gdb.execute("stepi", to_string=True)
    fwd.append(state())
print("forward: 60 steps, pc %#x, counter %d, last_tick %d, rax %#x" %
      (fwd[60][0], fwd[60][19], fwd[60][20], fwd[60][3]))
print("forward: %d different pcs, %d different stacks" %
      (len(set(s[0] for s in fwd)), len(set(s[21] for s in fwd))))
end
monitor record status
echo @@ back\n
python walk("back", "reverse-stepi", range(59, 29, -1))
monitor record status
python walk("back", "reverse-stepi", range(29, -1, -1))
monitor record status
try reverse-stepi
pv/x $pc
python print("at the start:", differ(state(), fwd[0]) or "same state")
echo @@ replay\n
python walk("replay", "stepi", range(1, 61))
monitor record status
stepi
pv/x $pc
pv counter
monitor record status
EOF2
vmm_end 5
if grep -q '^cannot record:' "$OUT"; then
	skip_rest gdb_reverse "$(grep -m1 '^cannot record:' "$OUT")"
fi
want_seq record_status_empty start 'recording: on' 'instructions: 0 in the log (0 entries) - nothing recorded yet' \
	'dropped: 0 oldest instructions' 'position: at the end (live), 0 instructions before the end'
want_seq stepi_recorded forward \
	"forward: 60 steps, pc $(insn_addr count_loop 8), counter 5, last_tick 4, rax 0x6" \
	'forward: 16 different pcs, 3 different stacks' \
	'instructions: 60 in the log (60 entries)' 'position: at the end (live), 0 instructions before the end'
want_not stepi_recorded_no_error forward '^(error|Cannot|vmm:)'
want_seq reverse_stepi_every_state back 'back: 30 of 30 states match the forward run' \
	'position: replaying, 30 instructions before the end' 'back: 30 of 30 states match the forward run' \
	'instructions: 60 in the log (60 entries)' 'position: at the start, 60 instructions before the end'
want_not reverse_stepi_no_mismatch back '^back: after'
want_seq reverse_stepi_at_start back 'No more reverse-execution history.' "\$pc = $count_loop" \
	'at the start: same state'
check_eq reverse_stepi_at_start_once "$(grep -c '^No more reverse-execution history\.$' "$(section back)")" 1
want_seq replay_every_state replay 'replay: 60 of 60 states match the forward run' \
	'instructions: 60 in the log (60 entries)' 'position: at the end (live), 0 instructions before the end' \
	"\$pc = $(insn_addr count_loop 9)" 'counter = 6' \
	'instructions: 61 in the log (61 entries)' 'position: at the end (live), 0 instructions before the end'
want_not replay_no_mismatch replay '^replay: after'
grep -qxF "vmm: gdb left: recording stopped, its log dropped ('monitor hold on' keeps both)" "$VERR" &&
	ok detach_stops_recording || fail detach_stops_recording "stderr $(tr '\n' '|' <"$VERR")"
same_vout steps_guest_output "$TMP/ref1.out"
check_eq steps_status "$VMM_RC" 0

# --- reverse-continue to a breakpoint and to a watchpoint; reverse-finish/next/step ----------
gdb_session revcont "$KERNEL" "$KERNEL" <<'EOF2'
break count_loop
continue
delete
monitor record on
break tick
continue
continue
continue
continue
continue
echo @@ rc\n
reverse-continue
pv i
pv last_tick
pv counter
pv/x $pc
reverse-continue
pv i
pv last_tick
pv counter
echo @@ watch\n
delete
watch counter
reverse-continue
pv/x $pc
pv counter
pv last_tick
reverse-continue
pv/x $pc
pv counter
echo @@ watchfwd\n
continue
pv/x $pc
pv counter
echo @@ finish\n
delete
break tick
continue
stepi
delete
reverse-finish
pv/x $pc
pv/x $rdi
pv last_tick
echo @@ lines\n
reverse-next
pv/x $pc
reverse-step
pv/x $pc
pv counter
next
pv/x $pc
step
pv/x $pc
monitor record status
echo @@ end\n
continue
continue
EOF2
vmm_end 5
want_seq reverse_continue_breakpoint rc "Breakpoint 2, tick (i=i@entry=3) at guest/kernel64.c:$l_tick" \
	'i = 3' 'last_tick = 2' 'counter = 4' "\$pc = $tick" \
	"Breakpoint 2, tick (i=i@entry=2) at guest/kernel64.c:$l_tick" 'i = 2' 'last_tick = 1' 'counter = 3'
want_seq reverse_watch_stops_at_writer watch 'Hardware watchpoint 3: counter' 'Old value = 3' 'New value = 2' \
	"$w_counter in count_loop () at guest/kernel64.c:$l_count" "\$pc = $w_counter" 'counter = 2' 'last_tick = 1' \
	'Old value = 2' 'New value = 1' "\$pc = $w_counter" 'counter = 1'
want_seq replay_watch_forward watchfwd 'Hardware watchpoint 3: counter' 'Old value = 1' 'New value = 2' \
	"\$pc = $(insn_addr count_loop 9)" 'counter = 2'
want_seq reverse_finish finish "Breakpoint 4, tick (i=i@entry=1) at guest/kernel64.c:$l_tick" \
	"$call_tick in count_loop () at guest/kernel64.c:$l_call" "\$pc = $call_tick" '$rdi = 0x1' 'last_tick = 0'
want_seq reverse_next_step lines "\$pc = $(insn_addr count_loop 9)" "\$pc = $(insn_addr count_loop 6)" 'counter = 1' \
	"\$pc = $(insn_addr count_loop 9)" "tick (i=i@entry=1) at guest/kernel64.c:$l_tick" "\$pc = $tick" \
	'position: replaying, 30 instructions before the end'
want_seq revcont_end end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
same_vout revcont_guest_output "$TMP/ref1.out"
check_eq revcont_status "$VMM_RC" 0

# --- --record-limit 64K: the oldest instructions dropped ------------------------------------
# state.py: the registers and 96 bytes of stack of the moment on one line,
# to compare a moment of two sessions
cat >"$TMP/state.py" <<'EOF2'
print("state: " + " ".join("%s=%#x" % (r, int(gdb.parse_and_eval("$" + r)) & (2**64 - 1)) for r in
      ["pc", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "eflags"]) +
      " stack=" + bytes(gdb.selected_inferior().read_memory(int(gdb.parse_and_eval("$rsp")) - 32, 96)).hex())
EOF2
gdb_session limit "$KERNEL" "$KERNEL" --record-limit 64K <<EOF2
break kmain
continue
delete
monitor record on
break choose_path
continue
echo @@ full\n
monitor record status
delete
echo @@ start\n
reverse-continue
source $TMP/state.py
monitor record status
try reverse-stepi
echo @@ end\n
continue
continue
EOF2
vmm_end 5
lim_in=$(status_num full instructions) lim_drop=$(status_num full dropped)
lim_mem=$(sed -n 's/^memory: \([0-9]*\) bytes of 65536 allowed (--record-limit)$/\1/p' "$(section full)")
if [ -n "$lim_mem" ] && [ "$lim_mem" -le 65536 ] && [ "${lim_drop:-0}" -gt 0 ] && [ "${lim_in:-0}" -gt 0 ]; then
	ok record_limit_drops
else
	fail record_limit_drops "memory '$lim_mem' of 65536, dropped '$lim_drop', instructions '$lim_in'"
	show_out "$(section full)"
fi
check_eq record_limit_notice_once "$(grep -c 'record log is full' "$VERR") $(grep -cxF \
	'vmm: the record log is full (--record-limit 65536 bytes): its oldest instructions are dropped' "$VERR")" '1 1'
want_seq record_limit_start start 'No more reverse-execution history.' \
	"position: at the start, ${lim_in:-?} instructions before the end" 'No more reverse-execution history.'
want_seq record_limit_end end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
same_vout record_limit_guest_output "$TMP/ref1.out"
check_eq record_limit_status "$VMM_RC" 0
lim_state=$(sed -n 's/^state: //p' "$(section start)")
run_vmm "$TMP/small.out" "$TMP/small.err" --record-limit 32K "$KERNEL"
check_eq record_limit_too_small "$RC $(cat "$TMP/small.err")" \
	"2 vmm: bad --record-limit '32K': a size from 64K to 1T (e.g. 256M)"
run_vmm "$TMP/big.out" "$TMP/big.err" --record-limit 2T "$KERNEL"
check_eq record_limit_too_big "$RC $(cat "$TMP/big.err")" \
	"2 vmm: bad --record-limit '2T': a size from 64K to 1T (e.g. 256M)"

# --- the same from kmain without a limit: back before "count 10", then forward again --------
# (a replay does not print the guest's output again); the state after as
# many instructions as the limited log dropped is the start of that log
gdb_session console "$KERNEL" "$KERNEL" <<EOF2
break kmain
continue
delete
monitor record on
break choose_path
continue
echo @@ full\n
monitor record status
break count_loop
echo @@ back\n
reverse-continue
pv counter
pv last_tick
delete
reverse-continue
pv/x \$pc
monitor record status
echo @@ dropped\n
stepi ${lim_drop:-1}
source $TMP/state.py
echo @@ end\n
continue
continue
EOF2
vmm_end 5
all_in=$(status_num full instructions)
want_seq console_back back "Breakpoint 3, count_loop () at guest/kernel64.c:$l_loop" \
	'counter = 0' 'last_tick = -1' 'No more reverse-execution history.' "\$pc = $kmain" \
	"position: at the start, ${all_in:-?} instructions before the end"
check_eq record_limit_kept_the_newest "$((${lim_in:-0} + ${lim_drop:-0}))" "${all_in:-none}"
check_eq record_limit_start_state "$(sed -n 's/^state: //p' "$(section dropped)")" "${lim_state:-none}"
want_seq console_end end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
same_vout replay_prints_nothing_again "$TMP/ref1.out"
check_eq console_status "$VMM_RC" 0

# --- not recording: nothing to go back through ------------------------------------------
gdb_session norecord "$KERNEL" "$KERNEL" <<'EOF2'
break count_loop
continue
delete
try reverse-stepi
pv/x $pc
pv counter
monitor record status
monitor record off
EOF2
vmm_end 5
want_seq reverse_without_record - "vmm: nothing is recorded to go back through: 'monitor record on' first" \
	'No more reverse-execution history.' "\$pc = $count_loop" 'counter = 0' \
	'recording: off (monitor record on starts it; limit 256 MiB)' 'recording was off'
same_vout norecord_guest_output "$TMP/ref1.out"
check_eq norecord_status "$VMM_RC" 0

# --- changing the past: the log after it is dropped, the guest goes on with the new value --
gdb_session history "$KERNEL" "$KERNEL" <<'EOF2'
break kmain
continue
delete
monitor record on
break choose_path
continue
echo @@ full\n
monitor record status
break count_loop
reverse-continue
echo @@ past\n
monitor record status
set var counter = 1000
echo @@ changed\n
monitor record status
delete
break tick
continue
pv counter
pv last_tick
echo @@ undo\n
delete
break count_loop
reverse-continue
pv counter
reverse-stepi
pv/x $pc
pv counter
echo @@ end\n
delete
continue
continue
EOF2
vmm_end 5
h_all=$(status_num full instructions)
h_back=$(sed -n 's/^position: replaying, \([0-9]*\) instructions before the end$/\1/p' "$(section past)")
h_kept=$((${h_all:-0} - ${h_back:-0}))
want_seq history_changed_drops_the_rest changed "instructions: $h_kept in the log ($((h_kept + 1)) entries)" \
	'position: at the end (live), 0 instructions before the end' \
	"Breakpoint 4, tick (i=i@entry=0) at guest/kernel64.c:$l_tick" 'counter = 1001' 'last_tick = -1'
want_seq history_change_undone undo "Breakpoint 5, count_loop () at guest/kernel64.c:$l_loop" \
	'counter = 1000' "\$pc = $call_count" 'counter = 0'
want_seq history_end end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
check_eq history_changed_notice "$(grep -cxF 'vmm: history changed: the record log after this point is dropped' "$VERR")" 1
awk '{ print } $0 == "kernel64: count 10" { print "kernel64: count 1010" }' "$TMP/ref1.out" >"$TMP/ref_1010.out"
same_vout history_guest_goes_on_with_new_value "$TMP/ref_1010.out"
check_eq history_status "$VMM_RC" 0

# a register this time: count_loop's i (RBX) set to 8 in tick(2), so one more
# iteration (i = 9) follows and the loop counts 4
gdb_session histreg "$KERNEL" "$KERNEL" <<'EOF2'
break count_loop
continue
delete
monitor record on
break tick
continue
continue
continue
continue
continue
reverse-continue
reverse-continue
echo @@ past\n
pv i
set $rbx = 8
continue
pv counter
pv last_tick
delete
continue
continue
EOF2
vmm_end 5
want_seq history_register past 'i = 2' "Breakpoint 2, tick (i=i@entry=9) at guest/kernel64.c:$l_tick" 'counter = 4' \
	'last_tick = 2' 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
check_eq history_register_notice "$(grep -cxF 'vmm: history changed: the record log after this point is dropped' "$VERR")" 1
sed 's/^kernel64: count 10$/kernel64: count 4/' "$TMP/ref1.out" >"$TMP/ref_4.out"
same_vout history_register_guest_output "$TMP/ref_4.out"
check_eq histreg_status "$VMM_RC" 0

# --- two vCPUs: both recorded in turns, going back on thread 1 and forward again -------------
gdb_session smp "$KERNEL" "$KERNEL" --cpus 2 <<'EOF2'
break kmain
continue
delete
monitor record on
python
def ap_state():
    ticks = int(gdb.parse_and_eval("ap_ticks[1]"))
    gdb.execute("thread 2", to_string=True)
    s = (int(gdb.parse_and_eval("$pc")), int(gdb.parse_and_eval("$rsp")), ticks)
    gdb.execute("thread 1", to_string=True)
    return s
ap0 = ap_state()
end
echo @@ fwd\n
break count_loop
continue
python ap1 = ap_state(); print("vCPU 1 ran meanwhile:", ap1[2] > ap0[2])
echo @@ back\n
reverse-stepi
pv/x $pc
break level3
reverse-continue
pv/x $pc
pv watched
reverse-stepi
pv/x $pc
delete
reverse-continue
pv/x $pc
python print("vCPU 1 as at the start:", ap_state() == ap0)
echo @@ again\n
break count_loop
continue
python print("vCPU 1 as at count_loop:", ap_state() == ap1)
echo @@ end\n
delete
continue
continue
EOF2
vmm_end 5
want_seq smp_record fwd "Thread 1 \"vCPU 0\" hit Breakpoint 2, count_loop () at guest/kernel64.c:$l_loop" \
	'vCPU 1 ran meanwhile: True'
want_seq smp_reverse back "\$pc = $call_count" "Thread 1 \"vCPU 0\" hit Breakpoint 3, level3 (x=x@entry=4) at guest/kernel64.c:$l_level3" \
	"\$pc = $(sym level3)" 'watched = 1' "\$pc = $call_level3" 'No more reverse-execution history.' "\$pc = $kmain" \
	'vCPU 1 as at the start: True'
want_seq smp_replay again "Thread 1 \"vCPU 0\" hit Breakpoint 4, count_loop () at guest/kernel64.c:$l_loop" \
	'vCPU 1 as at count_loop: True'
want_seq smp_end end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
same_vout smp_guest_output "$TMP/ref2.out"
check_eq smp_status "$VMM_RC" 0

# --- recording while the guest builds its page tables: kmain maps a 1 GiB page by writing
# pdpt_high[511], at the same page offset as the PML4 entry its own walk reads (0xff8): on
# kvm_amd a walk that faults on read-only tables made KVM store the PDPTE into the PML4
# (a triple fault).  The tables (8 pages, with the CPU's accessed and dirty bits) must end
# as a plain run leaves them, go back to kmain's, and forward again to the same bytes.
tables_py='python
import hashlib
def tables():
    b = bytes(gdb.selected_inferior().read_memory(0xffffffff80009000, 0x8000))
    print("tables " + hashlib.sha1(b).hexdigest())
end'
gdb_session plain_tables "$KERNEL" "$KERNEL" <<EOF2
break count_loop
continue
$tables_py
python tables()
pv/x pdpt_high[511]
EOF2
vmm_end 5
plain_tables=$(sed -n 's/^tables //p' "$OUT")
plain_1g=$(grep -m1 '^pdpt_high\[511\] = ' "$OUT")	# 0xa3: accessed since
gdb_session tables "$KERNEL" "$KERNEL" <<EOF2
break kmain
continue
delete
$tables_py
python tables()
monitor record on
break count_loop
echo @@ recorded\n
continue
pv/x pdpt_high[511]
python tables()
delete
echo @@ back\n
reverse-continue
pv/x pdpt_high[511]
python tables()
echo @@ again\n
break count_loop
continue
pv/x pdpt_high[511]
python tables()
delete
continue
EOF2
vmm_end 5
kmain_tables=$(sed -n 's/^tables //p' "$OUT" | head -1)
if [ -n "$plain_tables" ] && [ -n "$kmain_tables" ] && [ -n "$plain_1g" ]; then
	want_seq tables_recorded recorded "Breakpoint 2, count_loop () at guest/kernel64.c:$l_loop" \
		"$plain_1g" "tables $plain_tables"
	want_seq tables_back back 'No more reverse-execution history.' 'pdpt_high[511] = 0x0' "tables $kmain_tables"
	want_seq tables_again again "Breakpoint 3, count_loop () at guest/kernel64.c:$l_loop" \
		"$plain_1g" "tables $plain_tables"
else
	fail tables_read "no table bytes read: plain [$plain_tables] [$plain_1g] kmain [$kmain_tables]"
fi
same_vout tables_guest_output "$TMP/ref1.out"
check_eq tables_status "$VMM_RC" 0

# --- a triple fault while recording: the page-table writes logged reach KVM ---------------
gdb_session fault "$KERNEL" "$KERNEL" <<'EOF2'
break kmain
continue
delete
monitor record on
break choose_path
continue
set var path = 2
delete
continue
pv/x $rip
pv/x $cr2
info threads
reverse-stepi
pv/x $pc
stepi
pv/x $pc
continue
EOF2
vmm_end 5
want_seq fault_while_recording - 'vmm: vCPU 0: triple fault (KVM_EXIT_SHUTDOWN); continuing ends the guest' \
	'Program received signal SIGSEGV, Segmentation fault.' "fault () at guest/kernel64.c:$l_fault" \
	"\$rip = $fault_insn"
if fault_state_kept; then
	want fault_cr2 - "\$cr2 = $(sym stack_guard)"
	want_re fault_thread_info - '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, triple fault\) .*'
else
	# KVM reset the vCPU (kvm_amd): recording resumed it at the faulting instruction
	want fault_state_as_resumed - "$FAULT_NOTE"
	want_re fault_thread_info - '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, triple fault, registers as last resumed\) .*'
fi
want_seq fault_back_and_forth - "\$pc = $say_ret" "\$pc = $fault_insn" '[Inferior 1 (Remote target) exited with code 06]'
check_eq fault_status "$VMM_RC" 6
grep -qx 'kernel64: faulting on stack_guard' "$VOUT" && ! grep -q 'no fault' "$VOUT" &&
	! grep -q 'history changed' "$VERR" && ok fault_output || fail fault_output "stdout $(tr '\n' '|' <"$VOUT") stderr $(tr '\n' '|' <"$VERR")"

# --- "monitor hold on": the log and its cursor survive a detach -----------------------------
gdb_session hold "$KERNEL" "$KERNEL" <<'EOF2'
break count_loop
continue
delete
monitor hold on
monitor record on
stepi 5
reverse-stepi 2
monitor record status
EOF2
want_seq hold_first - 'position: replaying, 2 instructions before the end' '[Inferior 1 (Remote target) detached]'
gdb_attach held "$KERNEL" <<'EOF2'
monitor record status
pv/x $pc
reverse-stepi 3
pv/x $pc
try reverse-stepi
monitor hold off
EOF2
vmm_end 5
want_seq hold_keeps_log - 'instructions: 5 in the log (5 entries)' 'position: replaying, 2 instructions before the end' \
	"\$pc = $(insn_addr count_loop 3)" "\$pc = $count_loop" 'No more reverse-execution history.'
check_eq hold_then_leave "$(grep -c 'gdb left: recording stopped' "$VERR")" 1
same_vout hold_guest_output "$TMP/ref1.out"
check_eq hold_status "$VMM_RC" 0

# --- real -> protected -> long recorded, and back: the far jumps load descriptors
# whose accessed bit the CPU sets, which KVM cannot do on read-only memory (the
# vmm runs such an instruction with RAM writable and compares); the registers
# at the start of the log are the boot state of real mode
BOOT=$GUESTS/boot16to64.elf
printf 'boot16to64: real\nboot16to64: protected\nboot16to64: long\n' >"$TMP/boot.ref"
if grep -q 'long mode itself: *yes' <("$VMM" --probe); then
gdb_session boot "" --mode real "$BOOT" <<EOF2
monitor record on
$(hbreak_or_break) *0x80c9
continue
echo @@ long\n
monitor arch
monitor record status
reverse-continue
echo @@ start\n
monitor arch
monitor record status
monitor regs
delete
continue
EOF2
vmm_end 5
want boot_recorded_to_long long 'vCPU 0: long mode (i386:x86-64)' 'position: at the end (live), 0 instructions before the end'
want_seq boot_back_to_real start 'vCPU 0: real mode (i8086)' 'position: at the start, '"$(status_num long instructions)"' instructions before the end' \
	'cr0  0x0000000060000010  ET NW CD' 'cs   0x0800 base 0x8000 16-bit'
same_vout boot_output_once "$TMP/boot.ref"
check_eq boot_status "$VMM_RC" 0
else
	skip_checks "this KVM refuses a guest entering long mode itself" \
		boot_recorded_to_long boot_back_to_real boot_output_once boot_status
fi

# --- a debugger's write of an SSE register at the end of the log is logged
# (the FPU state before and after): going back undoes it, forward redoes it
gdb_session fpu "$KERNEL" "$KERNEL" <<'EOF2'
break count_loop
continue
delete
monitor record on
set $xmm0.v4_int32 = {1, 2, 3, 4}
stepi
echo @@ fpu\n
pv $xmm0.v4_int32
reverse-stepi
pv $xmm0.v4_int32
try reverse-stepi
pv $xmm0.v4_int32
stepi
pv $xmm0.v4_int32
EOF2
vmm_end 5
want_seq fpu_write_undone_and_redone fpu '$xmm0.v4_int32 = {1, 2, 3, 4}' '$xmm0.v4_int32 = {1, 2, 3, 4}' \
	'No more reverse-execution history.' '$xmm0.v4_int32 = {0, 0, 0, 0}' '$xmm0.v4_int32 = {1, 2, 3, 4}'
