#!/usr/bin/env bash
# gdb against the vmm: rules of x86 KVM that a debugger runs into, each
# checked where it bites (ordinary KVM: kvm_amd, kvm_intel; the nested rig):
# - a single step is armed for the RIP of KVM_SET_GUEST_DEBUG: after a RIP
#   written by gdb, a breakpoint's rewind, a replay, or KVM's own emulator
#   (a write to the read-only RAM of recording), a step still steps one
#   instruction; breakpoints hit again and again, on one vCPU and on four;
# - KVM_SET_FPU skips MXCSR and leaves XSTATE_BV alone: SSE registers and
#   MXCSR written before the vCPU first runs still reach it;
# - kvm_amd resets a vCPU at a triple fault: the vmm says so and shows the
#   registers it last resumed the vCPU with (vmm --probe tells which KVM
#   keeps what).
. "$(dirname "$0")/gdb/lib.sh"
plan 18
gdb_preflight gdb_kvm_rules

# --- hello64 held at entry: the FPU state, then steps after register writes -----
gdb_session entry "$GUESTS/hello64.elf" "$GUESTS/hello64.bin" <<'EOF2'
echo @@ fpu\n
pv/x $mxcsr
pv/x $fctrl
set $xmm1.v2_int64[0] = 0x0123456789abcdef
set $mxcsr = 0x1fa0
stepi
pv/x $pc
pv/x $xmm1.v2_int64[0]
pv/x $mxcsr
echo @@ pc\n
stepi
pv/x $pc
set $pc = 1
stepi
pv/x $pc
echo @@ reg\n
set $rax = 7
stepi
pv/x $pc
pv/x $rax
echo @@ record\n
monitor record on
stepi
pv/x $pc
stepi
pv/x $pc
stepi
pv/x $pc
reverse-stepi
reverse-stepi
pv/x $pc
stepi 3
pv/x $pc
stepi
pv/x $pc
monitor record off
echo @@ end\n
continue
continue
EOF2
vmm_end 5
want_seq fpu_initial_state fpu '$mxcsr = 0x1f80' '$fctrl = 0x37f'
want_seq fpu_write_before_first_run fpu '$pc = 0x1' '$xmm1.v2_int64[0] = 0x123456789abcdef' '$mxcsr = 0x1fa0'
want_seq step_after_pc_write pc '$pc = 0x4' '$pc = 0x4'
want_seq step_after_register_write reg '$pc = 0xb' '$rax = 0x7'
# call, push %rbp, mov: each writes RAM (read-only while recording) or follows a write
want_seq record_steps_after_writes record '$pc = 0x38' '$pc = 0x39' '$pc = 0x3c' '$pc = 0x38' \
	'$pc = 0x41' '$pc = 0x47'
want guest_ends end '[Inferior 1 (Remote target) exited normally]'
check_eq guest_output "$(cat "$VOUT")" 'Hello, world!'

# --- kernel64: a breakpoint hit again and again, ignore counts, steps off it -------
# Breakpoints in kernel64's higher half are set once it is mapped (after the
# kernel loads its CR3): before, they would take a debug register, and those
# never fire on some KVMs (the nested rig's).
mapped=$(insn_after _start 'mov +%r8,%cr3')
l_tick=$(line_of kernel64.c 'last_tick = i;')
gdb_session ticks "$KERNEL" "$KERNEL" <<EOF2
break *$mapped
continue
delete
break tick
echo @@ hits\n
continue
pv i
continue
pv i
continue
pv i
echo @@ ignore\n
ignore 2 2
continue
pv i
pv counter
echo @@ stepoff\n
stepi
pv/x \$pc
pv last_tick
continue
pv i
echo @@ end\n
delete
continue
continue
EOF2
vmm_end 5
want_seq break_hits_each_time hits "Breakpoint 2, tick (i=i@entry=0) at guest/kernel64.c:$l_tick" 'i = 0' \
	"Breakpoint 2, tick (i=i@entry=1) at guest/kernel64.c:$l_tick" 'i = 1' \
	"Breakpoint 2, tick (i=i@entry=2) at guest/kernel64.c:$l_tick" 'i = 2'
want_seq break_ignore_count ignore "Breakpoint 2, tick (i=i@entry=5) at guest/kernel64.c:$l_tick" 'i = 5' 'counter = 6'
want_seq break_step_off stepoff "\$pc = $(insn_addr tick 1)" 'last_tick = 5' \
	"Breakpoint 2, tick (i=i@entry=6) at guest/kernel64.c:$l_tick" 'i = 6'
want break_guest_ends end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'

# --- smp64 on four vCPUs: a breakpoint each one hits, stepped over one by one ------
SMP=$GUESTS/smp64.elf
GDB_TIMEOUT=120 gdb_session smp "$SMP" --cpus 4 "$SMP" <<'EOF2'
break percpu_work
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
delete
continue
EOF2
vmm_end 5
check_eq smp_four_hits_four_threads "$(grep '^hit by ' "$OUT" | sort -u | wc -l)" 4
want smp_then_exit - '[Inferior 1 (Remote target) exited with code 0125]'

# --- a triple fault, stepped onto: the registers of the faulting instruction ------
fault_insn=$(objdump -d --no-show-raw-insn --disassemble=fault "$KERNEL" |
	awk '/<stack_guard>$/ { sub(":", "", $1); sub(/^ */, "", $1); print "0x" $1; exit }')
gdb_session fault "$KERNEL" "$KERNEL" --arg 2 <<EOF2
break *$mapped
continue
break *$fault_insn
continue
stepi
pv/x \$rip
pv/x \$cr2
info threads
monitor regs
continue
EOF2
vmm_end 5
want_seq fault_stop - 'vmm: vCPU 0: triple fault (KVM_EXIT_SHUTDOWN); continuing ends the guest' \
	'Program received signal SIGSEGV, Segmentation fault.' "\$rip = $fault_insn"
if ! fault_state_kept; then
	# the stop's message, then 'monitor regs'
	want_seq fault_state_lost_said - "$FAULT_NOTE" "$FAULT_NOTE"
	want_re fault_thread_info - '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, triple fault, registers as last resumed\) .*'
	grep -qxF "vmm: vCPU 0: ${FAULT_NOTE#vmm: }" "$VERR" &&
		ok fault_state_lost_stderr || fail fault_state_lost_stderr "$(tr '\n' '|' <"$VERR")"
else
	want fault_cr2 - "\$cr2 = $(sym stack_guard)"
	want_re fault_thread_info - '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, triple fault\) .*'
	want_not fault_no_note - 'reset the vCPU'
fi
want fault_then_exit - '[Inferior 1 (Remote target) exited with code 06]'
