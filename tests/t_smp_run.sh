#!/usr/bin/env bash
# tests/t_smp_run.sh - several vCPUs without a debugger (vmm/run.c), with
# smp64: every vCPU runs and prints its line once, the total, and how the
# vmm ends: a port-0xF4 exit while the others have halted or still run, all
# halted, one vCPU's triple fault while another spins; 0xE9 output of
# several vCPUs at once keeps each OUT whole.
. "$(dirname "$0")/lib.sh"
plan 13

SMP=$GUESTS/smp64
if ! have_kvm; then skip_rest smp_run "no usable /dev/kvm on this machine"; fi

# arrived_lines N: "smp64: cpu I arrived" for I in 0..N-1, sorted
arrived_lines() { local i; for ((i = 0; i < $1; i++)); do echo "smp64: cpu $i arrived"; done | sort; }

# want_smp NAME STATUS N TOTAL VMM-ARGS...: stdout holds exactly one arrived
# line per vCPU (any order), then TOTAL as the last line ("" for none).
want_smp() {
	local name=$1 status=$2 n=$3 total=$4; shift 4
	run_vmm "$TMP/$name.out" "$TMP/$name.err" "$@"
	local got want
	got=$(grep -v '^[0-9][0-9]\.$' "$TMP/$name.out" | grep -v '^smp64: [0-9]* cpus' | sort)
	want=$(arrived_lines "$n")
	if grep -qE 'Sanitizer|runtime error:' "$TMP/$name.err"; then
		fail "$name" "$(grep -m1 -E 'Sanitizer|runtime error:' "$TMP/$name.err")"
	elif [ "$RC" != "$status" ]; then
		fail "$name" "vmm $* exited $RC, want $status; stdout: $(head -c 300 "$TMP/$name.out" | tr '\n' '|') stderr: $(head -c 300 "$TMP/$name.err")"
	elif [ "$got" != "$want" ]; then
		fail "$name" "lines: $(tr '\n' '|' <<<"$got"), want one per vCPU: $(tr '\n' '|' <<<"$want")"
	elif [ -n "$total" ] && [ "$(tail -n 1 "$TMP/$name.out")" != "$total" ]; then
		fail "$name" "last line '$(tail -n 1 "$TMP/$name.out")', want '$total'"
	elif [ -z "$total" ] && grep -q 'cpus, counter' "$TMP/$name.out"; then
		fail "$name" "a total printed: $(grep 'cpus, counter' "$TMP/$name.out")"
	else
		ok "$name"
	fi
}

want_smp four_cpus_exit 85 4 'smp64: 4 cpus, counter 4' --cpus 4 "$SMP.bin"
want_smp four_cpus_elf 85 4 'smp64: 4 cpus, counter 4' --cpus 4 "$SMP.elf"
want_smp one_cpu 85 1 'smp64: 1 cpus, counter 1' "$SMP.bin"
want_smp two_cpus 85 2 'smp64: 2 cpus, counter 2' --cpus 2 "$SMP.bin"
want_smp sixty_four_cpus 85 64 'smp64: 64 cpus, counter 64' --cpus 64 "$SMP.bin"
want_smp all_halted_status_0 0 4 'smp64: 4 cpus, counter 4' --cpus 4 --arg 2 "$SMP.bin"
want_smp exit_while_others_spin 85 4 'smp64: 4 cpus, counter 4' --cpus 4 --arg 5 "$SMP.bin"
grep -q 'vmm: vCPU' "$TMP/exit_while_others_spin.err" &&
	fail exit_while_others_spin_quiet "stderr: $(head -c 300 "$TMP/exit_while_others_spin.err")" ||
	ok exit_while_others_spin_quiet

# A triple fault of the last vCPU while vCPU 0 spins waiting for it.
want_smp fault_ends_all 6 4 '' --cpus 4 --arg 3 "$SMP.bin"
if grep -q '^vmm: vCPU 3 stopped: triple fault (KVM_EXIT_SHUTDOWN)$' "$TMP/fault_ends_all.err" &&
   { grep -q 'CR2=0x8000001000 ' "$TMP/fault_ends_all.err" ||
     { ! fault_state_kept && grep -q 'the faulting state is lost' "$TMP/fault_ends_all.err"; }; } &&
   [ "$(grep -c 'stopped:' "$TMP/fault_ends_all.err")" = 1 ]; then
	ok fault_report_names_vcpu
else
	fail fault_report_names_vcpu "stderr: $(head -c 400 "$TMP/fault_ends_all.err" | tr '\n' '|')"
fi

# Unlocked 4-byte OUTs from four vCPUs at once: each OUT arrives whole.
want_smp chatter 85 4 'smp64: 4 cpus, counter 4' --cpus 4 --arg 4 "$SMP.bin"
torn=$(grep -v -E '^([0-9][0-9]\.|smp64: .*)$' "$TMP/chatter.out" | head -3 | tr '\n' '|')
counts=$(grep -E '^[0-9][0-9]\.$' "$TMP/chatter.out" | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
if [ -z "$torn" ] && [ "$counts" = "00.=40 01.=40 02.=40 03.=40 " ]; then
	ok chatter_outs_whole
else
	fail chatter_outs_whole "torn lines: [$torn], counts: $counts"
fi

# Many rounds: a lost kick or a lost halt would hang or lose a line.
bad=""
for i in $(seq 20); do
	run_vmm "$TMP/r.out" "$TMP/r.err" --cpus 4 --arg $((i % 2 ? 5 : 0)) "$SMP.bin"
	[ "$RC" = 85 ] && [ "$(grep -c arrived "$TMP/r.out")" = 4 ] && [ ! -s "$TMP/r.err" ] ||
		bad+=" round $i: status $RC $(head -c 200 "$TMP/r.err")"
done
[ -z "$bad" ] && ok twenty_rounds || fail twenty_rounds "$bad"
