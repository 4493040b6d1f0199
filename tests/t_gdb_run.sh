#!/usr/bin/env bash
# gdb against the vmm: run control.  stepi by known instruction lengths,
# next/step/finish/advance in kernel64's C code, Ctrl-C on a spinning guest,
# and how a guest ends under gdb: HLT (a stop, then exit), the port-0xF4
# exit (with a path and code set from gdb), a triple fault (SIGSEGV with
# the registers of the faulting instruction, or where KVM resets the vCPU
# as kvm_amd does, a note and those it was resumed with); 0xE9 output meanwhile.
. "$(dirname "$0")/gdb/lib.sh"
plan 25
gdb_preflight gdb_run

# --- stepping -------------------------------------------------------------------
l_level1=$(($(line_of kernel64.c 'unsigned long level1(unsigned long x)') + 1))
l_kmain_if=$(line_of kernel64.c 'if (level1(1) != 3 * 4 + 0x1234abcd + 2)')
l_count=$(line_of kernel64.c '	count_loop();')
l_saynum=$(line_of kernel64.c 'say_num("count ", counter);')
l_choose=$(($(line_of kernel64.c 'void choose_path(void)') + 1))
l_saynum_body=$(($(line_of kernel64.c 'static void say_num(const char *s, unsigned long v)') + 2))

gdb_session step "$KERNEL" "$KERNEL" <<'EOF2'
echo @@ stepi\n
pv/x $pc
stepi
pv/x $pc
stepi
pv/x $pc
stepi
pv/x $pc
stepi 7
pv/x $pc
pv/x $r15
echo @@ finish\n
break level1
continue
finish
echo @@ next\n
next
next
pv counter
echo @@ step\n
step
finish
echo @@ advance\n
advance choose_path
pv path
set var path = 3
set var exit_code = 5
continue
EOF2
vmm_end 5
want_seq stepi_by_instruction stepi '$pc = 0x100000' "\$pc = $(insn_addr _start 1)" "\$pc = $(insn_addr _start 2)" \
	"\$pc = $(insn_addr _start 3)" "\$pc = $(insn_addr _start 10)"
want stepi_executes stepi '$r15 = 0xffffffff7ff00000'
want_seq finish_returns_value finish "Breakpoint 1, level1 (x=x@entry=1) at guest/kernel64.c:$l_level1" \
	"$(insn_after kmain 'call.*<level1>') in kmain (cpu=<optimized out>, arg=<optimized out>, ncpus=1) at guest/kernel64.c:$l_kmain_if" \
	'Value returned is $1 = 305441755'
want_re next_over_calls next "^$l_count	+count_loop\\(\\);\$" "^$l_saynum	+say_num\\(\"count \", counter\\);\$" '^counter = 10$'
want_re step_into_call step "^say_num \\(s=s@entry=0x[0-9a-f]+ \"count \", v=10\\) at guest/kernel64.c:$l_saynum_body\$"
want step_finish step "kmain (cpu=<optimized out>, arg=<optimized out>, ncpus=1) at guest/kernel64.c:$(line_of kernel64.c 'watched = 3;')"
want_seq advance advance "choose_path () at guest/kernel64.c:$l_choose" 'path = 0' \
	'[Inferior 1 (Remote target) exited with code 013]'
check_eq exit_status_from_gdb_values "$VMM_RC" 11
grep -qx 'kernel64: exit 5' "$VOUT" && grep -qx 'kernel64: count 10' "$VOUT" && ok e9_output_while_attached ||
	fail e9_output_while_attached "vmm stdout: $(tr '\n' '|' <"$VOUT")"

# --- HLT: a stop with memory readable, then the end -------------------------------
gdb_session halt "$GUESTS/hello64.elf" "$GUESTS/hello64.bin" <<'EOF2'
continue
x/wx 0x400
info threads
continue
EOF2
vmm_end 5
want_seq halt_stop - 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'Program received signal SIGTRAP, Trace/breakpoint trap.' '0x400:	0x0000002a'
want_re halt_thread_info - '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, halted\) .*'
want halt_then_exit - '[Inferior 1 (Remote target) exited normally]'
check_eq halt_status "$VMM_RC" 0
check_eq halt_e9_output "$(cat "$VOUT")" 'Hello, world!'

# --- Ctrl-C on a spinning guest ----------------------------------------------------
gdb_session intr "$KERNEL" "$KERNEL" --arg 1 <<'EOF2'
interrupt-after 1
continue
python s1 = int(gdb.parse_and_eval("spins"))
python print("spins positive:", s1 > 0)
info threads
interrupt-after 0.5
continue
python s2 = int(gdb.parse_and_eval("spins"))
python print("spins increased:", s2 > s1)
kill
EOF2
vmm_end 3
want_seq interrupt_stops_guest - 'Program received signal SIGINT, Interrupt.' 'spins positive: True'
want_re interrupt_where - '^(0x[0-9a-f]+ in )?spin \(\) at guest/kernel64.c:[0-9]+$' \
	'^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, interrupted\) .*'
want interrupt_again - 'spins increased: True'
check_eq kill_status_14 "$VMM_RC" 14
grep -qx 'kernel64: path 1' "$VOUT" && ok interrupt_e9_output || fail interrupt_e9_output "$(tr '\n' '|' <"$VOUT")"

# --- triple fault --------------------------------------------------------------------
fault_insn=$(objdump -d --no-show-raw-insn --disassemble=fault "$KERNEL" |
	awk '/<stack_guard>$/ { sub(":", "", $1); sub(/^ */, "", $1); print "0x" $1; exit }')
gdb_session fault "$KERNEL" "$KERNEL" --arg 2 <<'EOF2'
continue
pv/x $rip
pv/x $cr2
pv/x $cr3
info threads
continue
EOF2
vmm_end 5
want_seq triple_fault_stop - 'vmm: vCPU 0: triple fault (KVM_EXIT_SHUTDOWN); continuing ends the guest' \
	'Program received signal SIGSEGV, Segmentation fault.'
if fault_state_kept; then
	want triple_fault_location - "fault () at guest/kernel64.c:$(line_of kernel64.c '(void)*(volatile uint8_t *)stack_guard;')"
	want triple_fault_registers - "\$rip = $fault_insn" "\$cr2 = $(sym stack_guard)" "\$cr3 = $(hex "$(sym pml4) - 0xffffffff7ff00000")"
	want_re triple_fault_thread_info - '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, triple fault\) .*'
else
	# KVM reset the vCPU (kvm_amd): the registers it was resumed with at _start, said so
	skip triple_fault_location "KVM reset the vCPU at the fault: where it faulted is lost"
	want triple_fault_registers_as_resumed - "$FAULT_NOTE" '$rip = 0x100000'
	want_re triple_fault_thread_info - '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, triple fault, registers as last resumed\) .*'
fi
want triple_fault_then_exit - '[Inferior 1 (Remote target) exited with code 06]'
check_eq triple_fault_status "$VMM_RC" 6
