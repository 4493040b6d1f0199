#!/usr/bin/env bash
# gdb in non-stop mode against smp64 --arg 8 on 4 vCPUs (laps forever:
# lap(cpu) counts laps[cpu], then spins[cpu] climbs).
#
# gdb runs interactively, its commands fed through a pipe with pauses, so
# that it takes the stop notifications between them as a user's gdb does
# (gdb -batch would not look at them until a command waits): "set non-stop
# on" + "target remote", "continue -a &" with a breakpoint on lap hit by
# every vCPU (one report each), one vCPU continued in the background while
# another single-steps, "interrupt" of the running one, the console kept
# for "monitor console read", detach.
. "$(dirname "$0")/gdb/lib.sh"
plan 11
gdb_preflight gdb_nonstop_all

SMP=$GUESTS/smp64.elf
# val EXPR: a gdb command printing "V=value" (the prompt may come before it)
val() { echo "python print('V=%d' % int(gdb.parse_and_eval('$1')))"; }
pause() { sleep "$(awk -v s="$1" -v k="$TIME_SCALE" 'BEGIN { print s * k }')"; }
port=$(free_port)
GDB_PORT=$port
start_vmm --gdb "127.0.0.1:$port" --cpus 4 --arg 8 "$SMP"
wait_listen || { fail gdb_nonstop "vmm did not listen: $(head -c 300 "$TMP/vmm.err")"; exit 0; }
SESSION=nonstop OUT=$TMP/nonstop.out VOUT=$TMP/nonstop.vmm.out VERR=$TMP/nonstop.vmm.err
{
	printf '%s\n' "set pagination off" "set width 0" "set confirm off" "set non-stop on" \
		"target remote 127.0.0.1:$port" 'echo \n@@ threads\n' "info threads" "monitor console gdb" "break lap" \
		"continue -a &"
	pause 4
	printf '%s\n' 'echo \n@@ hits\n' "info threads"
	printf '%s\n' "delete" "thread 1" "continue &"
	pause 1
	printf '%s\n' "thread 2" 'echo \n@@ step\n' "$(val spins[0])" "stepi" "stepi" "stepi" \
		"$(val spins[0])" "$(val laps[1])"
	pause 1
	printf '%s\n' "$(val laps[1])" "thread 1" "interrupt"
	pause 2
	printf '%s\n' 'echo \n@@ interrupted\n' "info threads" 'echo \n@@ console\n' "monitor console read" \
		"detach" 'echo \n@@ end\n' "quit"
} | timeout -k 2 "$(tscale 60)" gdb -nx -q "$SMP" >"$OUT" 2>&1
GDB_RC=$?

# Connected in non-stop: four threads, thread 1 stopped at its entry, the
# others running (gdb 13 takes one stopped thread at a non-stop connect).
want_re nonstop_connects threads '\* 1 +Thread 1 "vCPU 0" .*_start \(cpu=0.*' '  4 +Thread 4 "vCPU 3" .*\(running\)'
want_not nonstop_accepted - 'does not support non-stop'
# Each vCPU hit the breakpoint and was reported on its own.
want_re nonstop_each_vcpu_hits - \
	'Thread 1 "vCPU 0" hit Breakpoint 1, lap \(cpu=(cpu@entry=)?0\) at .*' \
	'Thread 2 "vCPU 1" hit Breakpoint 1, lap \(cpu=(cpu@entry=)?1\) at .*' \
	'Thread 3 "vCPU 2" hit Breakpoint 1, lap \(cpu=(cpu@entry=)?2\) at .*' \
	'Thread 4 "vCPU 3" hit Breakpoint 1, lap \(cpu=(cpu@entry=)?3\) at .*'
# Stepping thread 2 while thread 1 runs: spins[0] goes on meanwhile, and
# thread 2's own count stays (it is stopped).
if f=$(section step); then
	mapfile -t v < <(grep -oE 'V=[0-9]+' "$f" | cut -d= -f2)
	if [ "${#v[@]}" -ge 4 ] && [ "${v[1]}" -gt "${v[0]}" ] && [ "${v[2]}" = "${v[3]}" ]; then
		ok nonstop_step_one_while_other_runs
	else
		fail nonstop_step_one_while_other_runs "spins[0], laps[1], laps[1]: ${v[*]}"
		show_out "$f"
	fi
else
	no_section nonstop_step_one_while_other_runs step
fi
want_re nonstop_stepi_reports_one step '(\(gdb\) )?0x[0-9a-f]+\s+183\s+laps\[cpu\] = laps\[cpu\] \+ 1;'
# interrupt stops the running thread 1 only.
want_re nonstop_interrupt_stops_thread_1 - 'Thread 1 "vCPU 0" stopped\.'
want_not nonstop_no_o_packets_error - 'Unexpected|Protocol error|Remote failure|assertion'
# The guest's lines, kept for gdb (non-stop has no O packets), not on stdout.
want_re nonstop_console_kept console '.*smp64: cpu 0 arrived' '.*smp64: cpu 3 arrived'
want_re nonstop_detached - '\[Inferior 1 \(Remote target\) detached\]'
vmm_end 1
check_eq nonstop_guest_runs_on_after_detach "$VMM_RC" running
check_eq nonstop_console_not_on_stdout "$(grep -c arrived "$VOUT")" 0
exit 0
